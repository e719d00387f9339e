/* ioctl on non-ttys: TCGETS/TIOCGWINSZ -> ENOTTY; FIONREAD, FIONBIO, FIOCLEX, FIONCLEX. */
#include "common.h"
#include <sys/ioctl.h>
#include <termios.h>

int main(int argc, char **argv)
{
	scratch(argc, argv);
	write_file("f", "0123456789", 10);
	int fd = open("f", O_RDONLY);
	struct termios t;
	struct winsize ws;
	expect_err(ioctl(fd, TCGETS, &t), ENOTTY, "TCGETS on file");
	expect_err(ioctl(fd, TIOCGWINSZ, &ws), ENOTTY, "TIOCGWINSZ on file");
	check(isatty(fd) == 0 && errno == ENOTTY, "isatty(file)=0");
	int p[2];
	pipe(p);
	expect_err(ioctl(p[0], TCGETS, &t), ENOTTY, "TCGETS on pipe");
	expect_err(ioctl(p[1], TIOCGWINSZ, &ws), ENOTTY, "TIOCGWINSZ on pipe");
	int nfd = open("/dev/null", O_RDWR);
	expect_err(ioctl(nfd, TCGETS, &t), ENOTTY, "TCGETS on /dev/null");
	expect_err(ioctl(9999, TCGETS, &t), EBADF, "ioctl bad fd");

	int n = -1;
	check(ioctl(fd, FIONREAD, &n) == 0 && n == 10, "FIONREAD file=%d", n);
	lseek(fd, 4, SEEK_SET);
	check(ioctl(fd, FIONREAD, &n) == 0 && n == 6, "FIONREAD after seek=%d", n);
	check(ioctl(p[0], FIONREAD, &n) == 0 && n == 0, "FIONREAD empty pipe=%d", n);
	write(p[1], "hello", 5);
	check(ioctl(p[0], FIONREAD, &n) == 0 && n == 5, "FIONREAD pipe=%d", n);

	int on = 1, off = 0;
	check(ioctl(p[0], FIONBIO, &on) == 0 && (fcntl(p[0], F_GETFL) & O_NONBLOCK), "FIONBIO on");
	char buf[8];
	read(p[0], buf, 5);
	expect_err(read(p[0], buf, 1), EAGAIN, "read nonblocking");
	check(ioctl(p[0], FIONBIO, &off) == 0 && !(fcntl(p[0], F_GETFL) & O_NONBLOCK), "FIONBIO off");

	check(ioctl(fd, FIOCLEX) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC, "FIOCLEX");
	check(ioctl(fd, FIONCLEX) == 0 && fcntl(fd, F_GETFD) == 0, "FIONCLEX");
	check(syscall(SYS_ioctl, fd, FIOCLEX, 0) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC, "SYS_ioctl FIOCLEX");
	expect_err(ioctl(fd, 0x5401ff, 0), ENOTTY, "unknown ioctl on file");
	return finish();
}
