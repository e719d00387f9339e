/* vfork: the parent is suspended until the child execs or exits, memory is
 * shared until then; vfork+execve and vfork+_exit; posix_spawn. */
#include "proc.h"

#include <spawn.h>

extern char **environ;
static volatile int shared_word;

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	pid_t me = getpid();

	/* The child's store is visible to the parent, which ran only after _exit. */
	shared_word = 1;
	fflush(stdout);
	pid_t p = vfork();
	if (p == 0) {
		shared_word = 2;
		_exit(getppid() == me ? 11 : 12);
	}
	check(p > 0, "vfork returned a pid");
	check(shared_word == 2, "parent sees the vfork child's store (%d)", shared_word);
	expect_status(p, "exit 11", "vfork child saw getppid()==parent");

	/* The parent does not run until the child has exited: the child sleeps first. */
	shared_word = 0;
	long t0 = now_ms();
	fflush(stdout);
	p = vfork();
	if (p == 0) {
		struct timespec ts = {0, 150 * 1000000L};
		nanosleep(&ts, NULL);
		shared_word = 5;
		_exit(0);
	}
	long waited = now_ms() - t0;
	check(shared_word == 5 && waited >= 140, "parent suspended until the child exited");
	expect_status(p, "exit 0", "sleeping vfork child");

	/* vfork + execve of busybox (a static binary): the parent resumes at exec. */
	int fds[2];
	expect_ok(pipe(fds), "pipe");
	fflush(stdout);
	p = vfork();
	if (p == 0) {
		dup2(fds[1], 1);
		char *args[] = {"echo", "from", "exec'd", "busybox", NULL};
		execve("/bin/busybox", args, environ);
		_exit(127);
	}
	close(fds[1]);
	char buf[128] = {0};
	ssize_t n = 0, r;
	while ((r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
		n += r;
	close(fds[0]);
	check(strcmp(buf, "from exec'd busybox\n") == 0, "vfork+execve output: %s", strtok(buf, "\n") ? buf : "");
	expect_status(p, "exit 0", "vfork+execve busybox");

	/* vfork + failing execve: errno is seen by the child; exit 127. */
	fflush(stdout);
	volatile int child_errno = 0;
	p = vfork();
	if (p == 0) {
		char *args[] = {"nothere", NULL};
		execve("/nonexistent/prog", args, environ);
		child_errno = errno;
		_exit(127);
	}
	check(child_errno == ENOENT, "vfork child's failed execve errno=%s", errname(child_errno));
	expect_status(p, "exit 127", "vfork child after failed exec");

	/* posix_spawn (glibc and musl use CLONE_VM|CLONE_VFORK) with file actions. */
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "spawned.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char *sargs[] = {"busybox", "echo", "spawned", NULL};
	pid_t sp;
	fflush(stdout);
	int rc = posix_spawn(&sp, "/bin/busybox", &fa, NULL, sargs, environ);
	check(rc == 0, "posix_spawn rc=%d", rc);
	if (rc == 0)
		expect_status(sp, "exit 0", "spawned busybox");
	int fd = open("spawned.txt", O_RDONLY);
	memset(buf, 0, sizeof buf);
	check(fd >= 0 && read(fd, buf, sizeof buf) == 8 && !strcmp(buf, "spawned\n"), "posix_spawn file action redirected stdout");
	close(fd);
	posix_spawn_file_actions_destroy(&fa);

	/* posix_spawn of a missing program fails with ENOENT (reported by the library). */
	char *bad[] = {"x", NULL};
	rc = posix_spawn(&sp, "/nonexistent", NULL, NULL, bad, environ);
	if (rc == 0) {
		int st = xwait(sp, 0);
		check(0, "posix_spawn of a missing program succeeded (%s)", statusstr(st));
	} else {
		check(rc == ENOENT, "posix_spawn missing program rc=%s", errname(rc));
	}

	/* A vfork child that is killed by a signal also releases the parent. */
	fflush(stdout);
	p = vfork();
	if (p == 0) {
		no_core();
		kill(getpid(), SIGKILL);
		_exit(1);
	}
	expect_status(p, "signal SIGKILL", "vfork child killed");

	return finish();
}
