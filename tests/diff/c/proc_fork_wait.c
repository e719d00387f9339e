/* fork and wait: return values, exit codes, deaths by signal, wait/waitpid/
 * wait4 variants, ECHILD, zombies until reaped, fd and memory inheritance. */
#include "proc.h"

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	pid_t me = getpid();

	/* Exit codes, one child at a time. */
	int codes[] = {0, 1, 2, 42, 127, 255};
	for (unsigned i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		pid_t p = xfork();
		if (p == 0)
			_exit(codes[i]);
		int st = xwait(p, 0);
		check(WIFEXITED(st) && WEXITSTATUS(st) == codes[i], "child exit %d -> %s", codes[i], statusstr(st));
	}

	/* exit(256) truncates to 0; return from main in a child runs atexit. */
	pid_t p = xfork();
	if (p == 0)
		exit(256);
	expect_status(p, "exit 0", "exit(256) seen as");

	/* The child sees its parent; fork returns 0 in it and the pid in the parent. */
	int fds[2];
	expect_ok(pipe(fds), "pipe");
	p = xfork();
	if (p == 0) {
		close(fds[0]);
		pid_t mine = getpid();
		int ok = getppid() == me && mine != me;
		if (write(fds[1], &mine, sizeof mine) != sizeof mine)
			ok = 0;
		_exit(ok ? 7 : 1);
	}
	close(fds[1]);
	pid_t reported = 0;
	check(read(fds[0], &reported, sizeof reported) == sizeof reported, "read child's own pid");
	check(reported == p, "fork's return value is the child's getpid()");
	close(fds[0]);
	expect_status(p, "exit 7", "child saw getppid()==parent");

	/* Deaths by signal. */
	int sigs[] = {SIGKILL, SIGTERM, SIGUSR1, SIGABRT, SIGINT};
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		p = xfork();
		if (p == 0) {
			no_core();
			kill(getpid(), sigs[i]);
			sleep_ms(2000);
			_exit(99);
		}
		int st = xwait(p, 0);
		check(WIFSIGNALED(st) && WTERMSIG(st) == sigs[i], "child raising %s -> %s", signame(sigs[i]), statusstr(st));
	}
	p = xfork();
	if (p == 0) {
		no_core();
		abort();
	}
	expect_status(p, "signal SIGABRT", "abort()");

	/* Parent kills a sleeping child. */
	p = xfork();
	if (p == 0) {
		sleep_ms(5000);
		_exit(3);
	}
	expect_ok(kill(p, SIGTERM), "kill(child, SIGTERM)");
	expect_status(p, "signal SIGTERM", "killed child");

	/* Several children reaped by wait() in some order: match by pid. */
	enum { N = 8 };
	pid_t kids[N];
	for (int i = 0; i < N; i++) {
		kids[i] = xfork();
		if (kids[i] == 0) {
			sleep_ms((N - i) * 5);
			_exit(10 + i);
		}
	}
	int seen = 0, good = 0;
	for (int i = 0; i < N; i++) {
		int st;
		pid_t r = wait(&st);
		for (int k = 0; k < N; k++)
			if (kids[k] == r) {
				seen |= 1 << k;
				if (WIFEXITED(st) && WEXITSTATUS(st) == 10 + k)
					good++;
			}
	}
	check(seen == (1 << N) - 1 && good == N, "wait() reaped %d children, %d with the right code", __builtin_popcount(seen), good);
	errno = 0;
	expect_err(wait(NULL), ECHILD, "wait with no children");
	expect_err(waitpid(-1, NULL, WNOHANG), ECHILD, "waitpid WNOHANG with no children");
	expect_err(waitpid(me, NULL, 0), ECHILD, "waitpid on self");
	expect_err(waitpid(-1, NULL, 0x100 /* bogus */), EINVAL, "waitpid bad options");
	expect_err(wait4(-1, NULL, WNOWAIT, NULL), EINVAL, "wait4 WNOWAIT");

	/* waitpid for a specific child leaves the others. */
	pid_t a = xfork();
	if (a == 0)
		_exit(21);
	pid_t b = xfork();
	if (b == 0)
		_exit(22);
	int st;
	check(waitpid(b, &st, 0) == b && WEXITSTATUS(st) == 22, "waitpid(b) got b");
	check(waitpid(a, &st, 0) == a && WEXITSTATUS(st) == 21, "waitpid(a) got a");

	/* WNOHANG on a running child, then a zombie stays until reaped. */
	int go[2];
	expect_ok(pipe(go), "pipe for go");
	p = xfork();
	if (p == 0) {
		char c;
		close(go[1]);
		ssize_t n = read(go[0], &c, 1);
		_exit(n == 1 ? 5 : 6);
	}
	close(go[0]);
	check(waitpid(p, &st, WNOHANG) == 0, "WNOHANG on a running child returns 0");
	check(write(go[1], "x", 1) == 1, "release child");
	close(go[1]);
	sleep_ms(100);
	check(kill(p, 0) == 0, "zombie still exists for kill(pid, 0)");
	struct rusage ru;
	memset(&ru, 0xff, sizeof ru);
	check(wait4(p, &st, 0, &ru) == p && WEXITSTATUS(st) == 5, "wait4 reaps zombie -> %s", statusstr(st));
	check(ru.ru_utime.tv_usec >= 0 && ru.ru_utime.tv_usec < 1000000 && ru.ru_stime.tv_usec < 1000000, "wait4 filled rusage");
	errno = 0;
	expect_err(kill(p, 0), ESRCH, "kill(reaped, 0)");

	/* wait4 via the raw syscall with a NULL status pointer. */
	p = xfork();
	if (p == 0)
		_exit(9);
	check(syscall(SYS_wait4, p, NULL, 0, NULL) == p, "raw wait4 with NULL status");

	/* The child inherits fds and a copy of memory; its writes go to the shared file offset. */
	int fd = open("shared.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
	expect_ok(fd, "open shared.txt");
	check(write(fd, "parent1\n", 8) == 8, "parent write");
	p = xfork();
	if (p == 0) {
		check(write(fd, "child\n", 6) == 6, "child writes via inherited fd");
		child_exit(0);
	}
	expect_status(p, "exit 0", "fd child");
	check(lseek(fd, 0, SEEK_CUR) == 14, "offset shared with the child (%ld)", (long)lseek(fd, 0, SEEK_CUR));
	check(write(fd, "parent2\n", 8) == 8, "parent write after child");
	char buf[64] = {0};
	check(pread(fd, buf, sizeof buf - 1, 0) == 22 && !strcmp(buf, "parent1\nchild\nparent2\n"), "file has both writes in order");
	close(fd);

	/* Fork in a child: a chain of 5 generations each checking its parent. */
	pid_t parent = getpid();
	int depth = 0;
	for (; depth < 5; depth++) {
		p = xfork();
		if (p != 0)
			break;
		if (getppid() != parent)
			_exit(50);
		parent = getpid();
	}
	if (depth == 5)
		_exit(0);
	st = xwait(p, 0);
	if (depth > 0)
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 60);
	check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "five generations of fork -> %s", statusstr(st));

	return finish();
}
