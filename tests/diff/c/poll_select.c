/* poll/ppoll/select/pselect6 over pipes, files and closed fds. */
#include "common.h"
#include <poll.h>
#include <sys/select.h>
#include <signal.h>
#include <time.h>

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	for (int i = 3; i < 1024; i++)
		close(i);
	int p[2];
	check(pipe(p) == 0, "pipe");
	write_file("f", "file", 4);
	int f = open("f", O_RDONLY);

	struct pollfd fds[3] = { { p[0], POLLIN, 0 }, { p[1], POLLOUT, 0 }, { f, POLLIN | POLLOUT, 0 } };
	int n = poll(fds, 3, 0);
	check(n == 2, "poll: %d ready", n);
	printf("revents pipe-r=%x pipe-w=%x file=%x\n", fds[0].revents, fds[1].revents, fds[2].revents);

	write(p[1], "x", 1);
	n = poll(fds, 1, 1000);
	check(n == 1 && fds[0].revents == POLLIN, "pipe readable after write");

	long long t0 = now_ms();
	char c;
	read(p[0], &c, 1);
	n = poll(fds, 1, 100);
	long long el = now_ms() - t0;
	check(n == 0 && fds[0].revents == 0, "poll timeout returns 0");
	check(el >= 100 && el < 3000, "poll waited about 100ms");

	close(p[1]);
	n = poll(fds, 1, 0);
	check(n == 1 && (fds[0].revents & POLLHUP), "POLLHUP after writer closed revents=%x", fds[0].revents);
	int q[2];
	pipe(q);
	close(q[0]);
	struct pollfd w = { q[1], POLLOUT, 0 };
	check(poll(&w, 1, 0) == 1 && (w.revents & POLLERR), "POLLERR on write end without reader revents=%x", w.revents);

	struct pollfd bad[2] = { { 999, POLLIN, 0 }, { -1, POLLIN, 0 } };
	n = poll(bad, 2, 0);
	check(n == 1 && bad[0].revents == POLLNVAL && bad[1].revents == 0, "POLLNVAL closed fd, negative fd ignored");
	check(poll(NULL, 0, 10) == 0, "poll nfds=0 sleeps and returns 0");

	/* ppoll */
	int r[2];
	pipe(r);
	struct pollfd pr = { r[0], POLLIN, 0 };
	struct timespec ts = { 0, 20000000 };
	check(ppoll(&pr, 1, &ts, NULL) == 0, "ppoll timeout");
	write(r[1], "yy", 2);
	sigset_t ss;
	sigemptyset(&ss);
	check(ppoll(&pr, 1, &ts, &ss) == 1 && pr.revents == POLLIN, "ppoll ready with sigmask");
	check(syscall(SYS_ppoll, &pr, 1, NULL, NULL, 8) == 1, "SYS_ppoll no timeout, ready");

	/* select */
	fd_set rd, wr;
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(r[0], &rd);
	FD_SET(f, &rd);
	FD_SET(r[1], &wr);
	struct timeval tv = { 1, 0 };
	n = select(FD_SETSIZE > 64 ? 64 : FD_SETSIZE, &rd, &wr, NULL, &tv);
	check(n == 3 && FD_ISSET(r[0], &rd) && FD_ISSET(f, &rd) && FD_ISSET(r[1], &wr), "select 3 ready n=%d", n);
	read(r[0], &c, 1);
	read(r[0], &c, 1);
	FD_ZERO(&rd);
	FD_SET(r[0], &rd);
	tv.tv_sec = 0;
	tv.tv_usec = 50000;
	t0 = now_ms();
	n = select(r[0] + 1, &rd, NULL, NULL, &tv);
	el = now_ms() - t0;
	check(n == 0 && !FD_ISSET(r[0], &rd), "select timeout clears set");
	check(el >= 50 && el < 3000, "select waited about 50ms");
	FD_ZERO(&rd);
	FD_SET(50, &rd);
	tv.tv_usec = 0;
	expect_err(select(51, &rd, NULL, NULL, &tv), EBADF, "select closed fd");
	expect_err(select(-1, NULL, NULL, NULL, &tv), EINVAL, "select negative nfds");
	t0 = now_ms();
	tv.tv_usec = 20000;
	check(select(0, NULL, NULL, NULL, &tv) == 0 && now_ms() - t0 >= 20, "select as sleep");

	/* pselect */
	FD_ZERO(&rd);
	FD_SET(f, &rd);
	struct timespec pts = { 0, 0 };
	check(pselect(f + 1, &rd, NULL, NULL, &pts, &ss) == 1, "pselect file readable");
	write(r[1], "z", 1);
	FD_ZERO(&rd);
	FD_SET(r[0], &rd);
	struct { const sigset_t *ss; size_t len; } sigarg = { NULL, 8 };
	check(syscall(SYS_pselect6, r[0] + 1, &rd, NULL, NULL, &pts, &sigarg) == 1 && FD_ISSET(r[0], &rd), "SYS_pselect6");
	return finish();
}
