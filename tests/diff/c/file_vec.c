/* pread64/pwrite64/readv/writev/preadv/pwritev and their offsets. */
#include "common.h"
#include <sys/uio.h>

int main(int argc, char **argv)
{
	scratch(argc, argv);
	int fd = open("v.bin", O_RDWR | O_CREAT | O_TRUNC, 0644);
	expect_ok(fd, "open");

	struct iovec iov[3] = {
		{ "alpha-", 6 }, { "", 0 }, { "beta-gamma", 10 },
	};
	check(writev(fd, iov, 3) == 16, "writev 16");
	check(lseek(fd, 0, SEEK_CUR) == 16, "offset after writev");
	check(pwrite(fd, "XY", 2, 2) == 2, "pwrite at 2");
	check(lseek(fd, 0, SEEK_CUR) == 16, "pwrite keeps offset");

	char a[4] = {0}, b[8] = {0}, c[16] = {0};
	check(pread(fd, a, 3, 0) == 3 && memcmp(a, "alX", 3) == 0, "pread '%.3s'", a);
	check(lseek(fd, 0, SEEK_CUR) == 16, "pread keeps offset");

	lseek(fd, 0, SEEK_SET);
	struct iovec r[3] = { { a, 3 }, { b, 7 }, { c, 16 } };
	ssize_t n = readv(fd, r, 3);
	check(n == 16, "readv n=%zd", n);
	check(memcmp(a, "alX", 3) == 0 && memcmp(b, "Ya-beta", 7) == 0 && memcmp(c, "-gamma", 6) == 0,
	      "readv split '%.3s' '%.7s' '%.6s'", a, b, c);

	struct iovec w2[2] = { { "11", 2 }, { "22", 2 } };
	check(pwritev(fd, w2, 2, 20) == 4, "pwritev at 20");
	check(lseek(fd, 0, SEEK_CUR) == 16, "pwritev keeps offset");
	struct stat st;
	fstat(fd, &st);
	check(st.st_size == 24, "size after pwritev=%lld", (long long)st.st_size);

	char x[3] = {0}, y[3] = {0};
	struct iovec r2[2] = { { x, 2 }, { y, 2 } };
	check(preadv(fd, r2, 2, 20) == 4 && memcmp(x, "11", 2) == 0 && memcmp(y, "22", 2) == 0, "preadv");
	char z[8];
	check(pread(fd, z, 8, 100) == 0, "pread past EOF = 0");

	/* raw syscalls: pread64/pwrite64, preadv/pwritev with split offset args */
	check(syscall(SYS_pwrite64, fd, "RAW", 3, 30L) == 3, "SYS_pwrite64");
	memset(z, 0, sizeof z);
	check(syscall(SYS_pread64, fd, z, 3, 30L) == 3 && memcmp(z, "RAW", 3) == 0, "SYS_pread64");
	struct iovec w3 = { "pv", 2 };
	check(syscall(SYS_pwritev, fd, &w3, 1, 40L, 0L) == 2, "SYS_pwritev");
	memset(z, 0, sizeof z);
	struct iovec r3 = { z, 2 };
	check(syscall(SYS_preadv, fd, &r3, 1, 40L, 0L) == 2 && memcmp(z, "pv", 2) == 0, "SYS_preadv");

	expect_err(pread(fd, z, 1, -1), EINVAL, "pread negative offset");
	struct iovec bad = { z, 1 };
	expect_err(syscall(SYS_readv, fd, &bad, -1), EINVAL, "readv iovcnt -1");
	expect_err(syscall(SYS_readv, fd, &bad, 1025), EINVAL, "readv iovcnt 1025");
	check(readv(fd, &bad, 0) == 0, "readv iovcnt 0");

	int p[2];
	check(pipe(p) == 0, "pipe");
	expect_err(pread(p[0], z, 1, 0), ESPIPE, "pread on pipe");
	expect_err(pwrite(p[1], z, 1, 0), ESPIPE, "pwrite on pipe");
	expect_err(lseek(p[0], 0, SEEK_SET), ESPIPE, "lseek on pipe");
	check(writev(p[1], iov, 3) == 16, "writev to pipe");
	memset(c, 0, sizeof c);
	check(read(p[0], c, 16) == 16 && memcmp(c, "alpha-beta-gamma", 16) == 0, "pipe gets '%.16s'", c);
	close(p[0]);
	close(p[1]);

	/* large writev: many iovecs */
	static char big[64][100];
	struct iovec many[64];
	for (int i = 0; i < 64; i++) {
		memset(big[i], 'a' + i % 26, 100);
		many[i].iov_base = big[i];
		many[i].iov_len = 100;
	}
	ftruncate(fd, 0);
	check(pwritev(fd, many, 64, 0) == 6400, "pwritev 64 iovecs");
	char chk[6400];
	check(pread(fd, chk, 6400, 0) == 6400 && chk[0] == 'a' && chk[6399] == 'a' + 63 % 26, "content of 64 iovecs");
	close(fd);
	return finish();
}
