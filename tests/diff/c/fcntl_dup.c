/* fcntl (GETFD/SETFD/GETFL/SETFL/DUPFD/DUPFD_CLOEXEC), dup/dup2/dup3, close_range. */
#include "common.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int main(int argc, char **argv)
{
	scratch(argc, argv);
	for (int i = 3; i < 1024; i++)
		close(i); /* start from a clean fd table whatever the parent left open */
	int fd = open("f", O_RDWR | O_CREAT, 0644);
	expect_ok(fd, "open");
	check(fcntl(fd, F_GETFD) == 0, "F_GETFD=0");
	check(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC, "F_SETFD cloexec");
	int fl = fcntl(fd, F_GETFL);
	check((fl & O_ACCMODE) == O_RDWR && !(fl & O_APPEND), "F_GETFL rdwr");
	check(fcntl(fd, F_SETFL, O_APPEND | O_NONBLOCK) == 0, "F_SETFL append|nonblock");
	fl = fcntl(fd, F_GETFL);
	check((fl & O_APPEND) && (fl & O_NONBLOCK) && (fl & O_ACCMODE) == O_RDWR, "F_GETFL shows append|nonblock");
	fcntl(fd, F_SETFL, 0);
	check(!(fcntl(fd, F_GETFL) & (O_APPEND | O_NONBLOCK)), "F_SETFL clears");

	int d = fcntl(fd, F_DUPFD, 10);
	check(d == 10, "F_DUPFD >=10 gives 10");
	check(fcntl(d, F_GETFD) == 0, "dup clears cloexec");
	int d2 = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	check(d2 == 11 && fcntl(d2, F_GETFD) == FD_CLOEXEC, "F_DUPFD_CLOEXEC gives 11 with cloexec");
	expect_err(fcntl(9999, F_GETFD), EBADF, "fcntl bad fd");
	expect_err(fcntl(fd, F_DUPFD, -1), EINVAL, "F_DUPFD negative");
	expect_err(fcntl(fd, 12345), EINVAL, "fcntl bad cmd");

	/* shared offset between dups */
	write(fd, "abcdef", 6);
	check(lseek(d, 0, SEEK_CUR) == 6, "dup shares offset");
	lseek(d, 2, SEEK_SET);
	check(lseek(fd, 0, SEEK_CUR) == 2, "offset shared both ways");
	fcntl(d, F_SETFL, O_APPEND);
	check(fcntl(fd, F_GETFL) & O_APPEND, "status flags shared");
	fcntl(d, F_SETFL, 0);

	int e = dup(fd);
	check(e == 4, "dup returns lowest free fd=%d", e);
	check(fcntl(e, F_GETFD) == 0, "dup no cloexec");
	check(dup2(fd, 20) == 20, "dup2 to 20");
	check(dup2(fd, fd) == fd, "dup2 same fd");
	expect_err(dup2(fd, -1), EBADF, "dup2 negative");
	expect_err(dup2(9999, 21), EBADF, "dup2 bad old");
	check(dup3(fd, 21, O_CLOEXEC) == 21 && fcntl(21, F_GETFD) == FD_CLOEXEC, "dup3 O_CLOEXEC");
	expect_err(syscall(SYS_dup3, fd, fd, 0), EINVAL, "dup3 same fd");
	expect_err(syscall(SYS_dup3, fd, 22, 0x1234), EINVAL, "dup3 bad flags");
	check(syscall(SYS_dup2, fd, 22) == 22, "SYS_dup2");
	check(syscall(SYS_dup, fd) >= 0, "SYS_dup");
	check(syscall(SYS_dup3, fd, 23, 0) == 23, "SYS_dup3");
	/* dup2 onto an open fd closes it silently */
	int g = open("f", O_RDONLY);
	check(dup2(fd, g) == g && (fcntl(g, F_GETFL) & O_ACCMODE) == O_RDWR, "dup2 replaces open fd");

	/* RLIMIT-bound F_DUPFD and high fds */
	check(fcntl(fd, F_DUPFD, 1000) == 1000, "F_DUPFD 1000");

	/* close_range */
	for (int i = 30; i < 40; i++)
		dup2(fd, i);
	check(syscall(SYS_close_range, 30, 34, 0) == 0, "close_range 30-34");
	int closed = 0, open_ = 0;
	for (int i = 30; i < 40; i++) {
		if (fcntl(i, F_GETFD) == -1 && errno == EBADF)
			closed++;
		else
			open_++;
	}
	check(closed == 5 && open_ == 5, "close_range closed=%d open=%d", closed, open_);
	check(syscall(SYS_close_range, 35, 39, CLOSE_RANGE_CLOEXEC) == 0, "close_range CLOEXEC");
	check(fcntl(35, F_GETFD) == FD_CLOEXEC && fcntl(39, F_GETFD) == FD_CLOEXEC, "cloexec set by close_range");
	expect_err(syscall(SYS_close_range, 40, 30, 0), EINVAL, "close_range first>last");
	check(syscall(SYS_close_range, 35, ~0U, 0) == 0, "close_range to ~0");
	check(fcntl(35, F_GETFD) == -1 && fcntl(1000, F_GETFD) == -1 && fcntl(fd, F_GETFD) >= 0, "close_range to max closed high fds only");

	/* O_NONBLOCK on pipe via fcntl */
	int p[2];
	pipe(p);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	char c;
	expect_err(read(p[0], &c, 1), EAGAIN, "nonblocking empty pipe read");
	check(fcntl(p[0], F_GETFL) & O_NONBLOCK, "pipe O_NONBLOCK set");
	return finish();
}
