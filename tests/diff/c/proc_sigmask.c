/* Masks and pending signals: block, raise, sigpending, unblock delivers
 * before sigprocmask returns; standard signals coalesce, real-time ones
 * queue in order; SIGKILL/SIGSTOP cannot be blocked; a masked signal to
 * self; the mask is inherited by fork, pending signals are not. */
#include "proc.h"

static volatile int count[65];
static volatile int order[16], norder;

static void on_sig(int s)
{
	count[s]++;
	if (norder < 16)
		order[norder++] = s;
}

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	sigset_t set, old, pend;

	set_handler(SIGUSR1, on_sig, 0);
	set_handler(SIGUSR2, on_sig, 0);
	set_handler(SIGRTMIN, on_sig, 0);
	set_handler(SIGRTMIN + 1, on_sig, 0);

	/* Masked signal to self stays pending until unmasked, then runs once. */
	expect_ok(mask_sig(SIG_BLOCK, SIGUSR1), "block SIGUSR1");
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR1);
	kill(getpid(), SIGUSR1);
	check(count[SIGUSR1] == 0, "blocked SIGUSR1 not delivered");
	sigpending(&pend);
	check(sigismember(&pend, SIGUSR1) && !sigismember(&pend, SIGUSR2), "sigpending shows SIGUSR1 only");
	expect_ok(mask_sig(SIG_UNBLOCK, SIGUSR1), "unblock SIGUSR1");
	check(count[SIGUSR1] == 1, "three kills coalesce into one delivery at unblock (%d)", count[SIGUSR1]);
	/* tgkill queues on the thread, kill on the process: one of each survives. */
	count[SIGUSR1] = 0;
	mask_sig(SIG_BLOCK, SIGUSR1);
	syscall(SYS_tgkill, getpid(), getpid(), SIGUSR1);
	syscall(SYS_tgkill, getpid(), getpid(), SIGUSR1);
	kill(getpid(), SIGUSR1);
	mask_sig(SIG_UNBLOCK, SIGUSR1);
	check(count[SIGUSR1] == 2, "tgkill x2 + kill: thread and process queues each coalesce (%d)", count[SIGUSR1]);
	sigpending(&pend);
	check(!sigismember(&pend, SIGUSR1), "nothing pending after delivery");

	/* Real-time signals queue; on unblock lower numbers come first, each in send order. */
	norder = 0;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN);
	sigaddset(&set, SIGRTMIN + 1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, &old);
	raise(SIGRTMIN + 1);
	raise(SIGRTMIN);
	raise(SIGRTMIN + 1);
	raise(SIGRTMIN);
	raise(SIGRTMIN);
	raise(SIGUSR2);
	sigprocmask(SIG_SETMASK, &old, NULL);
	check(count[SIGRTMIN] == 3 && count[SIGRTMIN + 1] == 2 && count[SIGUSR2] == 1, "queued: RTMIN x%d, RTMIN+1 x%d, USR2 x%d",
	      count[SIGRTMIN], count[SIGRTMIN + 1], count[SIGUSR2]);
	char ord[64] = "";
	for (int i = 0; i < norder; i++)
		strcat(ord, order[i] == SIGUSR2 ? "U" : order[i] == SIGRTMIN ? "0" : "1");
	/* All frames are pushed at once on unblock, so the last pushed runs first. */
	printf("delivery order on unblock: %s\n", ord);

	/* SIGKILL and SIGSTOP are silently not blocked. */
	sigfillset(&set);
	expect_ok(sigprocmask(SIG_BLOCK, &set, &old), "block everything");
	sigset_t cur;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	check(!sigismember(&cur, SIGKILL) && !sigismember(&cur, SIGSTOP) && sigismember(&cur, SIGTERM), "SIGKILL/SIGSTOP not in mask");
	sigprocmask(SIG_SETMASK, &old, NULL);
	expect_err(sigprocmask(99, &set, NULL), EINVAL, "sigprocmask bad how");
	expect_err(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, NULL, 4), EINVAL, "rt_sigprocmask bad sigsetsize");

	/* A blocked signal's default action does not happen until unblocked. */
	pid_t p = xfork();
	if (p == 0) {
		mask_sig(SIG_BLOCK, SIGTERM);
		raise(SIGTERM);
		printf("ok child alive with SIGTERM pending\n");
		fflush(stdout);
		mask_sig(SIG_UNBLOCK, SIGTERM);
		printf("FAIL child survived unblocking SIGTERM\n");
		child_exit(1);
	}
	expect_status(p, "signal SIGTERM", "unblocking pending SIGTERM kills");

	/* Fork: the mask is inherited, pending signals are not. */
	mask_sig(SIG_BLOCK, SIGUSR2);
	raise(SIGUSR2);
	p = xfork();
	if (p == 0) {
		sigset_t c, pd;
		sigprocmask(SIG_SETMASK, NULL, &c);
		sigpending(&pd);
		check(sigismember(&c, SIGUSR2), "child inherits the blocked mask");
		check(!sigismember(&pd, SIGUSR2), "child does not inherit the pending signal");
		child_exit(0);
	}
	expect_status(p, "exit 0", "mask/pending child");
	int before = count[SIGUSR2];
	mask_sig(SIG_UNBLOCK, SIGUSR2);
	check(count[SIGUSR2] == before + 1, "parent's pending SIGUSR2 delivered after the fork");

	/* Ignoring a pending signal discards it. */
	mask_sig(SIG_BLOCK, SIGUSR1);
	raise(SIGUSR1);
	signal(SIGUSR1, SIG_IGN);
	sigpending(&pend);
	check(!sigismember(&pend, SIGUSR1), "setting SIG_IGN discards the pending signal");
	set_handler(SIGUSR1, on_sig, 0);
	before = count[SIGUSR1];
	mask_sig(SIG_UNBLOCK, SIGUSR1);
	check(count[SIGUSR1] == before, "discarded signal never delivered");

	/* A signal sent by another process while blocked waits; sigprocmask's
	 * old set round trip. */
	mask_sig(SIG_BLOCK, SIGUSR1);
	p = xfork();
	if (p == 0) {
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	expect_status(p, "exit 0", "child signalled the blocked parent");
	sigpending(&pend);
	check(sigismember(&pend, SIGUSR1) && count[SIGUSR1] == before, "child's signal pending in parent");
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, &old);
	check(sigismember(&old, SIGUSR1) && count[SIGUSR1] == before + 1, "old mask returned and signal delivered on SETMASK");

	return finish();
}
