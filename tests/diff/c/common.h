/* Shared helpers for the elfuse differential test programs.
 *
 * Every program prints only deterministic lines ("ok ..." or "FAIL ...") so
 * that its output is byte-identical natively and under elfuse. A failed
 * expectation prints "FAIL" and makes the program exit with status 1.
 */
#ifndef DIFF_COMMON_H
#define DIFF_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define UNUSED __attribute__((unused))

static int diff_failed;

UNUSED static const char *errname(int e)
{
	switch (e) {
	case 0: return "0";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case E2BIG: return "E2BIG";
	case ENOEXEC: return "ENOEXEC";
	case EBADF: return "EBADF";
	case ECHILD: return "ECHILD";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EXDEV: return "EXDEV";
	case ENODEV: return "ENODEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case ENFILE: return "ENFILE";
	case EMFILE: return "EMFILE";
	case ENOTTY: return "ENOTTY";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case ESPIPE: return "ESPIPE";
	case EROFS: return "EROFS";
	case EMLINK: return "EMLINK";
	case EPIPE: return "EPIPE";
	case ERANGE: return "ERANGE";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOSYS: return "ENOSYS";
	case ENOTEMPTY: return "ENOTEMPTY";
	case ELOOP: return "ELOOP";
	case EOVERFLOW: return "EOVERFLOW";
	case ENOTSUP: return "EOPNOTSUPP";
	case ETIMEDOUT: return "ETIMEDOUT";
	default: return "E?";
	}
}

/* check_ prints "ok <what>" when cond holds, else "FAIL <what>" with errno. */
UNUSED static void check_(int cond, int e, const char *fmt, ...)
{
	va_list ap;
	printf(cond ? "ok " : "FAIL ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!cond) {
		printf(" (errno=%s)", errname(e));
		diff_failed = 1;
	}
	printf("\n");
	errno = e;
}

/* check evaluates cond completely before the message arguments, so that the
 * message may show values that cond computed (argument order is unspecified). */
#define check(cond, ...)                                   \
	do {                                               \
		int check_c_ = (cond);                     \
		int check_e_ = errno;                      \
		check_(check_c_, check_e_, __VA_ARGS__);   \
	} while (0)

/* expect_err checks that a call returned -1 with errno == want. */
UNUSED static void expect_err(long rc, int want, const char *what)
{
	int e = errno;
	if (rc == -1 && e == want) {
		printf("ok %s errno=%s\n", what, errname(e));
	} else {
		printf("FAIL %s rc=%ld errno=%s want %s\n", what, rc,
		       rc == -1 ? errname(e) : "-", errname(want));
		diff_failed = 1;
	}
	errno = e;
}

/* expect_ok checks that a call returned a non-negative value. */
UNUSED static void expect_ok(long rc, const char *what)
{
	int e = errno;
	if (rc >= 0) {
		printf("ok %s\n", what);
	} else {
		printf("FAIL %s rc=%ld errno=%s\n", what, rc, errname(e));
		diff_failed = 1;
	}
	errno = e;
}

/* scratch changes into the per-run scratch directory (argv[1] or $DIFF_TMP). */
UNUSED static const char *scratch(int argc, char **argv)
{
	const char *d = argc > 1 ? argv[1] : getenv("DIFF_TMP");
	if (!d || !*d) {
		printf("FAIL no scratch directory (argv[1] or DIFF_TMP)\n");
		exit(2);
	}
	if (chdir(d) != 0) {
		printf("FAIL chdir scratch errno=%s\n", errname(errno));
		exit(2);
	}
	return d;
}

/* write_file creates path with the given content, returning 0 on success. */
UNUSED static int write_file(const char *path, const char *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, data, n);
	close(fd);
	return w == (ssize_t)n ? 0 : -1;
}

/* finish prints the final verdict and returns the exit status for main. */
UNUSED static int finish(void)
{
	printf(diff_failed ? "result FAIL\n" : "result PASS\n");
	fflush(stdout);
	return diff_failed ? 1 : 0;
}

/* Kernel statx layout, declared here because musl's headers lack it. */
struct kstatx_time { int64_t tv_sec; uint32_t tv_nsec; int32_t reserved; };
struct kstatx {
	uint32_t stx_mask, stx_blksize;
	uint64_t stx_attributes;
	uint32_t stx_nlink, stx_uid, stx_gid;
	uint16_t stx_mode, pad1;
	uint64_t stx_ino, stx_size, stx_blocks, stx_attributes_mask;
	struct kstatx_time stx_atime, stx_btime, stx_ctime, stx_mtime;
	uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
	uint64_t spare[14];
};
#define KSTATX_TYPE 0x1u
#define KSTATX_MODE 0x2u
#define KSTATX_SIZE 0x200u
#define KSTATX_BASIC_STATS 0x7ffu

#endif
