/* mprotect, mremap grow/shrink/move preserving contents, munmap partial. */
#include "common.h"
#include <sys/mman.h>

#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif

static int pattern_ok(unsigned char *p, size_t n, int seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 7 + seed))
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const size_t pg = 4096;
	unsigned char *p = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t i = 0; i < 4 * pg; i++)
		p[i] = (unsigned char)(i * 7 + 1);

	/* mprotect */
	check(mprotect(p, pg, PROT_READ) == 0, "mprotect READ");
	check(mprotect(p + pg, pg, PROT_NONE) == 0, "mprotect NONE");
	check(p[0] == 1, "read-only page readable");
	check(mprotect(p, 2 * pg, PROT_READ | PROT_WRITE) == 0, "mprotect back RW");
	check(pattern_ok(p, 4 * pg, 1), "contents kept across mprotect");
	expect_err(syscall(SYS_mprotect, p + 1, pg, PROT_READ), EINVAL, "mprotect unaligned");
	expect_err(syscall(SYS_mprotect, p, pg, 0x100), EINVAL, "mprotect bad prot");
	unsigned char *hole = mmap(NULL, 3 * pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(hole + pg, pg);
	expect_err(syscall(SYS_mprotect, hole, 3 * pg, PROT_READ | PROT_WRITE), ENOMEM, "mprotect over hole");
	check(syscall(SYS_mprotect, hole, pg, PROT_READ | PROT_WRITE) == 0, "SYS_mprotect");
	hole[0] = 9;
	check(hole[0] == 9, "write after mprotect RW");

	/* grow in place or moving */
	unsigned char *q = mremap(p, 4 * pg, 64 * pg, MREMAP_MAYMOVE);
	check(q != MAP_FAILED, "mremap grow MAYMOVE");
	check(pattern_ok(q, 4 * pg, 1), "grow preserves contents");
	check(q[64 * pg - 1] == 0, "grown part zero");
	for (size_t i = 0; i < 64 * pg; i++)
		q[i] = (unsigned char)(i * 7 + 2);

	/* shrink */
	unsigned char *r = mremap(q, 64 * pg, 8 * pg, 0);
	check(r == q, "shrink stays in place");
	check(pattern_ok(r, 8 * pg, 2), "shrink preserves contents");

	/* grow without MAYMOVE when the next page is busy */
	unsigned char *blk = mmap(r + 8 * pg, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	check(blk == r + 8 * pg, "block next page");
	check(mremap(r, 8 * pg, 16 * pg, 0) == MAP_FAILED && errno == ENOMEM, "grow in place blocked ENOMEM");

	/* move to a fixed address */
	unsigned char *dst = mmap(NULL, 32 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *mv = mremap(r, 8 * pg, 8 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, dst + 4 * pg);
	check(mv == dst + 4 * pg, "MREMAP_FIXED lands at target");
	check(pattern_ok(mv, 8 * pg, 2), "moved contents preserved");
	check(syscall(SYS_msync, r, pg, MS_ASYNC) == -1 && errno == ENOMEM, "old range unmapped");
	expect_err((long)mremap(mv, 8 * pg, 8 * pg, MREMAP_FIXED, dst), EINVAL, "FIXED without MAYMOVE");
	expect_err((long)mremap(mv + 1, pg, pg, 0), EINVAL, "mremap unaligned");
	expect_err((long)mremap(mv, 0, pg, 0), EINVAL, "mremap old_size 0 private");

	/* move and grow at once */
	unsigned char *g = mremap(mv, 8 * pg, 24 * pg, MREMAP_MAYMOVE);
	check(g != MAP_FAILED && pattern_ok(g, 8 * pg, 2) && g[24 * pg - 1] == 0, "grow with move");
	long raw = syscall(SYS_mremap, g, 24 * pg, 2 * pg, 0, 0);
	check(raw == (long)g && pattern_ok(g, 2 * pg, 2), "SYS_mremap shrink");

	/* partial munmap of a larger mapping */
	unsigned char *big = mmap(NULL, 10 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(big, 1, 10 * pg);
	check(munmap(big, 2 * pg) == 0 && munmap(big + 8 * pg, 2 * pg) == 0 && munmap(big + 4 * pg, pg) == 0, "partial munmaps");
	check(big[2 * pg] == 1 && big[3 * pg + 5] == 1 && big[5 * pg] == 1 && big[8 * pg - 1] == 1, "remaining pages intact");
	return finish();
}
