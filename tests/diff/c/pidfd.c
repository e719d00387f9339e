/* pidfd_open, pidfd_send_signal, waitid(P_PIDFD): a pidfd polls readable
 * when its process ends, reading it is EINVAL, and it names the process
 * for signals and waits. */
#include "proc.h"
#include <poll.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int readable(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

int main(void)
{
	int sync[2];
	check(pipe(sync) == 0, "pipe");
	pid_t c = xfork();
	if (c == 0) {
		char b;
		close(sync[1]);
		read(sync[0], &b, 1);
		_exit(3);
	}
	close(sync[0]);
	int fd = syscall(SYS_pidfd_open, c, 0);
	check(fd >= 0, "pidfd_open of a child");
	check(fcntl(fd, F_GETFD) == FD_CLOEXEC, "a pidfd is close-on-exec");
	check(!readable(fd, 0), "not readable while the child runs");
	char b[8];
	expect_err(read(fd, b, sizeof b), EINVAL, "read a pidfd");
	expect_err(syscall(SYS_pidfd_open, c, 1), EINVAL, "pidfd_open with bad flags");
	expect_err(syscall(SYS_pidfd_open, 0x3ffff0, 0), ESRCH, "pidfd_open of no process");
	expect_err(syscall(SYS_pidfd_send_signal, 0, SIGTERM, NULL, 0), EBADF, "pidfd_send_signal on a non-pidfd");
	check(syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0) == 0, "signal 0 through the pidfd");
	check(syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0) == 0, "SIGTERM through the pidfd");
	check(readable(fd, 5000), "readable once the child has ended");
	siginfo_t si;
	memset(&si, 0, sizeof si);
	check(waitid(P_PIDFD, fd, &si, WEXITED) == 0 && si.si_code == CLD_KILLED && si.si_status == SIGTERM,
	      "waitid(P_PIDFD) reaps it: killed by SIGTERM");
	expect_err(syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0), ESRCH, "signal a reaped process");
	close(sync[1]);
	close(fd);
	/* A child that exits by itself. */
	c = xfork();
	if (c == 0)
		_exit(5);
	fd = syscall(SYS_pidfd_open, c, 0);
	check(fd >= 0 && readable(fd, 5000), "pidfd of a child that exits becomes readable");
	expect_status(c, "exit 5", "reaped by waitpid");
	return finish();
}
