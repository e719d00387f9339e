/* Helpers for the process and signal programs (proc_*.c), on top of common.h.
 *
 * Output discipline: stdout is a pipe, so it is fully buffered; every fork
 * goes through xfork(), which flushes first, and a child ends with
 * child_exit(), which flushes and reports its own failures in its exit
 * status. A child prints only while its parent is blocked waiting for it, so
 * the order of lines is fixed.
 */
#ifndef DIFF_PROC_H
#define DIFF_PROC_H

#include "common.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

/* proc_init makes stdout line-buffered, so that a guest that crashes keeps
 * the lines printed before the crash (children flush before exiting too). */
UNUSED static void proc_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* signame names a signal the same way under glibc and musl. */
UNUSED static const char *signame(int s)
{
	static char buf[16];
	switch (s) {
	case 0: return "0";
	case SIGHUP: return "SIGHUP";
	case SIGINT: return "SIGINT";
	case SIGQUIT: return "SIGQUIT";
	case SIGILL: return "SIGILL";
	case SIGTRAP: return "SIGTRAP";
	case SIGABRT: return "SIGABRT";
	case SIGBUS: return "SIGBUS";
	case SIGFPE: return "SIGFPE";
	case SIGKILL: return "SIGKILL";
	case SIGUSR1: return "SIGUSR1";
	case SIGSEGV: return "SIGSEGV";
	case SIGUSR2: return "SIGUSR2";
	case SIGPIPE: return "SIGPIPE";
	case SIGALRM: return "SIGALRM";
	case SIGTERM: return "SIGTERM";
	case SIGCHLD: return "SIGCHLD";
	case SIGCONT: return "SIGCONT";
	case SIGSTOP: return "SIGSTOP";
	case SIGTSTP: return "SIGTSTP";
	case SIGURG: return "SIGURG";
	case SIGWINCH: return "SIGWINCH";
	default:
		snprintf(buf, sizeof buf, "SIG%d", s);
		return buf;
	}
}

/* statusstr renders a wait status without pids: "exit N", "signal NAME",
 * "stopped NAME" or "continued". */
UNUSED static const char *statusstr(int st)
{
	static char buf[64];
	if (WIFEXITED(st))
		snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, sizeof buf, "signal %s", signame(WTERMSIG(st)));
	else if (WIFSTOPPED(st))
		snprintf(buf, sizeof buf, "stopped %s", signame(WSTOPSIG(st)));
	else if (WIFCONTINUED(st))
		snprintf(buf, sizeof buf, "continued");
	else
		snprintf(buf, sizeof buf, "raw 0x%x", st);
	return buf;
}

/* xfork flushes stdio and forks. */
UNUSED static pid_t xfork(void)
{
	fflush(stdout);
	fflush(stderr);
	pid_t p = fork();
	if (p < 0) {
		printf("FAIL fork errno=%s\n", errname(errno));
		fflush(stdout);
		exit(1);
	}
	if (p == 0)
		diff_failed = 0; /* the child reports only its own failures */
	return p;
}

/* child_exit ends a child: flush, then exit with 100 if any of its checks
 * failed, else with code. */
UNUSED static void child_exit(int code)
{
	fflush(stdout);
	fflush(stderr);
	_exit(diff_failed ? 100 : code);
}

/* xwait waits for pid (retrying EINTR) and returns its raw status, or -1. */
UNUSED static int xwait(pid_t pid, int options)
{
	int st = 0;
	pid_t r;
	do
		r = waitpid(pid, &st, options);
	while (r < 0 && errno == EINTR);
	if (r != pid) {
		printf("FAIL waitpid rc=%s errno=%s\n", r == 0 ? "0" : "other", errname(errno));
		diff_failed = 1;
		return -1;
	}
	return st;
}

/* expect_status waits for pid and checks its status string. */
UNUSED static void expect_status(pid_t pid, const char *want, const char *what)
{
	int st = xwait(pid, 0);
	const char *got = st == -1 ? "none" : statusstr(st);
	check(strcmp(got, want) == 0, "%s: %s", what, got);
}

/* sleep_ms sleeps, resuming after signal interruptions. */
UNUSED static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* now_ms is CLOCK_MONOTONIC in milliseconds. */
UNUSED static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* no_core stops a child that is about to die by a signal from leaving a core
 * file behind natively. */
UNUSED static void no_core(void)
{
	struct rlimit rl = {0, 0};
	setrlimit(RLIMIT_CORE, &rl);
}

/* set_handler installs fn for sig with the given flags and an empty mask. */
UNUSED static int set_handler(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

/* set_action installs an SA_SIGINFO handler for sig. */
UNUSED static int set_action(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = fn;
	sa.sa_flags = flags | SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

/* block_sig blocks (how=SIG_BLOCK) or unblocks (SIG_UNBLOCK) one signal. */
UNUSED static int mask_sig(int how, int sig)
{
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, sig);
	return sigprocmask(how, &s, NULL);
}

#endif
