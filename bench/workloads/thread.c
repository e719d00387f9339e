/* thread N: N rounds of pthread_create and pthread_join; each thread returns its argument plus one. */
#include <pthread.h>
#include <stdint.h>

#include "common.h"

static void *run(void *arg) { return (void *)((uintptr_t)arg + 1); }

int main(int argc, char **argv) {
	long n = arg_count(argc, argv, 1, 2000);
	uint64_t sum = 0;
	for (long i = 0; i < n; i++) {
		pthread_t t;
		int err = pthread_create(&t, NULL, run, (void *)(uintptr_t)i);
		if (err != 0) {
			errno = err;
			die("pthread_create");
		}
		void *ret;
		if ((err = pthread_join(t, &ret)) != 0) {
			errno = err;
			die("pthread_join");
		}
		sum += (uintptr_t)ret;
	}
	printf("thread %ld sum=%llu\n", n, (unsigned long long)sum);
	return 0;
}
