/* SIGSTOP/SIGCONT of a child seen by waitpid WUNTRACED/WCONTINUED; a stopped
 * child does not run; SIGKILL ends a stopped child; SIGCONT's handler runs
 * on continue; signals sent while stopped are delivered after SIGCONT. */
#include "proc.h"

#include <poll.h>

static volatile int conts, usr1s;
static void on_cont(int s) { (void)s; conts++; }
static void on_usr1(int s) { (void)s; usr1s++; }

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	int fds[2];
	expect_ok(pipe(fds), "pipe");

	/* A counting child: it writes a byte every 10 ms. */
	pid_t p = xfork();
	if (p == 0) {
		close(fds[0]);
		set_handler(SIGCONT, on_cont, SA_RESTART);
		set_handler(SIGUSR1, on_usr1, SA_RESTART);
		for (;;) {
			char b = (char)('0' + conts * 4 + usr1s);
			if (write(fds[1], &b, 1) != 1)
				_exit(1);
			sleep_ms(10);
		}
	}
	close(fds[1]);
	char buf[4096];
	check(read(fds[0], buf, 1) == 1, "child running and writing");
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	kill(p, SIGSTOP);
	int st = xwait(p, WUNTRACED);
	check(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "WUNTRACED: %s", statusstr(st));
	while (read(fds[0], buf, sizeof buf) > 0)
		;
	sleep_ms(80);
	errno = 0;
	check(read(fds[0], buf, sizeof buf) == -1 && errno == EAGAIN, "stopped child writes nothing");
	check(waitpid(p, &st, WNOHANG | WUNTRACED) == 0, "the stop is reported once");
	kill(p, SIGUSR1); /* stays pending while stopped */
	sleep_ms(30);
	kill(p, SIGCONT);
	st = xwait(p, WCONTINUED);
	check(WIFCONTINUED(st), "WCONTINUED: %s", statusstr(st));
	/* Wait (up to 5 s) for the byte that shows both handlers ran. */
	ssize_t n = 0;
	char last = 0;
	long t0 = now_ms();
	while (last != '0' + 4 + 1 && now_ms() - t0 < 5000) {
		struct pollfd pfd = {fds[0], POLLIN, 0};
		poll(&pfd, 1, 100);
		ssize_t r = read(fds[0], buf, sizeof buf);
		if (r > 0) {
			n += r;
			last = buf[r - 1];
		}
	}
	check(n > 0, "child runs again after SIGCONT");
	check(last == '0' + 4 + 1, "SIGCONT handler and the pending SIGUSR1 both ran after continue");

	/* Stop again, then SIGKILL while stopped. */
	kill(p, SIGSTOP);
	st = xwait(p, WUNTRACED);
	check(WIFSTOPPED(st), "stopped again");
	kill(p, SIGKILL);
	expect_status(p, "signal SIGKILL", "SIGKILL ends a stopped child");
	close(fds[0]);

	/* SIGTERM to a stopped child is delivered only after SIGCONT. */
	p = xfork();
	if (p == 0) {
		for (;;)
			pause();
	}
	kill(p, SIGSTOP);
	st = xwait(p, WUNTRACED);
	check(WIFSTOPPED(st), "sleeper stopped");
	kill(p, SIGTERM);
	sleep_ms(50);
	check(waitpid(p, &st, WNOHANG) == 0, "SIGTERM does not end a stopped child yet");
	kill(p, SIGCONT);
	expect_status(p, "signal SIGTERM", "SIGTERM acts after SIGCONT");

	/* A child that stops itself with raise(SIGSTOP); the parent continues it. */
	p = xfork();
	if (p == 0) {
		raise(SIGSTOP);
		_exit(12);
	}
	st = xwait(p, WUNTRACED);
	check(WIFSTOPPED(st) && WSTOPSIG(st) == SIGSTOP, "self-stop seen: %s", statusstr(st));
	kill(p, SIGCONT);
	expect_status(p, "exit 12", "self-stopped child finishes after SIGCONT");

	/* Without WUNTRACED a stop is not reported: waitpid waits for the exit. */
	p = xfork();
	if (p == 0) {
		raise(SIGSTOP);
		_exit(13);
	}
	siginfo_t si;
	memset(&si, 0, sizeof si);
	check(waitid(P_PID, p, &si, WSTOPPED | WNOWAIT) == 0 && si.si_code == CLD_STOPPED, "stop seen with WNOWAIT");
	check(waitpid(p, &st, WNOHANG) == 0, "plain WNOHANG ignores the stop");
	kill(p, SIGCONT);
	expect_status(p, "exit 13", "exit after continue");
	return finish();
}
