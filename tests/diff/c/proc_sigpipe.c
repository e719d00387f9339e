/* SIGPIPE: writing to a pipe without readers kills by default; EPIPE when
 * ignored, blocked or handled (the handler runs first). */
#include "proc.h"

#include <sys/uio.h>

static volatile int pipes_seen;
static void on_pipe(int s) { (void)s; pipes_seen++; }

static int readerless(int fds[2])
{
	if (pipe(fds) < 0)
		return -1;
	close(fds[0]);
	return fds[1];
}

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	int fds[2];

	pid_t p = xfork();
	if (p == 0) {
		int w = readerless(fds);
		ssize_t n = write(w, "x", 1);
		_exit(n < 0 ? 2 : 3);
	}
	expect_status(p, "signal SIGPIPE", "default SIGPIPE kills the writer");

	signal(SIGPIPE, SIG_IGN);
	int w = readerless(fds);
	errno = 0;
	expect_err(write(w, "x", 1), EPIPE, "ignored SIGPIPE: write gets EPIPE");
	close(w);

	set_handler(SIGPIPE, on_pipe, 0);
	w = readerless(fds);
	expect_err(write(w, "abc", 3), EPIPE, "handled SIGPIPE: write gets EPIPE");
	check(pipes_seen == 1, "handler ran once");
	struct iovec iov = {"zz", 2};
	expect_err(writev(w, &iov, 1), EPIPE, "writev to readerless pipe");
	check(pipes_seen == 2, "handler ran again for writev");
	close(w);

	mask_sig(SIG_BLOCK, SIGPIPE);
	w = readerless(fds);
	expect_err(write(w, "x", 1), EPIPE, "blocked SIGPIPE: EPIPE");
	sigset_t pend;
	sigpending(&pend);
	check(sigismember(&pend, SIGPIPE) && pipes_seen == 2, "SIGPIPE pending while blocked");
	mask_sig(SIG_UNBLOCK, SIGPIPE);
	check(pipes_seen == 3, "delivered on unblock");
	close(w);

	/* Reader exits while the writer is blocked on a full pipe. */
	signal(SIGPIPE, SIG_DFL);
	expect_ok(pipe(fds), "pipe");
	p = xfork();
	if (p == 0) {
		close(fds[0]);
		static char big[1 << 17];
		memset(big, 'b', sizeof big);
		ssize_t n = write(fds[1], big, sizeof big); /* blocks, then SIGPIPE */
		_exit(n < 0 ? 2 : 3);
	}
	close(fds[1]);
	sleep_ms(100);
	char buf[100];
	check(read(fds[0], buf, sizeof buf) == 100, "reader got some data");
	close(fds[0]);
	expect_status(p, "signal SIGPIPE", "blocked writer killed when the reader closes");

	/* Ignored SIGPIPE is inherited across fork and exec (busybox echo). */
	signal(SIGPIPE, SIG_IGN);
	expect_ok(pipe(fds), "pipe");
	close(fds[0]);
	p = xfork();
	if (p == 0) {
		dup2(fds[1], 1);
		char *args[] = {"echo", "into a closed pipe", NULL};
		char *env[] = {NULL};
		execve("/bin/busybox", args, env);
		_exit(127);
	}
	close(fds[1]);
	expect_status(p, "exit 1", "busybox echo with SIGPIPE ignored gets EPIPE, exits 1");
	return finish();
}
