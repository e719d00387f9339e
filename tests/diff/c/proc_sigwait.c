/* sigsuspend, pause, sigtimedwait, sigwaitinfo, sigwait: with signals from
 * self and from a child; EAGAIN on timeout; EINTR when a handled signal
 * outside the set arrives. */
#include "proc.h"

static volatile int got;
static void on_sig(int s) { got = s; }

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	set_handler(SIGUSR1, on_sig, 0);
	set_handler(SIGUSR2, on_sig, 0);

	/* sigsuspend: SIGUSR1 blocked; a child sends it; sigsuspend with an empty mask takes it. */
	mask_sig(SIG_BLOCK, SIGUSR1);
	pid_t p = xfork();
	if (p == 0) {
		sleep_ms(50);
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	sigset_t empty, cur;
	sigemptyset(&empty);
	got = 0;
	int rc = sigsuspend(&empty);
	check(rc == -1 && errno == EINTR && got == SIGUSR1, "sigsuspend returned EINTR after the handler");
	sigprocmask(SIG_SETMASK, NULL, &cur);
	check(sigismember(&cur, SIGUSR1), "sigsuspend restored the mask");
	expect_status(p, "exit 0", "sender child");

	/* sigsuspend with a pending signal returns at once. */
	raise(SIGUSR1);
	got = 0;
	rc = sigsuspend(&empty);
	check(rc == -1 && errno == EINTR && got == SIGUSR1, "sigsuspend with SIGUSR1 already pending");

	/* sigsuspend's mask keeps SIGUSR2 blocked: only SIGUSR1 ends it. */
	sigset_t only2;
	sigemptyset(&only2);
	sigaddset(&only2, SIGUSR2);
	mask_sig(SIG_BLOCK, SIGUSR2);
	p = xfork();
	if (p == 0) {
		kill(getppid(), SIGUSR2);
		sleep_ms(50);
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	got = 0;
	rc = sigsuspend(&only2);
	check(rc == -1 && got == SIGUSR1, "sigsuspend woke for SIGUSR1, not the blocked SIGUSR2");
	expect_status(p, "exit 0", "two-signal child");
	sigset_t pend;
	sigpending(&pend);
	check(sigismember(&pend, SIGUSR2), "SIGUSR2 still pending");
	got = 0;
	mask_sig(SIG_UNBLOCK, SIGUSR2);
	check(got == SIGUSR2, "SIGUSR2 delivered on unblock");

	/* pause() returns EINTR after a handler ran. */
	mask_sig(SIG_UNBLOCK, SIGUSR1);
	p = xfork();
	if (p == 0) {
		sleep_ms(50);
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	got = 0;
	rc = pause();
	check(rc == -1 && errno == EINTR && got == SIGUSR1, "pause returned EINTR");
	expect_status(p, "exit 0", "pause child");

	/* sigtimedwait: pending signal taken without a handler, with its info. */
	sigset_t w;
	sigemptyset(&w);
	sigaddset(&w, SIGUSR1);
	sigaddset(&w, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &w, NULL);
	union sigval v = {.sival_int = 31337};
	sigqueue(getpid(), SIGRTMIN, v);
	siginfo_t si;
	struct timespec ts0 = {0, 0};
	got = 0;
	rc = sigtimedwait(&w, &si, &ts0);
	check(rc == SIGRTMIN && si.si_signo == SIGRTMIN && si.si_code == SI_QUEUE && si.si_value.sival_int == 31337 && got == 0,
	      "sigtimedwait took queued SIGRTMIN with value %d", si.si_value.sival_int);
	errno = 0;
	rc = sigtimedwait(&w, &si, &ts0);
	check(rc == -1 && errno == EAGAIN, "sigtimedwait zero timeout, nothing pending: EAGAIN");
	struct timespec ts = {0, 100 * 1000000L};
	long t0 = now_ms();
	errno = 0;
	rc = sigtimedwait(&w, &si, &ts);
	long dt = now_ms() - t0;
	check(rc == -1 && errno == EAGAIN && dt >= 90 && dt < 1500, "sigtimedwait 100 ms timeout: EAGAIN after about 100 ms");

	/* sigtimedwait woken by a child's signal. */
	p = xfork();
	if (p == 0) {
		sleep_ms(50);
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	struct timespec ts5 = {5, 0};
	rc = sigtimedwait(&w, &si, &ts5);
	check(rc == SIGUSR1 && si.si_code == SI_USER && si.si_pid == p, "sigtimedwait woke for the child's SIGUSR1, si_pid is the child");
	expect_status(p, "exit 0", "sigtimedwait child");

	/* sigwaitinfo and sigwait. */
	raise(SIGUSR1);
	rc = sigwaitinfo(&w, &si);
	check(rc == SIGUSR1 && si.si_signo == SIGUSR1, "sigwaitinfo took raised SIGUSR1");
	raise(SIGRTMIN);
	int sig = 0;
	rc = sigwait(&w, &sig);
	check(rc == 0 && sig == SIGRTMIN, "sigwait took SIGRTMIN");

	/* A handled signal not in the waited set interrupts sigtimedwait (the raw
	 * syscall: musl's wrapper retries on EINTR). */
	mask_sig(SIG_UNBLOCK, SIGUSR2);
	p = xfork();
	if (p == 0) {
		sleep_ms(50);
		kill(getppid(), SIGUSR2);
		_exit(0);
	}
	got = 0;
	errno = 0;
	rc = syscall(SYS_rt_sigtimedwait, &w, &si, &ts5, 8);
	check(rc == -1 && errno == EINTR && got == SIGUSR2, "sigtimedwait interrupted by handled SIGUSR2: EINTR");
	expect_status(p, "exit 0", "interrupting child");

	/* Invalid timeout. */
	struct timespec bad = {0, 2000000000L};
	expect_err(sigtimedwait(&w, &si, &bad), EINVAL, "sigtimedwait tv_nsec out of range");

	return finish();
}
