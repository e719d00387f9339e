/* Pseudo-terminals: posix_openpt, TIOCGPTN, TIOCSPTLCK (unlockpt),
 * TIOCGPTLCK, TIOCGPTPEER, and data both ways through the pair. */
#include "common.h"
#include <sys/ioctl.h>
#include <termios.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER 0x5441
#endif
#ifndef TIOCGPTLCK
#define TIOCGPTLCK 0x80045439
#endif

int main(int argc, char **argv)
{
	scratch(argc, argv);
	int m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0) {
		printf("ok no pseudo-terminals here: %s\n", errname(errno));
		return finish();
	}
	unsigned n = 12345;
	check(ioctl(m, TIOCGPTN, &n) == 0 && n != 12345, "TIOCGPTN");
	int lockd = -1;
	check(ioctl(m, TIOCGPTLCK, &lockd) == 0 && lockd == 1, "a new pty is locked");
	errno = 0;
	expect_err(ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY), EIO, "TIOCGPTPEER while locked");
	check(unlockpt(m) == 0, "unlockpt");
	check(ioctl(m, TIOCGPTLCK, &lockd) == 0 && lockd == 0, "now unlocked");
	char *name = ptsname(m);
	char want[32];
	snprintf(want, sizeof want, "/dev/pts/%u", n);
	check(name && strcmp(name, want) == 0, "ptsname matches TIOCGPTN");
	int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	check(s >= 0, "TIOCGPTPEER");
	check(fcntl(s, F_GETFD) == FD_CLOEXEC, "TIOCGPTPEER honours O_CLOEXEC");
	check(isatty(s), "the peer is a terminal");
	struct termios t;
	check(tcgetattr(s, &t) == 0, "tcgetattr on the peer");
	cfmakeraw(&t);
	check(tcsetattr(s, TCSANOW, &t) == 0, "raw mode");
	char b[16] = {0};
	check(write(m, "ping", 4) == 4, "write to the master");
	check(read(s, b, sizeof b) == 4 && memcmp(b, "ping", 4) == 0, "read from the peer");
	check(write(s, "pong", 4) == 4, "write to the peer");
	memset(b, 0, sizeof b);
	check(read(m, b, sizeof b) == 4 && memcmp(b, "pong", 4) == 0, "read from the master");
	int s2 = open(name, O_RDWR | O_NOCTTY);
	check(s2 >= 0, "open the slave by name");
	close(s2);
	int f = open("f", O_RDWR | O_CREAT, 0644);
	expect_err(ioctl(f, TIOCGPTN, &n), ENOTTY, "TIOCGPTN on a file");
	expect_err(ioctl(s, TIOCGPTPEER, O_RDWR), EIO, "TIOCGPTPEER on the slave");
	close(f);
	close(s);
	close(m);
	return finish();
}
