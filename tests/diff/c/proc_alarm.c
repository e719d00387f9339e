/* alarm and setitimer(ITIMER_REAL); SA_RESTART vs EINTR on a blocking pipe
 * read interrupted by SIGALRM; nanosleep is not restarted; SIGALRM's default
 * action; alarm is not inherited by fork. */
#include "proc.h"

static volatile int alarms;
static void on_alrm(int s) { (void)s; alarms++; }

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	set_handler(SIGALRM, on_alrm, 0);

	check(alarm(5) == 0, "first alarm returns 0");
	unsigned left = alarm(0);
	check(left >= 4 && left <= 5, "alarm(0) returns the seconds left");
	check(alarm(0) == 0, "no alarm pending now");

	/* alarm(1) then pause. */
	long t0 = now_ms();
	alarm(1);
	int rc = pause();
	long dt = now_ms() - t0;
	check(rc == -1 && errno == EINTR && alarms == 1, "pause interrupted by SIGALRM");
	check(dt >= 900 && dt < 5000, "alarm(1) fired after about a second");

	/* setitimer interval: 5 ticks of 20 ms. */
	struct itimerval it = {{0, 20000}, {0, 20000}}, old;
	alarms = 0;
	expect_ok(setitimer(ITIMER_REAL, &it, NULL), "setitimer 20 ms interval");
	while (alarms < 5)
		pause();
	struct itimerval cur;
	getitimer(ITIMER_REAL, &cur);
	check(cur.it_interval.tv_usec == 20000 && cur.it_interval.tv_sec == 0, "getitimer interval");
	memset(&it, 0, sizeof it);
	setitimer(ITIMER_REAL, &it, &old);
	check(old.it_interval.tv_usec == 20000, "setitimer returned the old interval");
	check(alarms == 5, "five ticks counted");
	getitimer(ITIMER_REAL, &cur);
	check(cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0, "timer disarmed");

	/* Blocking pipe read: without SA_RESTART it fails with EINTR. */
	int fds[2];
	expect_ok(pipe(fds), "pipe");
	struct itimerval once = {{0, 0}, {0, 50000}};
	alarms = 0;
	set_handler(SIGALRM, on_alrm, 0);
	setitimer(ITIMER_REAL, &once, NULL);
	char buf[16];
	errno = 0;
	ssize_t n = read(fds[0], buf, sizeof buf);
	check(n == -1 && errno == EINTR && alarms == 1, "read interrupted without SA_RESTART: EINTR");

	/* With SA_RESTART the read continues and gets the child's data. */
	set_handler(SIGALRM, on_alrm, SA_RESTART);
	alarms = 0;
	pid_t p = xfork();
	if (p == 0) {
		sleep_ms(300);
		if (write(fds[1], "late", 4) != 4)
			_exit(1);
		_exit(0);
	}
	setitimer(ITIMER_REAL, &once, NULL);
	n = read(fds[0], buf, sizeof buf);
	check(n == 4 && memcmp(buf, "late", 4) == 0 && alarms == 1, "read restarted after SIGALRM with SA_RESTART and got the data");
	expect_status(p, "exit 0", "late writer");

	/* wait4 is restarted too; nanosleep never is. */
	p = xfork();
	if (p == 0) {
		sleep_ms(200);
		_exit(6);
	}
	alarms = 0;
	setitimer(ITIMER_REAL, &once, NULL);
	int st;
	pid_t w = waitpid(p, &st, 0);
	check(w == p && WEXITSTATUS(st) == 6 && alarms == 1, "waitpid restarted with SA_RESTART");
	alarms = 0;
	setitimer(ITIMER_REAL, &once, NULL);
	struct timespec req = {2, 0}, rem = {0, 0};
	errno = 0;
	rc = nanosleep(&req, &rem);
	check(rc == -1 && errno == EINTR && alarms == 1, "nanosleep interrupted even with SA_RESTART");
	check(rem.tv_sec <= 2 && (rem.tv_sec > 0 || rem.tv_nsec > 0), "nanosleep reports the remaining time");

	/* Alarm pending in the parent is not inherited by a child. */
	alarm(10);
	p = xfork();
	if (p == 0)
		_exit(alarm(0) == 0 ? 0 : 1);
	expect_status(p, "exit 0", "child has no alarm");
	alarm(0);

	/* Default action of SIGALRM terminates. */
	p = xfork();
	if (p == 0) {
		signal(SIGALRM, SIG_DFL);
		struct itimerval t = {{0, 0}, {0, 30000}};
		setitimer(ITIMER_REAL, &t, NULL);
		for (;;)
			pause();
	}
	expect_status(p, "signal SIGALRM", "SIGALRM default action");
	expect_err(setitimer(7, &once, NULL), EINVAL, "setitimer bad which");
	return finish();
}
