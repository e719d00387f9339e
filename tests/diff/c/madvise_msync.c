/* madvise (DONTNEED zeroes anon, refetches file private; WILLNEED/SEQUENTIAL/RANDOM/NORMAL),
 * msync (MS_SYNC/MS_ASYNC/MS_INVALIDATE, errors), mincore, mlock/munlock. */
#include "common.h"
#include <sys/mman.h>

int main(int argc, char **argv)
{
	scratch(argc, argv);
	const size_t pg = 4096;
	unsigned char *a = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(a, 0xcd, 8 * pg);
	check(madvise(a + 2 * pg, 3 * pg, MADV_DONTNEED) == 0, "MADV_DONTNEED anon");
	check(a[2 * pg] == 0 && a[5 * pg - 1] == 0, "DONTNEED range reads zero");
	check(a[2 * pg - 1] == 0xcd && a[5 * pg] == 0xcd, "neighbours kept");
	a[3 * pg] = 1;
	check(a[3 * pg] == 1, "writable after DONTNEED");

	char buf[4 * 4096];
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)('a' + i % 26);
	write_file("f", buf, sizeof buf);
	int fd = open("f", O_RDWR);
	unsigned char *fp = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	fp[pg] = '#';
	check(madvise(fp, 4 * pg, MADV_DONTNEED) == 0 && fp[pg] == (unsigned char)buf[pg], "DONTNEED file private refetches file");

	check(madvise(a, 8 * pg, MADV_WILLNEED) == 0, "MADV_WILLNEED");
	check(madvise(a, 8 * pg, MADV_SEQUENTIAL) == 0 && madvise(a, 8 * pg, MADV_RANDOM) == 0 && madvise(a, 8 * pg, MADV_NORMAL) == 0, "access pattern hints");
	check(madvise(a, 8 * pg, MADV_DONTFORK) == 0 && madvise(a, 8 * pg, MADV_DOFORK) == 0, "DONTFORK/DOFORK");
	expect_err(syscall(SYS_madvise, a + 1, pg, MADV_NORMAL), EINVAL, "madvise unaligned");
	expect_err(syscall(SYS_madvise, a, pg, 12345), EINVAL, "madvise bad advice");
	munmap(a + 6 * pg, pg);
	expect_err(syscall(SYS_madvise, a, 8 * pg, MADV_NORMAL), ENOMEM, "madvise over hole");
	check(syscall(SYS_madvise, a, 0, MADV_NORMAL) == 0, "madvise len 0");

	/* msync on a shared mapping */
	unsigned char *s = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	memcpy(s, "SYNCED", 6);
	check(msync(s, 2 * pg, MS_SYNC) == 0, "msync MS_SYNC");
	char chk[8] = {0};
	pread(fd, chk, 6, 0);
	check(!memcmp(chk, "SYNCED", 6), "file has synced data");
	check(msync(s, pg, MS_ASYNC) == 0, "msync MS_ASYNC");
	check(msync(s, pg, MS_INVALIDATE) == 0, "msync MS_INVALIDATE");
	expect_err(msync(s, pg, MS_SYNC | MS_ASYNC), EINVAL, "msync SYNC|ASYNC");
	expect_err(syscall(SYS_msync, s + 1, pg, MS_SYNC), EINVAL, "msync unaligned");
	expect_err(msync(a + 6 * pg, pg, MS_SYNC), ENOMEM, "msync unmapped");
	check(msync(a, pg, MS_SYNC) == 0, "msync anon ok");
	munmap(s, 2 * pg);
	close(fd);
	int fd2 = open("f", O_RDONLY);
	memset(chk, 0, sizeof chk);
	read(fd2, chk, 6);
	check(!memcmp(chk, "SYNCED", 6), "data persists after munmap/close");
	close(fd2);

	/* mincore */
	unsigned char vec[8];
	check(mincore(a, 4 * pg, vec) == 0 && (vec[0] & 1), "mincore resident page");
	expect_err(mincore(a + 6 * pg, pg, vec), ENOMEM, "mincore unmapped");

	/* mlock / munlock */
	check(mlock(a, pg) == 0 && munlock(a, pg) == 0, "mlock/munlock one page");
	return finish();
}
