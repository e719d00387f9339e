/* forkbig MIB N [STRIDE]: touches every page of MIB MiB, then N rounds of fork, exit and wait; with
 * STRIDE the child first writes one byte of every STRIDE-th page (copy-on-write). forkbig MIB 0 is
 * the baseline: the difference over N is the cost of forking a process of that size. */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv) {
	long mib = arg_count(argc, argv, 1, 1024);
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 10;
	long stride = argc > 3 ? arg_count(argc, argv, 3, 64) : 0;
	size_t len = (size_t)mib << 20, page = 4096;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) die("mmap");
	for (size_t off = 0; off < len; off += page) p[off] = (unsigned char)(off / page);
	long ok = 0;
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) die("fork");
		if (pid == 0) {
			if (stride)
				for (size_t off = 0; off < len; off += (size_t)stride * page) p[off] ^= 1;
			_exit(p[0] == (stride ? 1 : 0) ? 0 : 3);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid) die("waitpid");
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
	}
	uint64_t sum = 0;
	for (size_t off = 0; off < len; off += page) sum += p[off];
	printf("forkbig %ld n=%ld ok=%ld sum=%llu\n", mib, n, ok, (unsigned long long)sum);
	return 0;
}
