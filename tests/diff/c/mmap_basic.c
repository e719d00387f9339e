/* mmap: anonymous private, file-backed private and shared, MAP_FIXED, hints,
 * MAP_FIXED_NOREPLACE, MAP_NORESERVE, MAP_POPULATE, MAP_GROWSDOWN-free stack-like use. */
#include "common.h"
#include <sys/mman.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

int main(int argc, char **argv)
{
	scratch(argc, argv);
	long pg = sysconf(_SC_PAGESIZE);
	check(pg == 4096, "page size 4096");

	unsigned char *a = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(a != MAP_FAILED && ((uintptr_t)a & (pg - 1)) == 0, "anon mmap page aligned");
	int zero = 1;
	for (long i = 0; i < 3 * pg; i++)
		zero &= a[i] == 0;
	check(zero, "anon memory is zero");
	memset(a, 0xab, 3 * pg);
	check(a[3 * pg - 1] == 0xab, "anon writable");

	/* file-backed private */
	char content[3 * 4096];
	for (int i = 0; i < (int)sizeof content; i++)
		content[i] = 'A' + i % 26;
	write_file("f", content, sizeof content);
	int fd = open("f", O_RDWR);
	unsigned char *f = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, pg);
	check(f != MAP_FAILED && f[0] == content[pg] && f[2 * pg - 1] == (unsigned char)content[3 * pg - 1], "file private mmap at offset");
	f[0] = '#';
	char c;
	pread(fd, &c, 1, pg);
	check(c == content[pg], "private write not in file");
	munmap(f, 2 * pg);

	/* file-backed shared */
	unsigned char *s = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check(s != MAP_FAILED, "file shared mmap");
	s[5] = '!';
	pread(fd, &c, 1, 5);
	check(c == '!', "shared write visible via read");
	pwrite(fd, "?", 1, 6);
	check(s[6] == '?', "pwrite visible via shared map");
	munmap(s, pg);

	/* mapping beyond EOF: partial last page zero-filled */
	write_file("short", "xyz", 3);
	int sfd = open("short", O_RDONLY);
	unsigned char *sh = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, sfd, 0);
	check(sh != MAP_FAILED && sh[0] == 'x' && sh[2] == 'z' && sh[3] == 0 && sh[pg - 1] == 0, "tail of last page is zero");
	munmap(sh, pg);
	close(sfd);

	/* hint: a free address is honored */
	void *hint = (void *)0x100000000000ULL;
	void *h = mmap(hint, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(h == hint, "free hint honored");
	void *h2 = mmap(hint, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(h2 != MAP_FAILED && h2 != hint, "busy hint relocated");
	void *h3 = mmap(hint, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	check(h3 == MAP_FAILED && errno == EEXIST, "MAP_FIXED_NOREPLACE on busy range EEXIST");
	void *unal = mmap((char *)hint + 0x10000 + 123, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(unal != MAP_FAILED && ((uintptr_t)unal & (pg - 1)) == 0, "unaligned hint gives aligned map");

	/* MAP_FIXED replaces existing mapping */
	*(int *)h = 1234;
	void *fx = mmap(h, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	check(fx == h && *(int *)h == 0, "MAP_FIXED replaces with zero page");
	void *fx2 = mmap((char *)a + pg, pg, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	check(fx2 == a + pg && a[pg] == 'A' && a[0] == 0xab && a[2 * pg] == 0xab, "MAP_FIXED file over middle page");
	expect_err((long)mmap((char *)h + 1, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == (long)MAP_FAILED ? -1 : 0,
		   EINVAL, "MAP_FIXED unaligned");

	/* NORESERVE and POPULATE */
	unsigned char *nr = mmap(NULL, 1UL << 34, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	check(nr != MAP_FAILED, "16 GiB MAP_NORESERVE");
	nr[0] = 1;
	nr[(1UL << 33)] = 2;
	nr[(1UL << 34) - 1] = 3;
	check(nr[0] == 1 && nr[1UL << 33] == 2 && nr[(1UL << 34) - 1] == 3 && nr[12345] == 0, "sparse touches");
	check(munmap(nr, 1UL << 34) == 0, "munmap 16 GiB");
	unsigned char *pp = mmap(NULL, 64 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	check(pp != MAP_FAILED && pp[63 * pg] == 0, "MAP_POPULATE anon");
	unsigned char *pf = mmap(NULL, 3 * pg, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	check(pf != MAP_FAILED && pf[2 * pg] == (unsigned char)content[2 * pg], "MAP_POPULATE file");

	/* errors */
	errno = 0;
	check(mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED && errno == EINVAL, "length 0 EINVAL");
	check(mmap(NULL, pg, PROT_READ, MAP_ANONYMOUS, -1, 0) == MAP_FAILED && errno == EINVAL, "neither SHARED nor PRIVATE EINVAL");
	check(mmap(NULL, pg, PROT_READ, MAP_PRIVATE, 9999, 0) == MAP_FAILED && errno == EBADF, "bad fd EBADF");
	check(mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fd, 123) == MAP_FAILED && errno == EINVAL, "unaligned offset EINVAL");
	int ro = open("f", O_RDONLY);
	check(mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED && errno == EACCES, "shared writable on O_RDONLY EACCES");
	check(mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0) != MAP_FAILED, "private writable on O_RDONLY ok");
	int p[2];
	pipe(p);
	check(mmap(NULL, pg, PROT_READ, MAP_PRIVATE, p[0], 0) == MAP_FAILED && errno == ENODEV, "mmap pipe ENODEV");
	check(mmap(NULL, 1UL << 50, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED && errno == ENOMEM, "1 PiB ENOMEM");

	/* munmap */
	check(munmap(a, 3 * pg) == 0, "munmap");
	check(munmap(a, 3 * pg) == 0, "munmap unmapped range ok");
	expect_err(munmap((char *)a + 1, pg), EINVAL, "munmap unaligned");
	check(syscall(SYS_munmap, pp + pg, pg) == 0, "SYS_munmap hole in middle");
	check(pp[0] == 0 && pp[2 * pg] == 0, "neighbours of hole intact");
	long m = syscall(SYS_mmap, NULL, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(m > 0 && (m & (pg - 1)) == 0, "SYS_mmap");
	return finish();
}
