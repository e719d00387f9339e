/* malloc/calloc/realloc/free stress with a deterministic PRNG and content checks. */
#include "common.h"

static uint64_t st = 88172645463325252ULL;
static uint64_t rnd(void)
{
	st ^= st << 13;
	st ^= st >> 7;
	st ^= st << 17;
	return st;
}

#define SLOTS 4096

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	static unsigned char *ptr[SLOTS];
	static size_t len[SLOTS];
	static unsigned char tag[SLOTS];
	uint64_t checksum = 0;
	long bad = 0;
	for (long it = 0; it < 60000; it++) {
		int i = rnd() % SLOTS;
		if (ptr[i]) {
			for (size_t k = 0; k < len[i]; k += 1 + len[i] / 16)
				bad += ptr[i][k] != tag[i];
			checksum += len[i] * 31 + tag[i];
			if (rnd() % 4 == 0) {
				size_t nl = rnd() % 4 == 0 ? rnd() % (256 << 10) : rnd() % 2048;
				unsigned char *np = realloc(ptr[i], nl + 1);
				if (!np) {
					bad++;
					continue;
				}
				size_t keep = len[i] < nl + 1 ? len[i] : nl + 1;
				for (size_t k = 0; k < keep; k += 1 + keep / 16)
					bad += np[k] != tag[i];
				memset(np, tag[i], nl + 1);
				ptr[i] = np;
				len[i] = nl + 1;
			} else {
				free(ptr[i]);
				ptr[i] = NULL;
			}
		} else {
			size_t n;
			uint64_t r = rnd() % 100;
			if (r < 70)
				n = 1 + rnd() % 256;
			else if (r < 95)
				n = 1 + rnd() % 65536;
			else
				n = 1 + rnd() % (1 << 20);
			if (rnd() % 3 == 0) {
				ptr[i] = calloc(1, n);
				if (ptr[i])
					for (size_t k = 0; k < n; k += 1 + n / 16)
						bad += ptr[i][k] != 0;
			} else {
				ptr[i] = malloc(n);
			}
			if (!ptr[i]) {
				bad++;
				continue;
			}
			tag[i] = (unsigned char)rnd();
			memset(ptr[i], tag[i], n);
			len[i] = n;
		}
	}
	for (int i = 0; i < SLOTS; i++)
		free(ptr[i]);
	check(bad == 0, "no corruption (bad=%ld)", bad);
	printf("checksum %llx\n", (unsigned long long)checksum);

	/* aligned allocations */
	void *al = NULL;
	check(posix_memalign(&al, 4096, 10000) == 0 && ((uintptr_t)al & 4095) == 0, "posix_memalign 4096");
	free(al);
	void *big = malloc(128UL << 20);
	check(big != NULL, "malloc 128 MiB");
	memset(big, 1, 128UL << 20);
	free(big);
	check(malloc((size_t)1 << 62) == NULL && errno == ENOMEM, "huge malloc fails with ENOMEM");
	return finish();
}
