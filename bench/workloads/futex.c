/* futex N: two threads hand a token back and forth N times with FUTEX_WAIT/FUTEX_WAKE. */
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

static _Atomic int turn; /* 0: main's turn, 1: the partner's turn */
static long rounds;

static void fwait(_Atomic int *addr, int val) {
	syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void fwake(_Atomic int *addr) { syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

/* partner waits for its turn, hands the token back, rounds times. */
static void *partner(void *arg) {
	(void)arg;
	for (long i = 0; i < rounds; i++) {
		while (atomic_load(&turn) != 1) fwait(&turn, 0);
		atomic_store(&turn, 0);
		fwake(&turn);
	}
	return NULL;
}

int main(int argc, char **argv) {
	rounds = arg_count(argc, argv, 1, 20000);
	pthread_t t;
	int err = pthread_create(&t, NULL, partner, NULL);
	if (err != 0) {
		errno = err;
		die("pthread_create");
	}
	long handed = 0;
	for (long i = 0; i < rounds; i++) {
		atomic_store(&turn, 1);
		fwake(&turn);
		while (atomic_load(&turn) != 0) fwait(&turn, 1);
		handed++;
	}
	pthread_join(t, NULL);
	printf("futex %ld handed=%ld\n", rounds, handed);
	return 0;
}
