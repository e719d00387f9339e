/* rt_sigaction/rt_sigprocmask/sigaltstack/sigpending bookkeeping (no delivery). */
#include "common.h"
#include <signal.h>

struct ksigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

static void h1(int s) { (void)s; }
static void h2(int s, siginfo_t *i, void *u) { (void)s; (void)i; (void)u; }
static void rest(void) {}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof sa);
	check(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == SIG_DFL, "SIGUSR1 initially SIG_DFL");
	sa.sa_handler = h1;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigaddset(&sa.sa_mask, SIGTERM);
	sa.sa_flags = SA_RESTART;
	check(sigaction(SIGUSR1, &sa, NULL) == 0, "install h1 on SIGUSR1");
	check(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == h1, "read back handler");
	check(sigismember(&old.sa_mask, SIGUSR2) && sigismember(&old.sa_mask, SIGTERM) && !sigismember(&old.sa_mask, SIGINT), "read back mask");
	check(old.sa_flags & SA_RESTART, "read back SA_RESTART");

	struct sigaction si;
	memset(&si, 0, sizeof si);
	si.sa_sigaction = h2;
	si.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	check(sigaction(SIGUSR2, &si, &old) == 0 && old.sa_handler == SIG_DFL, "install SA_SIGINFO, old is SIG_DFL");
	check(sigaction(SIGUSR2, NULL, &old) == 0 && old.sa_sigaction == h2, "siginfo handler read back");
	check((old.sa_flags & (SA_SIGINFO | SA_ONSTACK | SA_NODEFER)) == (SA_SIGINFO | SA_ONSTACK | SA_NODEFER), "flags read back");
	sa.sa_handler = SIG_IGN;
	check(sigaction(SIGPIPE, &sa, &old) == 0 && sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_IGN, "SIG_IGN SIGPIPE");

	/* raw rt_sigaction: exact round trip of the kernel struct */
	struct ksigaction k = { h1, 0x04000000 /* SA_RESTORER */ | SA_RESTART, rest, (1ULL << (SIGINT - 1)) | (1ULL << (SIGKILL - 1)) };
	struct ksigaction ko;
	memset(&ko, 0, sizeof ko);
	check(syscall(SYS_rt_sigaction, SIGHUP, &k, NULL, 8) == 0, "raw rt_sigaction SIGHUP");
	check(syscall(SYS_rt_sigaction, SIGHUP, NULL, &ko, 8) == 0, "raw read back");
	check(ko.handler == h1 && ko.restorer == rest && ko.flags == k.flags, "raw handler/restorer/flags equal");
	printf("raw mask readback=%llx\n", (unsigned long long)ko.mask);
	expect_err(syscall(SYS_rt_sigaction, SIGHUP, &k, NULL, 4), EINVAL, "rt_sigaction sigsetsize 4");
	expect_err(syscall(SYS_rt_sigaction, SIGKILL, &k, NULL, 8), EINVAL, "rt_sigaction SIGKILL");
	expect_err(syscall(SYS_rt_sigaction, SIGSTOP, &k, NULL, 8), EINVAL, "rt_sigaction SIGSTOP");
	expect_err(syscall(SYS_rt_sigaction, 0, &k, NULL, 8), EINVAL, "rt_sigaction signal 0");
	expect_err(syscall(SYS_rt_sigaction, 65, &k, NULL, 8), EINVAL, "rt_sigaction signal 65");
	check(syscall(SYS_rt_sigaction, SIGKILL, NULL, &ko, 8) == 0 && ko.handler == SIG_DFL, "query SIGKILL ok");
	check(syscall(SYS_rt_sigaction, 64, &k, NULL, 8) == 0, "rt_sigaction signal 64");

	/* sigprocmask */
	sigset_t set, cur;
	sigemptyset(&set);
	check(sigprocmask(SIG_SETMASK, NULL, &cur) == 0 && !sigismember(&cur, SIGUSR1), "initial mask lacks SIGUSR1");
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGALRM);
	check(sigprocmask(SIG_BLOCK, &set, NULL) == 0, "block USR1|ALRM");
	sigprocmask(SIG_SETMASK, NULL, &cur);
	check(sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGALRM) && !sigismember(&cur, SIGUSR2), "mask read back");
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	check(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0, "unblock ALRM");
	sigprocmask(SIG_SETMASK, NULL, &cur);
	check(sigismember(&cur, SIGUSR1) && !sigismember(&cur, SIGALRM), "ALRM unblocked, USR1 still blocked");
	uint64_t kmask = (1ULL << (SIGKILL - 1)) | (1ULL << (SIGSTOP - 1)) | (1ULL << (SIGTERM - 1)), kold = 0, know = 0;
	check(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &kmask, &kold, 8) == 0, "raw SETMASK with KILL/STOP/TERM");
	check(syscall(SYS_rt_sigprocmask, SIG_SETMASK, NULL, &know, 8) == 0, "raw read");
	printf("old mask=%llx new mask=%llx\n", (unsigned long long)kold, (unsigned long long)know);
	check(know == (1ULL << (SIGTERM - 1)), "KILL/STOP silently dropped");
	expect_err(syscall(SYS_rt_sigprocmask, 99, &kmask, NULL, 8), EINVAL, "rt_sigprocmask bad how");
	expect_err(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &kmask, NULL, 16), EINVAL, "rt_sigprocmask sigsetsize 16");
	check(syscall(SYS_rt_sigprocmask, 99, NULL, &know, 8) == 0, "bad how ignored when set is NULL");
	sigset_t pend;
	check(sigpending(&pend) == 0 && !sigismember(&pend, SIGTERM) && !sigismember(&pend, SIGUSR1), "nothing pending");
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);

	/* sigaltstack */
	stack_t ss, os;
	check(sigaltstack(NULL, &os) == 0 && (os.ss_flags & SS_DISABLE), "altstack initially disabled");
	static char stk[65536];
	ss.ss_sp = stk;
	ss.ss_size = sizeof stk;
	ss.ss_flags = 0;
	check(sigaltstack(&ss, NULL) == 0, "set altstack");
	check(sigaltstack(NULL, &os) == 0 && os.ss_sp == stk && os.ss_size == sizeof stk && os.ss_flags == 0, "altstack read back");
	ss.ss_size = 100;
	expect_err(sigaltstack(&ss, NULL), ENOMEM, "altstack too small");
	ss.ss_flags = 0x1234;
	ss.ss_size = sizeof stk;
	expect_err(sigaltstack(&ss, NULL), EINVAL, "altstack bad flags");
	ss.ss_flags = SS_DISABLE;
	check(sigaltstack(&ss, NULL) == 0 && sigaltstack(NULL, &os) == 0 && os.ss_flags == SS_DISABLE, "disable altstack");

	/* signal() and SIG_DFL reset */
	check(signal(SIGUSR1, SIG_DFL) == h1, "signal() returns previous handler");
	check(sigaction(SIGUSR1, NULL, &old) == 0 && old.sa_handler == SIG_DFL, "reset to SIG_DFL");
	/* a blocked, ignored signal raised to self is discarded without delivery */
	signal(SIGURG, SIG_IGN);
	check(raise(SIGURG) == 0, "raise ignored SIGURG");
	return finish();
}
