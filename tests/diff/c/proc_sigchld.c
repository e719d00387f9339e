/* SIGCHLD: SA_SIGINFO with si_code/si_status/si_pid for exit, kill, stop,
 * continue; SA_NOCLDSTOP; SA_NOCLDWAIT and SIG_IGN auto-reap (wait then
 * blocks until all children are gone and fails with ECHILD). */
#include "proc.h"

static volatile int n_chld, last_code, last_status;
static volatile pid_t last_pid;

static void on_chld(int s, siginfo_t *si, void *uc)
{
	(void)s, (void)uc;
	n_chld++;
	last_code = si->si_code;
	last_status = si->si_status;
	last_pid = si->si_pid;
}

static pid_t child_exit_after(int code, int ms)
{
	pid_t p = xfork();
	if (p == 0) {
		sleep_ms(ms);
		_exit(code);
	}
	return p;
}

/* wait_sigchld waits (up to 2 s) until n_chld reaches n. */
static int wait_sigchld(int n)
{
	sigset_t none;
	sigemptyset(&none);
	mask_sig(SIG_BLOCK, SIGCHLD);
	for (int i = 0; i < 200 && n_chld < n; i++) {
		struct timespec ts = {0, 10 * 1000000L};
		sigset_t w;
		sigemptyset(&w);
		mask_sig(SIG_UNBLOCK, SIGCHLD);
		nanosleep(&ts, NULL);
		mask_sig(SIG_BLOCK, SIGCHLD);
	}
	mask_sig(SIG_UNBLOCK, SIGCHLD);
	return n_chld >= n;
}

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	set_action(SIGCHLD, on_chld, SA_RESTART);

	pid_t p = child_exit_after(7, 0);
	check(wait_sigchld(1), "SIGCHLD arrived for an exit");
	check(last_code == CLD_EXITED && last_status == 7 && last_pid == p, "CLD_EXITED si_status 7 si_pid child");
	expect_status(p, "exit 7", "reaped after SIGCHLD");

	p = xfork();
	if (p == 0) {
		for (;;)
			pause();
	}
	kill(p, SIGKILL);
	check(wait_sigchld(2), "SIGCHLD for a kill");
	check(last_code == CLD_KILLED && last_status == SIGKILL, "CLD_KILLED si_status SIGKILL");
	expect_status(p, "signal SIGKILL", "killed child");

	/* Stop and continue also raise SIGCHLD... */
	p = xfork();
	if (p == 0) {
		for (;;)
			pause();
	}
	kill(p, SIGSTOP);
	check(wait_sigchld(3) && last_code == CLD_STOPPED && last_status == SIGSTOP, "CLD_STOPPED si_status SIGSTOP");
	kill(p, SIGCONT);
	check(wait_sigchld(4) && last_code == CLD_CONTINUED && last_status == SIGCONT, "CLD_CONTINUED si_status SIGCONT");
	/* ...unless SA_NOCLDSTOP. */
	set_action(SIGCHLD, on_chld, SA_RESTART | SA_NOCLDSTOP);
	kill(p, SIGSTOP);
	int st = xwait(p, WUNTRACED);
	check(WIFSTOPPED(st), "stopped (seen by waitpid)");
	kill(p, SIGCONT);
	sleep_ms(50);
	check(n_chld == 4, "no SIGCHLD for stop/continue with SA_NOCLDSTOP (%d)", n_chld);
	kill(p, SIGTERM);
	check(wait_sigchld(5) && last_code == CLD_KILLED && last_status == SIGTERM, "exit still signalled with SA_NOCLDSTOP");
	expect_status(p, "signal SIGTERM", "SIGTERM'd child");

	/* SA_NOCLDWAIT with a handler: children are auto-reaped, SIGCHLD still comes. */
	n_chld = 0;
	set_action(SIGCHLD, on_chld, SA_RESTART | SA_NOCLDWAIT);
	child_exit_after(1, 0);
	child_exit_after(2, 30);
	long t0 = now_ms();
	errno = 0;
	int rc = wait(&st);
	long dt = now_ms() - t0;
	check(rc == -1 && errno == ECHILD, "SA_NOCLDWAIT: wait fails with ECHILD");
	check(dt >= 20, "wait blocked until both children were gone");
	check(wait_sigchld(2), "SIGCHLD still delivered with SA_NOCLDWAIT");

	/* SIG_IGN: auto-reap, no signal; a zombie never appears. */
	signal(SIGCHLD, SIG_IGN);
	p = child_exit_after(3, 0);
	for (int i = 0; i < 400 && kill(p, 0) == 0; i++)
		sleep_ms(5);
	errno = 0;
	check(kill(p, 0) == -1 && errno == ESRCH, "SIG_IGN: the exited child is gone without a wait");
	expect_err(waitpid(p, &st, 0), ECHILD, "SIG_IGN: waitpid ECHILD");
	child_exit_after(4, 40);
	t0 = now_ms();
	errno = 0;
	rc = wait(NULL);
	check(rc == -1 && errno == ECHILD && now_ms() - t0 >= 30, "SIG_IGN: wait blocks until the child is gone, then ECHILD");

	/* SIG_DFL again: zombies come back; SIGCHLD ignored by default does nothing. */
	signal(SIGCHLD, SIG_DFL);
	p = child_exit_after(5, 0);
	sleep_ms(50);
	check(kill(p, 0) == 0, "SIG_DFL: a zombie waits to be reaped");
	expect_status(p, "exit 5", "reaped with SIG_DFL");

	/* SIG_IGN on SIGCHLD is inherited across exec (busybox sh sees it). */
	signal(SIGCHLD, SIG_IGN);
	p = xfork();
	if (p == 0) {
		char *args[] = {"sh", "-c", "true & wait $!; echo wait status $?", NULL};
		char *env[] = {"PATH=/bin", NULL};
		execve("/bin/busybox", args, env);
		_exit(127);
	}
	signal(SIGCHLD, SIG_DFL);
	expect_status(p, "exit 0", "busybox sh with SIGCHLD ignored");
	return finish();
}
