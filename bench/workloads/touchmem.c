/* touchmem MIB: maps MIB MiB of fresh anonymous memory, writes one byte in every 4 KiB page, sums them. */
#include <stdint.h>
#include <sys/mman.h>

#include "common.h"

int main(int argc, char **argv) {
	long mib = arg_count(argc, argv, 1, 1024);
	size_t len = (size_t)mib << 20, page = 4096;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) die("mmap");
	for (size_t off = 0; off < len; off += page) p[off] = (unsigned char)(off / page);
	uint64_t sum = 0;
	for (size_t off = 0; off < len; off += page) sum += p[off];
	printf("touchmem %ld pages=%zu sum=%llu\n", mib, len / page, (unsigned long long)sum);
	return 0;
}
