/* Copy-on-write isolation after fork: globals, stack, heap, a 64 MiB region,
 * private file mappings, read-only pages, and shared mappings that must stay
 * shared. Parent and child write the same pages. */
#include "proc.h"

#include <sys/mman.h>

static volatile int global_var = 1;
static char bss_page[4096];
static char data_page[4096] = "data";

#define BIG (64UL << 20)
#define PAGE 4096UL

/* sync_pair is a pair of pipes for lockstep between parent and child. */
static int p2c[2], c2p[2];

static void tell(int fd)
{
	if (write(fd, "x", 1) != 1) {
		printf("FAIL sync write\n");
		diff_failed = 1;
	}
}
static void hear(int fd)
{
	char c;
	if (read(fd, &c, 1) != 1) {
		printf("FAIL sync read\n");
		diff_failed = 1;
	}
}

static unsigned long sum_pattern(unsigned char *p, unsigned long n, unsigned char want, unsigned long *bad)
{
	unsigned long good = 0;
	*bad = 0;
	for (unsigned long off = 0; off < n; off += PAGE) {
		if (p[off] == want && p[off + PAGE - 1] == want)
			good++;
		else
			(*bad)++;
	}
	return good;
}

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	expect_ok(pipe(p2c), "pipe p2c");
	expect_ok(pipe(c2p), "pipe c2p");

	/* Globals, bss, data, stack, heap: both sides write after fork. */
	int stack_var = 10;
	char *heap = malloc(1 << 16);
	memset(heap, 'h', 1 << 16);
	memset(bss_page, 'b', sizeof bss_page);
	pid_t p = xfork();
	if (p == 0) {
		global_var = 2;
		stack_var = 20;
		heap[100] = 'C';
		bss_page[0] = 'C';
		data_page[0] = 'C';
		tell(c2p[1]);
		hear(p2c[0]); /* parent has written its own values */
		check(global_var == 2, "child keeps its global after the parent wrote (%d)", global_var);
		check(stack_var == 20, "child keeps its stack variable (%d)", stack_var);
		check(heap[100] == 'C', "child keeps its heap byte (%c)", heap[100]);
		check(bss_page[0] == 'C', "child keeps its bss byte (%c)", bss_page[0]);
		check(data_page[0] == 'C', "child keeps its data byte (%c)", data_page[0]);
		check(heap[101] == 'h' && bss_page[1] == 'b' && data_page[1] == 'a', "child still sees pre-fork contents elsewhere");
		child_exit(0);
	}
	hear(c2p[0]);
	check(global_var == 1, "parent's global unchanged by child (%d)", global_var);
	check(stack_var == 10, "parent's stack variable unchanged (%d)", stack_var);
	check(heap[100] == 'h', "parent's heap byte unchanged (%c)", heap[100]);
	check(bss_page[0] == 'b', "parent's bss byte unchanged (%c)", bss_page[0]);
	check(data_page[0] == 'd', "parent's data byte unchanged (%c)", data_page[0]);
	global_var = 3;
	stack_var = 30;
	heap[100] = 'P';
	bss_page[0] = 'P';
	data_page[0] = 'P';
	tell(p2c[1]);
	expect_status(p, "exit 0", "small-page child");
	check(global_var == 3 && stack_var == 30 && heap[100] == 'P' && bss_page[0] == 'P' && data_page[0] == 'P',
	      "parent keeps its own writes");
	free(heap);

	/* Parent writes first, child must see the pre-fork value. */
	global_var = 100;
	p = xfork();
	if (p == 0) {
		hear(p2c[0]);
		check(global_var == 100, "child sees pre-fork value after parent's write (%d)", global_var);
		child_exit(0);
	}
	global_var = 200;
	tell(p2c[1]);
	expect_status(p, "exit 0", "parent-writes-first child");

	/* 64 MiB anonymous region: every page touched before fork, then both write. */
	unsigned char *big = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(big != MAP_FAILED, "mmap 64 MiB");
	for (unsigned long off = 0; off < BIG; off += PAGE)
		big[off] = big[off + PAGE - 1] = 0xAA;
	p = xfork();
	if (p == 0) {
		unsigned long bad;
		for (unsigned long off = 0; off < BIG; off += PAGE)
			big[off] = big[off + PAGE - 1] = 0xCC;
		tell(c2p[1]);
		hear(p2c[0]);
		unsigned long good = sum_pattern(big, BIG, 0xCC, &bad);
		check(bad == 0, "child's 64 MiB all child pattern (%lu good, %lu bad)", good, bad);
		child_exit(0);
	}
	hear(c2p[0]);
	unsigned long bad;
	unsigned long good = sum_pattern(big, BIG, 0xAA, &bad);
	check(bad == 0, "parent's 64 MiB unchanged by child (%lu good, %lu bad)", good, bad);
	/* Half the pages written by the parent while the child still holds them. */
	for (unsigned long off = 0; off < BIG; off += 2 * PAGE)
		big[off] = big[off + PAGE - 1] = 0xDD;
	tell(p2c[1]);
	expect_status(p, "exit 0", "64 MiB child");
	unsigned long dd = 0, aa = 0;
	for (unsigned long off = 0; off < BIG; off += PAGE) {
		if (big[off] == 0xDD && big[off + PAGE - 1] == 0xDD)
			dd++;
		else if (big[off] == 0xAA && big[off + PAGE - 1] == 0xAA)
			aa++;
	}
	check(dd == BIG / PAGE / 2 && aa == BIG / PAGE / 2, "parent's 64 MiB after child exit: %lu written, %lu original", dd, aa);

	/* Untouched (never faulted) anonymous memory: child writes, parent sees zeroes. */
	unsigned char *fresh = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p = xfork();
	if (p == 0) {
		memset(fresh, 0x11, 1 << 20);
		child_exit(0);
	}
	expect_status(p, "exit 0", "fresh-memory child");
	int zero = 1;
	for (int i = 0; i < 1 << 20; i += 512)
		zero &= fresh[i] == 0;
	check(zero, "never-touched memory still zero in parent");
	munmap(fresh, 1 << 20);

	/* Private file mapping: the child's writes affect neither the parent nor the file. */
	char content[3 * 4096];
	for (unsigned i = 0; i < sizeof content; i++)
		content[i] = 'a' + i % 26;
	check(write_file("f.bin", content, sizeof content) == 0, "write f.bin");
	int fd = open("f.bin", O_RDWR);
	char *fm = mmap(NULL, sizeof content, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	check(fm != MAP_FAILED, "mmap file MAP_PRIVATE");
	fm[0] = 'P'; /* parent's private copy of page 0 before the fork */
	p = xfork();
	if (p == 0) {
		check(fm[0] == 'P', "child sees parent's pre-fork private write");
		fm[0] = 'Q';
		fm[4096] = 'Q';
		fm[8192 + 5] = 'Q';
		tell(c2p[1]);
		hear(p2c[0]);
		check(fm[0] == 'Q' && fm[4096] == 'Q' && fm[8192 + 5] == 'Q' && fm[1] == 'b', "child keeps its private file writes");
		child_exit(0);
	}
	hear(c2p[0]);
	check(fm[0] == 'P' && fm[4096] == content[4096] && fm[8192 + 5] == content[8192 + 5], "parent's private file mapping unchanged");
	fm[4096] = 'R';
	tell(p2c[1]);
	expect_status(p, "exit 0", "private-file child");
	char fb[3 * 4096];
	check(pread(fd, fb, sizeof fb, 0) == (ssize_t)sizeof fb && memcmp(fb, content, sizeof fb) == 0, "file itself never changed");
	/* A write to the file through the fd shows in pages nobody privatized. */
	check(pwrite(fd, "Z", 1, 8192) == 1, "pwrite to the file");
	check(fm[8192] == 'Z', "unprivatized page of a private mapping sees the file write");
	munmap(fm, sizeof content);

	/* Shared mappings stay shared across fork: anonymous and file. */
	volatile int *shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *fsh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check(shm != MAP_FAILED && fsh != MAP_FAILED, "shared mappings");
	*shm = 1;
	p = xfork();
	if (p == 0) {
		*shm = 2;
		fsh[10] = 'S';
		tell(c2p[1]);
		hear(p2c[0]);
		check(*shm == 3, "child sees parent's write to MAP_SHARED|MAP_ANONYMOUS");
		child_exit(0);
	}
	hear(c2p[0]);
	check(*shm == 2, "parent sees child's write to MAP_SHARED|MAP_ANONYMOUS");
	check(fsh[10] == 'S', "parent sees child's write to a shared file mapping");
	*shm = 3;
	tell(p2c[1]);
	expect_status(p, "exit 0", "shared-mapping child");
	check(pread(fd, fb, 16, 0) == 16 && fb[10] == 'S', "file has the shared write");
	close(fd);

	/* Read-only private page: child mprotects and writes its copy. */
	char *ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	strcpy(ro, "original");
	mprotect(ro, 4096, PROT_READ);
	p = xfork();
	if (p == 0) {
		expect_ok(mprotect(ro, 4096, PROT_READ | PROT_WRITE), "child mprotect RW");
		strcpy(ro, "childish");
		child_exit(0);
	}
	expect_status(p, "exit 0", "read-only-page child");
	check(strcmp(ro, "original") == 0, "parent's read-only page unchanged (%.8s)", ro);

	/* Nested forks: grandchild writes do not leak to child or parent. */
	global_var = 7;
	p = xfork();
	if (p == 0) {
		global_var = 8;
		pid_t g = xfork();
		if (g == 0) {
			global_var = 9;
			child_exit(global_var);
		}
		int st = xwait(g, 0);
		_exit(WIFEXITED(st) && WEXITSTATUS(st) == 9 && global_var == 8 ? 0 : 1);
	}
	expect_status(p, "exit 0", "nested fork isolation");
	check(global_var == 7, "parent value after nested forks");

	/* Many short-lived children each dirtying a page the parent keeps. */
	static char arr[64 * 4096];
	memset(arr, 1, sizeof arr);
	int okc = 0;
	for (int i = 0; i < 32; i++) {
		p = xfork();
		if (p == 0) {
			for (unsigned j = 0; j < sizeof arr; j += 4096)
				arr[j] = (char)(i + 2);
			_exit(arr[4096 * (i % 64)] == (char)(i + 2) ? 0 : 1);
		}
		int st = xwait(p, 0);
		okc += st == 0;
	}
	int intact = 1;
	for (unsigned j = 0; j < sizeof arr; j++)
		intact &= arr[j] == 1;
	check(okc == 32 && intact, "32 children dirtying 64 pages: %d ok, parent intact %d", okc, intact);

	return finish();
}
