/* clock N: N clock_gettime(CLOCK_MONOTONIC) calls through libc (the vDSO where there is one). */
#include <time.h>

#include "common.h"

int main(int argc, char **argv) {
	long n = arg_count(argc, argv, 1, 1000000);
	struct timespec prev, now;
	if (clock_gettime(CLOCK_MONOTONIC, &prev) != 0) die("clock_gettime");
	long backwards = 0;
	for (long i = 0; i < n; i++) {
		if (clock_gettime(CLOCK_MONOTONIC, &now) != 0) die("clock_gettime");
		if (now.tv_sec < prev.tv_sec || (now.tv_sec == prev.tv_sec && now.tv_nsec < prev.tv_nsec))
			backwards++;
		prev = now;
	}
	printf("clock %ld backwards=%ld\n", n, backwards);
	return 0;
}
