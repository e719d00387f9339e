/* 256 MiB anonymous mapping, every page touched and verified, then unmapped; repeated. */
#include "common.h"
#include <sys/mman.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	const size_t sz = 256UL << 20, pg = 4096;
	for (int round = 0; round < 2; round++) {
		unsigned char *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		check(p != MAP_FAILED, "round %d mmap 256 MiB", round);
		if (p == MAP_FAILED)
			break;
		int zero = 1;
		for (size_t i = 0; i < sz; i += pg)
			zero &= p[i + (i / pg) % pg] == 0;
		check(zero, "round %d fresh pages zero", round);
		for (size_t i = 0; i < sz; i += pg)
			*(uint64_t *)(p + i) = i * 2654435761u + round;
		uint64_t bad = 0;
		for (size_t i = 0; i < sz; i += pg)
			bad += *(uint64_t *)(p + i) != i * 2654435761u + round;
		check(bad == 0, "round %d all %zu pages hold their values", round, sz / pg);
		uint64_t sum = 0;
		for (size_t i = 0; i < sz; i += 8 * pg)
			sum += *(uint64_t *)(p + i);
		printf("round %d checksum %llx\n", round, (unsigned long long)sum);
		check(munmap(p, sz) == 0, "round %d munmap", round);
	}
	/* several live large mappings at once */
	unsigned char *m[4];
	int ok = 1;
	for (int i = 0; i < 4; i++) {
		m[i] = mmap(NULL, 64UL << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ok &= m[i] != MAP_FAILED;
		if (m[i] != MAP_FAILED)
			memset(m[i], i + 1, 64UL << 20);
	}
	for (int i = 0; i < 4 && ok; i++)
		ok &= m[i][0] == i + 1 && m[i][(64UL << 20) - 1] == i + 1;
	check(ok, "four 64 MiB mappings filled and distinct");
	return finish();
}
