/* waitid: P_PID, P_PGID, P_ALL; WEXITED, WSTOPPED (WUNTRACED), WCONTINUED,
 * WNOHANG, WNOWAIT; the siginfo it fills; EINVAL and ECHILD. */
#include "proc.h"

static const char *cld(int c)
{
	switch (c) {
	case CLD_EXITED: return "CLD_EXITED";
	case CLD_KILLED: return "CLD_KILLED";
	case CLD_DUMPED: return "CLD_DUMPED";
	case CLD_STOPPED: return "CLD_STOPPED";
	case CLD_CONTINUED: return "CLD_CONTINUED";
	default: return "?";
	}
}

static pid_t spawn_exit(int code, int delay_ms)
{
	pid_t p = xfork();
	if (p == 0) {
		sleep_ms(delay_ms);
		_exit(code);
	}
	return p;
}

static pid_t spawn_sleeper(void)
{
	pid_t p = xfork();
	if (p == 0) {
		for (;;)
			pause();
	}
	return p;
}

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	siginfo_t si;

	pid_t p = spawn_exit(9, 0);
	memset(&si, 0, sizeof si);
	expect_ok(waitid(P_PID, p, &si, WEXITED), "waitid P_PID WEXITED");
	check(si.si_pid == p && si.si_signo == SIGCHLD && si.si_code == CLD_EXITED && si.si_status == 9 && si.si_uid == getuid(),
	      "siginfo: SIGCHLD %s status %d, si_pid is the child", cld(si.si_code), si.si_status);

	p = spawn_sleeper();
	memset(&si, 0xff, sizeof si);
	expect_ok(waitid(P_PID, p, &si, WEXITED | WNOHANG), "waitid WNOHANG on a running child");
	check(si.si_pid == 0, "WNOHANG with nothing to report clears si_pid");
	kill(p, SIGKILL);
	memset(&si, 0, sizeof si);
	expect_ok(waitid(P_PID, p, &si, WEXITED | WNOWAIT), "waitid WNOWAIT");
	check(si.si_code == CLD_KILLED && si.si_status == SIGKILL, "WNOWAIT: %s %s", cld(si.si_code), signame(si.si_status));
	memset(&si, 0, sizeof si);
	expect_ok(waitid(P_PID, p, &si, WEXITED), "waitid again after WNOWAIT");
	check(si.si_pid == p && si.si_code == CLD_KILLED, "the zombie was still there");
	expect_err(waitid(P_PID, p, &si, WEXITED), ECHILD, "third waitid: reaped");

	/* Stop and continue with waitid. */
	p = spawn_sleeper();
	kill(p, SIGSTOP);
	memset(&si, 0, sizeof si);
	expect_ok(waitid(P_PID, p, &si, WSTOPPED), "waitid WSTOPPED");
	check(si.si_code == CLD_STOPPED && si.si_status == SIGSTOP, "stopped: %s %s", cld(si.si_code), signame(si.si_status));
	memset(&si, 0, sizeof si);
	expect_ok(waitid(P_PID, p, &si, WSTOPPED | WNOHANG), "second WSTOPPED");
	check(si.si_pid == 0, "a stop is reported once");
	kill(p, SIGCONT);
	memset(&si, 0, sizeof si);
	expect_ok(waitid(P_PID, p, &si, WCONTINUED), "waitid WCONTINUED");
	check(si.si_code == CLD_CONTINUED && si.si_status == SIGCONT, "continued: %s %s", cld(si.si_code), signame(si.si_status));
	kill(p, SIGTERM);
	memset(&si, 0, sizeof si);
	expect_ok(waitid(P_ALL, 0, &si, WEXITED), "waitid P_ALL");
	check(si.si_pid == p && si.si_code == CLD_KILLED && si.si_status == SIGTERM, "P_ALL got the killed child: %s %s", cld(si.si_code), signame(si.si_status));

	/* P_PGID: two children in a new group, one outside. */
	pid_t a = spawn_exit(1, 50);
	setpgid(a, a);
	pid_t b = xfork();
	if (b == 0) {
		setpgid(0, a);
		sleep_ms(80);
		_exit(2);
	}
	setpgid(b, a);
	pid_t c = spawn_exit(3, 10);
	check(getpgid(a) == a && getpgid(b) == a && getpgid(c) == getpgid(0), "groups as arranged");
	int mask = 0;
	for (int i = 0; i < 2; i++) {
		memset(&si, 0, sizeof si);
		if (waitid(P_PGID, a, &si, WEXITED) == 0)
			mask |= si.si_pid == a ? 1 : si.si_pid == b ? 2 : 4;
	}
	check(mask == 3, "P_PGID reaped exactly the two group members (%d)", mask);
	expect_err(waitid(P_PGID, a, &si, WEXITED), ECHILD, "P_PGID with the group gone");
	memset(&si, 0, sizeof si);
	expect_ok(waitid(P_PGID, 0, &si, WEXITED), "P_PGID 0 = own group");
	check(si.si_pid == c && si.si_status == 3, "own group's child reaped");

	/* waitpid with negative pid = process group; 0 = own group. */
	a = spawn_exit(4, 30);
	setpgid(a, a);
	c = spawn_exit(5, 0);
	int st;
	check(waitpid(-a, &st, 0) == a && WEXITSTATUS(st) == 4, "waitpid(-pgid)");
	check(waitpid(0, &st, 0) == c && WEXITSTATUS(st) == 5, "waitpid(0)");

	/* waitpid WUNTRACED/WCONTINUED. */
	p = spawn_sleeper();
	kill(p, SIGSTOP);
	st = xwait(p, WUNTRACED);
	check(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "waitpid WUNTRACED: %s", statusstr(st));
	kill(p, SIGCONT);
	st = xwait(p, WCONTINUED);
	check(WIFCONTINUED(st), "waitpid WCONTINUED: %s", statusstr(st));
	check(waitpid(p, &st, WNOHANG | WUNTRACED | WCONTINUED) == 0, "nothing more to report");
	kill(p, SIGKILL);
	expect_status(p, "signal SIGKILL", "sleeper killed");

	/* Errors. */
	expect_err(waitid(P_ALL, 0, &si, 0), EINVAL, "waitid without WEXITED/WSTOPPED/WCONTINUED");
	expect_err(waitid(7, 0, &si, WEXITED), EINVAL, "waitid bad idtype");
	expect_err(waitid(P_ALL, 0, &si, WEXITED | WNOHANG), ECHILD, "waitid with no children");
	expect_err(waitid(P_PID, getpid(), &si, WEXITED), ECHILD, "waitid P_PID self");
	return finish();
}
