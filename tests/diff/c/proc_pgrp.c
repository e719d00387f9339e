/* Process groups and sessions (in children, since the first process is a
 * group and session leader under elfuse but not natively): setpgid, getpgid,
 * setsid, getsid, their errors; kill(0, sig) and kill(-pgid, sig) reach the
 * whole group and only it; killpg. */
#include "proc.h"

static volatile int got;
static void on_usr1(int s) { got |= s == SIGUSR1 ? 1 : 2; }

/* member forks a child that joins pgid (0 = its own new group), reports
 * SIGUSR1 deliveries by its exit status after SIGTERM. */
static pid_t member(pid_t pgid, int ready_fd)
{
	pid_t p = xfork();
	if (p == 0) {
		set_handler(SIGUSR1, on_usr1, 0);
		set_handler(SIGUSR2, on_usr1, 0);
		setpgid(0, pgid);
		if (write(ready_fd, "r", 1) != 1)
			_exit(90);
		mask_sig(SIG_BLOCK, SIGTERM);
		sigset_t w;
		sigemptyset(&w);
		sigaddset(&w, SIGTERM);
		int sig;
		sigwait(&w, &sig);
		_exit(got);
	}
	return p;
}

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);

	pid_t p = xfork();
	if (p == 0) {
		/* A fresh child: not a leader of anything. */
		pid_t me = getpid(), pg = getpgid(0), sid = getsid(0);
		check(pg != me && sid != me, "child starts in its parent's group and session");
		check(getpgrp() == pg && getpgid(me) == pg, "getpgrp == getpgid(0) == getpgid(self)");
		check(getsid(getppid()) == sid, "same session as the parent");
		expect_ok(setpgid(0, 0), "setpgid(0, 0)");
		check(getpgid(0) == me, "now leader of its own group");
		expect_err(setsid(), EPERM, "setsid as a group leader");
		expect_ok(setpgid(0, pg), "setpgid back to the parent's group");
		pid_t s = setsid();
		check(s == me && getsid(0) == me && getpgid(0) == me, "setsid: new session and group led by the caller");
		expect_err(setpgid(0, pg), EPERM, "setpgid into a group of another session");
		expect_err(setsid(), EPERM, "setsid again");
		expect_err(getpgid(0x3ffffff0), ESRCH, "getpgid of a missing pid");
		expect_err(getsid(0x3ffffff0), ESRCH, "getsid of a missing pid");
		expect_err(setpgid(0, -1), EINVAL, "setpgid negative pgid");
		expect_err(setpgid(0x3ffffff0, 0), ESRCH, "setpgid of a non-child");
		/* A grandchild in the new session. */
		pid_t g = xfork();
		if (g == 0) {
			check(getsid(0) == me && getpgid(0) == me, "grandchild inherits session and group");
			expect_err(setpgid(0, 0x3ffffff0), EPERM, "setpgid to a group that does not exist");
			child_exit(0);
		}
		expect_status(g, "exit 0", "grandchild");
		/* setpgid on a child that has exec'd: EACCES. */
		int fds[2];
		if (pipe(fds) < 0)
			_exit(91);
		g = xfork();
		if (g == 0) {
			close(fds[0]);
			fcntl(fds[1], F_SETFD, FD_CLOEXEC);
			char *args[] = {"sleep", "1", NULL};
			char *env[] = {NULL};
			execve("/bin/busybox", args, env);
			_exit(127);
		}
		close(fds[1]);
		char c;
		check(read(fds[0], &c, 1) == 0, "child exec'd (cloexec pipe closed)");
		expect_err(setpgid(g, g), EACCES, "setpgid on a child after its exec");
		kill(g, SIGKILL);
		expect_status(g, "signal SIGKILL", "exec'd child");
		child_exit(0);
	}
	expect_status(p, "exit 0", "session child");

	/* kill(0) and kill(-pgid) from inside a group: a leader L in a new group
	 * with two member children; L blocks SIGTERM and reaps its members. */
	int rd[2];
	expect_ok(pipe(rd), "ready pipe");
	p = xfork();
	if (p == 0) {
		setpgid(0, 0);
		set_handler(SIGUSR1, on_usr1, 0);
		set_handler(SIGUSR2, on_usr1, 0);
		mask_sig(SIG_BLOCK, SIGTERM);
		pid_t m1 = member(getpid(), rd[1]);
		pid_t m2 = member(getpid(), rd[1]);
		char c;
		for (int i = 0; i < 2; i++)
			if (read(rd[0], &c, 1) != 1)
				_exit(92);
		check(getpgid(m1) == getpid() && getpgid(m2) == getpid(), "members joined the leader's group");
		expect_ok(kill(0, SIGUSR1), "kill(0, SIGUSR1) from the leader");
		check(got == 1, "the sender itself got it");
		expect_ok(killpg(getpid(), SIGUSR2), "killpg(own group, SIGUSR2)");
		check(got == 3, "killpg reaches the sender too");
		expect_ok(kill(-getpid(), SIGTERM), "kill(-own pgid, SIGTERM) with SIGTERM blocked here");
		expect_status(m1, "exit 3", "member 1 saw SIGUSR1 and SIGUSR2, then SIGTERM");
		expect_status(m2, "exit 3", "member 2 saw SIGUSR1 and SIGUSR2, then SIGTERM");
		sigset_t pend;
		sigpending(&pend);
		check(sigismember(&pend, SIGTERM), "leader's own SIGTERM pending");
		child_exit(0);
	}
	expect_status(p, "exit 0", "group leader child");

	/* kill(-pgid) from outside the group, sparing us and an outsider. */
	pid_t l = xfork();
	if (l == 0) {
		setpgid(0, 0);
		for (;;)
			pause();
	}
	setpgid(l, l);
	pid_t m = xfork();
	if (m == 0) {
		setpgid(0, l);
		for (;;)
			pause();
	}
	setpgid(m, l);
	pid_t outsider = xfork();
	if (outsider == 0) {
		for (;;)
			pause();
	}
	expect_ok(kill(-l, SIGTERM), "kill(-pgid, SIGTERM) from outside");
	expect_status(l, "signal SIGTERM", "group leader");
	expect_status(m, "signal SIGTERM", "group member");
	int st;
	check(waitpid(outsider, &st, WNOHANG) == 0, "outsider untouched");
	kill(outsider, SIGKILL);
	expect_status(outsider, "signal SIGKILL", "outsider");
	expect_err(kill(-l, SIGTERM), ESRCH, "kill(-pgid) of an empty group");
	return finish();
}
