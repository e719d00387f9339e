/* Orphans: a grandchild whose parent exits is reparented (away from the dead
 * parent; to a PR_SET_CHILD_SUBREAPER ancestor when there is one) and can
 * then be reaped by it; zombies of a dead parent are cleaned up. */
#include "proc.h"

#include <sys/prctl.h>

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	int fds[2];

	/* Without a subreaper: only "not the dead parent any more". The test runs
	 * in a child so that the first process (pid 1 under elfuse) is not the
	 * reaper on one side only. */
	pid_t c = xfork();
	if (c == 0) {
		if (pipe(fds) < 0)
			_exit(90);
		pid_t m = xfork();
		if (m == 0) {
			pid_t first = getpid();
			pid_t g = xfork();
			if (g == 0) {
				close(fds[0]);
				/* wait until the middle process is gone */
				while (getppid() == first)
					sleep_ms(5);
				int ok = getppid() != first;
				if (write(fds[1], &ok, sizeof ok) != sizeof ok)
					_exit(91);
				_exit(0);
			}
			_exit(0);
		}
		close(fds[1]);
		int st = xwait(m, 0);
		check(WIFEXITED(st), "middle process exited");
		int ok = 0;
		check(read(fds[0], &ok, sizeof ok) == sizeof ok && ok, "grandchild reparented away from its dead parent");
		errno = 0;
		check(waitpid(-1, &st, WNOHANG) == -1 && errno == ECHILD, "the grandchild is not our child");
		child_exit(0);
	}
	expect_status(c, "exit 0", "no-subreaper scenario");

	/* With a subreaper (a non-initial process): the orphan comes to it. */
	c = xfork();
	if (c == 0) {
		expect_ok(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "PR_SET_CHILD_SUBREAPER");
		int v = 0;
		prctl(PR_GET_CHILD_SUBREAPER, &v, 0, 0, 0);
		check(v == 1, "PR_GET_CHILD_SUBREAPER");
		if (pipe(fds) < 0)
			_exit(90);
		pid_t me = getpid();
		pid_t m = xfork();
		if (m == 0) {
			pid_t first = getpid();
			pid_t g = xfork();
			if (g == 0) {
				close(fds[0]);
				while (getppid() == first)
					sleep_ms(5);
				int ok = getppid() == me;
				if (write(fds[1], &ok, sizeof ok) != sizeof ok)
					_exit(91);
				_exit(42);
			}
			if (write(fds[1], &g, sizeof g) != sizeof g)
				_exit(92);
			_exit(0);
		}
		close(fds[1]);
		pid_t g = 0;
		check(read(fds[0], &g, sizeof g) == sizeof g, "learned the grandchild's pid");
		expect_status(m, "exit 0", "middle process");
		int ok = 0;
		check(read(fds[0], &ok, sizeof ok) == sizeof ok && ok, "grandchild's new parent is the subreaper");
		expect_status(g, "exit 42", "subreaper reaps the adopted grandchild");
		child_exit(0);
	}
	expect_status(c, "exit 0", "subreaper scenario");

	/* The first process as the subreaper: orphans come to it on both sides. */
	expect_ok(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "subreaper on the top process");
	expect_ok(pipe(fds), "pipe");
	pid_t me = getpid();
	pid_t m = xfork();
	if (m == 0) {
		for (int i = 0; i < 3; i++) {
			pid_t g = xfork();
			if (g == 0) {
				while (getppid() != me)
					sleep_ms(5);
				char ch;
				close(fds[1]);
				if (read(fds[0], &ch, 1) < 0) /* until the top closes the pipe */
					_exit(1);
				_exit(60 + i);
			}
		}
		_exit(0);
	}
	expect_status(m, "exit 0", "middle with three children");
	close(fds[0]);
	sleep_ms(100);
	close(fds[1]);
	int codes = 0, st;
	pid_t r;
	while ((r = wait(&st)) > 0)
		if (WIFEXITED(st) && WEXITSTATUS(st) >= 60 && WEXITSTATUS(st) < 63)
			codes |= 1 << (WEXITSTATUS(st) - 60);
	check(codes == 7 && errno == ECHILD, "three adopted grandchildren reaped, then ECHILD");

	/* A parent that exits with unreaped zombie children: nothing is left over. */
	m = xfork();
	if (m == 0) {
		for (int i = 0; i < 3; i++)
			if (xfork() == 0)
				_exit(i);
		sleep_ms(50);
		_exit(0);
	}
	expect_status(m, "exit 0", "parent of zombies");
	int n = 0;
	while ((r = wait(&st)) > 0)
		n++;
	check(n == 3, "the zombies came to the subreaper and were reaped (%d)", n);
	return finish();
}
