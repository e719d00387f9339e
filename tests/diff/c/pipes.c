/* pipe/pipe2 within one process: data order, EOF, capacity, nonblocking, F_GETPIPE_SZ. */
#include "common.h"

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (int i = 3; i < 1024; i++)
		close(i);
	int p[2];
	check(pipe(p) == 0 && p[0] == 3 && p[1] == 4, "pipe gives fds 3,4");
	check(write(p[1], "hello ", 6) == 6 && write(p[1], "world", 5) == 5, "two writes");
	char buf[65536 * 2];
	check(read(p[0], buf, 3) == 3 && !memcmp(buf, "hel", 3), "partial read");
	check(read(p[0], buf, 100) == 8 && !memcmp(buf, "lo world", 8), "rest in one read");
	expect_err(write(p[0], "x", 1), EBADF, "write to read end");
	expect_err(read(p[1], buf, 1), EBADF, "read from write end");
	close(p[1]);
	check(read(p[0], buf, 10) == 0, "EOF after writer closed");
	close(p[0]);

	int q[2];
	check(pipe2(q, O_CLOEXEC | O_NONBLOCK) == 0, "pipe2 CLOEXEC|NONBLOCK");
	check(fcntl(q[0], F_GETFD) == FD_CLOEXEC && fcntl(q[1], F_GETFD) == FD_CLOEXEC, "both cloexec");
	check((fcntl(q[0], F_GETFL) & O_NONBLOCK) && (fcntl(q[1], F_GETFL) & O_NONBLOCK), "both nonblocking");
	check((fcntl(q[0], F_GETFL) & O_ACCMODE) == O_RDONLY && (fcntl(q[1], F_GETFL) & O_ACCMODE) == O_WRONLY, "access modes");
	expect_err(read(q[0], buf, 1), EAGAIN, "empty nonblocking read");
	expect_err(syscall(SYS_pipe2, q, 0x12345), EINVAL, "pipe2 bad flags");

	int sz = fcntl(q[1], F_GETPIPE_SZ);
	check(sz == 65536, "F_GETPIPE_SZ=%d", sz);
	memset(buf, 'p', sizeof buf);
	long total = 0;
	for (;;) {
		ssize_t w = write(q[1], buf, 4096);
		if (w < 0) {
			check(errno == EAGAIN, "full pipe write EAGAIN");
			break;
		}
		total += w;
	}
	check(total == sz, "pipe held %ld bytes", total);
	int avail = 0;
	check(read(q[0], buf, 1000) == 1000, "read 1000 from full pipe");
	(void)avail;
	ssize_t w = write(q[1], buf, 4096);
	check(w == -1 && errno == EAGAIN, "not enough room for a 4096 write (atomic PIPE_BUF)");
	while (read(q[0], buf, sizeof buf) > 0)
		;
	check(fcntl(q[1], F_SETPIPE_SZ, 4096 * 4) >= 4096 * 4, "F_SETPIPE_SZ 16 KiB");
	check(fcntl(q[1], F_GETPIPE_SZ) == 4096 * 4, "new size read back");
	total = 0;
	while ((w = write(q[1], buf, 1000)) > 0)
		total += w;
	check(total > 4096 * 3 && total <= 4096 * 4, "smaller pipe holds %ld", total);
	close(q[0]);
	close(q[1]);

	/* large transfer through a blocking pipe in chunks smaller than capacity */
	int r[2];
	pipe(r);
	uint32_t h1 = 0, h2 = 0;
	for (int round = 0; round < 64; round++) {
		for (int i = 0; i < 16384; i++) {
			buf[i] = (char)(round * 31 + i);
			h1 = h1 * 31 + (unsigned char)buf[i];
		}
		write(r[1], buf, 16384);
		size_t got = 0;
		while (got < 16384) {
			ssize_t n = read(r[0], buf + 20000 + got, 16384 - got);
			if (n <= 0)
				break;
			got += n;
		}
		for (int i = 0; i < 16384; i++)
			h2 = h2 * 31 + (unsigned char)buf[20000 + i];
	}
	check(h1 == h2, "1 MiB through pipe intact");
	printf("hash=%08x\n", h1);
	return finish();
}
