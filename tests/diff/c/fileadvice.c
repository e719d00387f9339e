/* sync_file_range, readahead, fadvise64 (argument checks, pipes), and
 * preadv2/pwritev2: offset -1 as the file position, RWF_* flags
 * (RWF_APPEND, RWF_NOWAIT on an empty pipe, RWF_DSYNC), unknown flags. */
#include "common.h"
#include <sys/uio.h>

#ifndef RWF_HIPRI
#define RWF_HIPRI 0x1
#define RWF_DSYNC 0x2
#define RWF_SYNC 0x4
#define RWF_NOWAIT 0x8
#endif
#ifndef RWF_APPEND
#define RWF_APPEND 0x10
#endif

static long prv2(int fd, void *b, size_t n, long off, int flags)
{
	struct iovec v = {b, n};
	return syscall(SYS_preadv2, fd, &v, 1, off, 0, flags);
}

static long pwv2(int fd, const void *b, size_t n, long off, int flags)
{
	struct iovec v = {(void *)b, n};
	return syscall(SYS_pwritev2, fd, &v, 1, off, 0, flags);
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
	check(write(fd, "0123456789", 10) == 10, "file of 10 bytes");
	int p[2];
	check(pipe(p) == 0, "pipe");

	/* sync_file_range(fd, offset, nbytes, flags). */
	check(syscall(SYS_sync_file_range, fd, 0, 0, 7) == 0, "sync_file_range all flags");
	check(syscall(SYS_sync_file_range, fd, 0, 4096, 2) == 0, "sync_file_range write");
	errno = 0;
	expect_err(syscall(SYS_sync_file_range, fd, 0, 0, 8), EINVAL, "sync_file_range bad flag");
	expect_err(syscall(SYS_sync_file_range, fd, (long)-1, 0L, 2), EINVAL, "sync_file_range negative offset");
	expect_err(syscall(SYS_sync_file_range, fd, 0L, (long)-1, 2), EINVAL, "sync_file_range negative length");
	expect_err(syscall(SYS_sync_file_range, p[0], 0, 0, 2), ESPIPE, "sync_file_range on a pipe");
	expect_err(syscall(SYS_sync_file_range, 99, 0, 0, 2), EBADF, "sync_file_range bad fd");

	/* readahead(fd, offset, count). */
	check(syscall(SYS_readahead, fd, 0, 4096) == 0, "readahead");
	expect_err(syscall(SYS_readahead, p[0], 0, 10), EINVAL, "readahead on a pipe");
	int wo = open("f", O_WRONLY);
	expect_err(syscall(SYS_readahead, wo, 0, 10), EBADF, "readahead on a write-only fd");
	close(wo);
	expect_err(syscall(SYS_readahead, 99, 0, 10), EBADF, "readahead bad fd");

	/* fadvise64(fd, offset, len, advice). */
	for (int a = 0; a <= 5; a++)
		check(syscall(SYS_fadvise64, fd, 0, 0, a) == 0, "fadvise64 advice %d", a);
	expect_err(syscall(SYS_fadvise64, fd, 0, 0, 6), EINVAL, "fadvise64 bad advice");
	expect_err(syscall(SYS_fadvise64, fd, 0L, (long)-1, 0), EINVAL, "fadvise64 negative length");
	expect_err(syscall(SYS_fadvise64, p[0], 0, 0, 0), ESPIPE, "fadvise64 on a pipe");
	expect_err(syscall(SYS_fadvise64, p[0], 0, 0, 9), ESPIPE, "fadvise64 on a pipe, bad advice");
	expect_err(syscall(SYS_fadvise64, 99, 0, 0, 0), EBADF, "fadvise64 bad fd");

	/* preadv2 / pwritev2. */
	char b[32] = {0};
	lseek(fd, 2, SEEK_SET);
	check(prv2(fd, b, 3, -1, 0) == 3 && memcmp(b, "234", 3) == 0, "preadv2 at the position");
	check(lseek(fd, 0, SEEK_CUR) == 5, "and it moved the position");
	check(prv2(fd, b, 3, 7, 0) == 3 && memcmp(b, "789", 3) == 0, "preadv2 at an offset");
	check(lseek(fd, 0, SEEK_CUR) == 5, "which leaves the position");
	check(prv2(fd, b, 2, -1, RWF_HIPRI) == 2 && memcmp(b, "56", 2) == 0 && lseek(fd, 0, SEEK_CUR) == 7,
	      "preadv2 RWF_HIPRI at the position");
	check(pwv2(fd, "ab", 2, 0, RWF_DSYNC) == 2, "pwritev2 RWF_DSYNC");
	check(pwv2(fd, "cd", 2, -1, RWF_SYNC) == 2 && lseek(fd, 0, SEEK_CUR) == 9, "pwritev2 RWF_SYNC at the position");
	long r = pwv2(fd, "EE", 2, 0, RWF_APPEND);
	if (r == 2) {
		check(pread(fd, b, 32, 0) == 12 && memcmp(b, "ab23456cd9EE", 12) == 0, "RWF_APPEND wrote at the end");
	} else {
		printf("ok RWF_APPEND: %s\n", errname(errno));
	}
	errno = 0;
	expect_err(prv2(fd, b, 1, 0, 0x10000), EOPNOTSUPP, "preadv2 unknown flag");
	expect_err(pwv2(fd, b, 1, 0, 0x10000), EOPNOTSUPP, "pwritev2 unknown flag");
	expect_err(prv2(fd, b, 1, -2, 0), EINVAL, "preadv2 offset -2");
	expect_err(prv2(fd, b, 1, -2, RWF_HIPRI), EINVAL, "preadv2 offset -2 with flags");
	expect_err(prv2(99, b, 1, 0, 0), EBADF, "preadv2 bad fd");
	expect_err(prv2(p[0], b, 1, 0, 0), ESPIPE, "preadv2 at an offset on a pipe");
	expect_err(prv2(p[0], b, 1, -1, RWF_NOWAIT), EAGAIN, "preadv2 RWF_NOWAIT on an empty pipe");
	check(pwv2(p[1], "zz", 2, -1, 0) == 2, "pwritev2 -1 on a pipe");
	check(prv2(p[0], b, 8, -1, RWF_NOWAIT) == 2 && memcmp(b, "zz", 2) == 0, "preadv2 RWF_NOWAIT with data");
	return finish();
}
