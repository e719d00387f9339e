/* copymem MIB: touches MIB MiB, then copies it once into fresh memory: the cost forkbig's fork
 * must stay far below (copy-on-write copies nothing up front). */
#include <stdint.h>
#include <sys/mman.h>

#include "common.h"

int main(int argc, char **argv) {
	long mib = arg_count(argc, argv, 1, 1024);
	size_t len = (size_t)mib << 20, page = 4096;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || q == MAP_FAILED) die("mmap");
	for (size_t off = 0; off < len; off += page) p[off] = (unsigned char)(off / page);
	memcpy(q, p, len);
	uint64_t sum = 0;
	for (size_t off = 0; off < len; off += page) sum += q[off];
	printf("copymem %ld sum=%llu\n", mib, (unsigned long long)sum);
	return 0;
}
