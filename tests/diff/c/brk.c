/* brk via raw syscall: query, grow, use, shrink, refuse below start. */
#include "common.h"
#include <sys/mman.h>

static uintptr_t brk_(uintptr_t to) { return (uintptr_t)syscall(SYS_brk, to); }

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	uintptr_t cur = brk_(0);
	check(cur != 0 && cur != (uintptr_t)-1, "brk(0) returns current break");
	check(brk_(0) == cur, "brk(0) stable");
	extern char end;
	check(cur >= (uintptr_t)&end, "break is above end of bss");

	uintptr_t want = cur + (1 << 20);
	uintptr_t got = brk_(want);
	check(got == want, "grow by 1 MiB");
	unsigned char *p = (unsigned char *)cur;
	int zero = 1;
	for (size_t i = 0; i < (1 << 20); i += 4096)
		zero &= p[i] == 0;
	check(zero, "new heap is zero");
	memset(p, 0x77, 1 << 20);
	check(p[(1 << 20) - 1] == 0x77, "new heap writable");

	uintptr_t odd = brk_(want + 100);
	check(odd == want + 100, "unaligned break accepted exactly");
	check(brk_(want) == want, "shrink to previous");
	check(p[(1 << 20) - 1] == 0x77, "memory below break kept");

	check(brk_(cur + 4096) == cur + 4096, "shrink to 1 page");
	check(brk_(want) == want, "grow again");
	check(p[4096] == 0, "re-grown memory is zero");
	check(p[0] == 0x77, "first page kept");

	check(brk_(1) == want, "brk below start refused, returns current");
	void *wall = mmap((void *)(want + (16 << 20)), 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	check(wall == (void *)(want + (16 << 20)), "mapping placed above the break");
	check(brk_(want + (32 << 20)) == want, "brk over a mapping refused, returns current");
	munmap(wall, 4096);
	check(brk_(cur) == cur, "back to start");

	/* many small increments */
	uintptr_t b = cur;
	for (int i = 0; i < 1000; i++)
		b = brk_(b + 64);
	check(b == cur + 64000, "1000 small increments");
	((char *)cur)[63999] = 1;
	check(brk_(cur) == cur, "reset");

	void *s0 = sbrk(0);
	check(s0 != (void *)-1, "sbrk(0)");
	return finish();
}
