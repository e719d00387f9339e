/* Handlers with SA_SIGINFO: si_signo/si_code/si_pid/si_uid/si_value for
 * kill, raise (tgkill), sigqueue, rt_sigqueueinfo and a child's kill;
 * SA_RESETHAND, SA_NODEFER, sa_mask during the handler, the mask restored
 * after it, and the ucontext's saved mask. */
#include "proc.h"

#include <ucontext.h>

static volatile int hits, depth, maxdepth;
static volatile int last_signo, last_code, last_pid_ok, last_uid_ok, last_val, blocked_in_handler, usr2_blocked;
static volatile int uc_mask_has_usr2;
static pid_t me;

static void on_info(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	hits++;
	last_signo = si->si_signo == sig ? sig : -1;
	last_code = si->si_code;
	last_pid_ok = si->si_pid == me;
	last_uid_ok = si->si_uid == getuid();
	last_val = si->si_value.sival_int;
	sigset_t cur;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	blocked_in_handler = sigismember(&cur, sig);
	usr2_blocked = sigismember(&cur, SIGUSR2);
	uc_mask_has_usr2 = sigismember(&uc->uc_sigmask, SIGUSR2);
}

static void on_nested(int sig)
{
	depth++;
	if (depth > maxdepth)
		maxdepth = depth;
	hits++;
	if (hits < 3)
		raise(sig); /* delivered at once with SA_NODEFER, after return without */
	depth--;
}

static const char *codename(int c)
{
	switch (c) {
	case SI_USER: return "SI_USER";
	case SI_TKILL: return "SI_TKILL";
	case SI_QUEUE: return "SI_QUEUE";
	case SI_KERNEL: return "SI_KERNEL";
	case SI_TIMER: return "SI_TIMER";
	default: return "other";
	}
}

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	me = getpid();

	expect_ok(set_action(SIGUSR1, on_info, 0), "sigaction SIGUSR1 SA_SIGINFO");
	hits = 0;
	expect_ok(kill(me, SIGUSR1), "kill self");
	check(hits == 1 && last_signo == SIGUSR1, "handler ran once for kill");
	check(last_code == SI_USER && last_pid_ok && last_uid_ok, "kill: si_code=%s, si_pid and si_uid are ours", codename(last_code));
	check(blocked_in_handler == 1, "signal blocked inside its own handler");

	expect_ok(raise(SIGUSR1), "raise");
	check(hits == 2 && last_code == SI_TKILL && last_pid_ok, "raise: si_code=%s", codename(last_code));

	expect_ok(syscall(SYS_tgkill, me, me, SIGUSR1), "tgkill self");
	check(hits == 3 && last_code == SI_TKILL, "tgkill: si_code=%s", codename(last_code));

	union sigval v = {.sival_int = 4242};
	expect_ok(sigqueue(me, SIGUSR1, v), "sigqueue self");
	check(hits == 4 && last_code == SI_QUEUE && last_val == 4242 && last_pid_ok, "sigqueue: si_code=%s value=%d", codename(last_code), last_val);

	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = SIGUSR1;
	si.si_code = -7; /* negative codes may be sent to oneself */
	si.si_value.sival_int = 77;
	si.si_pid = me;
	si.si_uid = getuid();
	expect_ok(syscall(SYS_rt_sigqueueinfo, me, SIGUSR1, &si), "rt_sigqueueinfo self, si_code -7");
	check(hits == 5 && last_code == -7 && last_val == 77, "rt_sigqueueinfo: si_code=%d value=%d", last_code, last_val);

	/* From a child: si_pid is the child's pid. */
	pid_t p = xfork();
	if (p == 0) {
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	expect_status(p, "exit 0", "child sent SIGUSR1");
	check(hits == 6 && last_code == SI_USER, "child's kill delivered: si_code=%s", codename(last_code));

	/* Another process may not forge kernel or tkill codes. */
	p = xfork();
	if (p == 0) {
		pause();
		_exit(0);
	}
	si.si_code = SI_KERNEL;
	expect_err(syscall(SYS_rt_sigqueueinfo, p, SIGUSR1, &si), EPERM, "rt_sigqueueinfo SI_KERNEL to another process");
	si.si_code = SI_TKILL;
	expect_err(syscall(SYS_rt_sigqueueinfo, p, SIGUSR1, &si), EPERM, "rt_sigqueueinfo SI_TKILL to another process");
	kill(p, SIGKILL);
	expect_status(p, "signal SIGKILL", "paused child killed");

	/* sa_mask: SIGUSR2 blocked during the handler only; uc_sigmask is the interrupted mask. */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_info;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	expect_ok(sigaction(SIGUSR1, &sa, NULL), "sigaction with sa_mask SIGUSR2");
	raise(SIGUSR1);
	check(usr2_blocked == 1 && uc_mask_has_usr2 == 0, "sa_mask applied in handler, uc_sigmask is the old mask");
	sigset_t cur;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	check(!sigismember(&cur, SIGUSR2) && !sigismember(&cur, SIGUSR1), "mask restored after handler");
	mask_sig(SIG_BLOCK, SIGUSR2);
	raise(SIGUSR1);
	check(uc_mask_has_usr2 == 1, "uc_sigmask shows SIGUSR2 blocked when it was");
	sigprocmask(SIG_SETMASK, NULL, &cur);
	check(sigismember(&cur, SIGUSR2) && !sigismember(&cur, SIGUSR1), "mask after return still blocks SIGUSR2 only");
	mask_sig(SIG_UNBLOCK, SIGUSR2);

	/* Without SA_NODEFER: the raise inside the handler waits until it returns. */
	hits = depth = maxdepth = 0;
	set_handler(SIGUSR2, on_nested, 0);
	raise(SIGUSR2);
	check(hits == 3 && maxdepth == 1, "without SA_NODEFER: %d runs, max depth %d", hits, maxdepth);
	hits = depth = maxdepth = 0;
	set_handler(SIGUSR2, on_nested, SA_NODEFER);
	raise(SIGUSR2);
	check(hits == 3 && maxdepth == 3, "with SA_NODEFER: %d runs, max depth %d", hits, maxdepth);

	/* SA_RESETHAND: the handler runs once, then the default action. */
	hits = 0;
	p = xfork();
	if (p == 0) {
		no_core();
		set_handler(SIGUSR2, on_nested, SA_RESETHAND | SA_NODEFER);
		hits = 5; /* no re-raise inside */
		raise(SIGUSR2);
		struct sigaction old;
		sigaction(SIGUSR2, NULL, &old);
		if (hits != 6 || old.sa_handler != SIG_DFL)
			_exit(1);
		raise(SIGUSR2);
		_exit(2);
	}
	expect_status(p, "signal SIGUSR2", "SA_RESETHAND: second SIGUSR2 kills");

	/* The handler's return value path: sigreturn restores all registers,
	 * checked by a computation that spans the signal. */
	hits = 0;
	set_handler(SIGUSR2, on_nested, 0);
	volatile unsigned long acc = 0;
	for (unsigned long i = 0; i < 100000; i++) {
		acc += i * 7;
		if (i % 10000 == 0) {
			hits = 10;
			raise(SIGUSR2);
		}
	}
	check(acc == 34999650000UL, "computation across 10 handler runs (%lu)", acc);

	/* Ignoring, then default for a signal whose default is to ignore. */
	signal(SIGURG, SIG_DFL);
	raise(SIGURG);
	signal(SIGWINCH, SIG_IGN);
	raise(SIGWINCH);
	printf("ok SIGURG default and SIGWINCH ignored do not kill\n");

	/* sigaction rejects SIGKILL/SIGSTOP and bad numbers. */
	expect_err(sigaction(SIGKILL, &sa, NULL), EINVAL, "sigaction SIGKILL");
	expect_err(sigaction(SIGSTOP, &sa, NULL), EINVAL, "sigaction SIGSTOP");
	expect_err(kill(me, 65), EINVAL, "kill signal 65");
	expect_ok(kill(me, 0), "kill signal 0 to self");

	return finish();
}
