/* Thread-local storage in 16 threads: initialised and zeroed __thread
 * variables (each thread sees its own copy, starting from the initial
 * image), a TLS array written by its thread while others run, addresses of
 * a TLS variable distinct per thread, pthread_key_create with destructors
 * run at thread exit (also for a value set again by a destructor),
 * pthread_getspecific in a new thread starting NULL, pthread_key_delete, and
 * the %fs base of each thread (arch_prctl ARCH_GET_FS) equal to its
 * pthread_self(). */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#ifndef ARCH_GET_FS
#define ARCH_GET_FS 0x1003
#endif

#define NT 16

static __thread int tls_init = 1234;
static __thread long tls_zero;
static __thread char tls_buf[4096];
static __thread int tls_arr[64] = {1, 2, 3};

static pthread_key_t key, key2;
static atomic_int destructed, destructed2, reset_runs;
static pthread_barrier_t bar;
static void *addrs[NT];
static int bad_init, bad_private, bad_self;

static void destructor(void *v)
{
	atomic_fetch_add(&destructed, (int)(intptr_t)v);
}

/* Sets its own key again once: the destructor must then run again. */
static void destructor2(void *v)
{
	atomic_fetch_add(&destructed2, 1);
	if ((intptr_t)v == 1) {
		atomic_fetch_add(&reset_runs, 1);
		pthread_setspecific(key2, (void *)2);
	}
}

static void *worker(void *arg)
{
	int me = (int)(intptr_t)arg;
	if (tls_init != 1234 || tls_zero != 0 || tls_arr[0] != 1 || tls_arr[2] != 3 || tls_arr[3] != 0)
		bad_init = 1;
	for (size_t i = 0; i < sizeof tls_buf; i++)
		if (tls_buf[i])
			bad_init = 1;
	if (pthread_getspecific(key) != NULL)
		bad_init = 1;
	tls_init = me;
	tls_zero = me * 1000L;
	memset(tls_buf, 'a' + me, sizeof tls_buf);
	for (int i = 0; i < 64; i++)
		tls_arr[i] = me * 64 + i;
	addrs[me] = &tls_init;
	pthread_setspecific(key, (void *)(intptr_t)(me + 1));
	pthread_setspecific(key2, (void *)1);
	unsigned long fs = 0;
	syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
	if (fs != (unsigned long)pthread_self())
		bad_self = 1;
	/* Everyone has written its copy: check nobody overwrote ours. */
	pthread_barrier_wait(&bar);
	for (int round = 0; round < 100; round++) {
		if (tls_init != me || tls_zero != me * 1000L || tls_buf[round * 40] != 'a' + me || tls_arr[round % 64] != me * 64 + round % 64)
			bad_private = 1;
		if ((intptr_t)pthread_getspecific(key) != me + 1)
			bad_private = 1;
		sched_yield();
	}
	pthread_barrier_wait(&bar);
	return (void *)(intptr_t)tls_init;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	check(tls_init == 1234 && tls_zero == 0 && tls_arr[1] == 2, "main thread sees the TLS initial image");
	tls_init = -1;
	expect_ok(pthread_key_create(&key, destructor), "pthread_key_create with destructor");
	expect_ok(pthread_key_create(&key2, destructor2), "second key");
	pthread_barrier_init(&bar, NULL, NT);
	pthread_t th[NT];
	for (int i = 0; i < NT; i++)
		pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
	int rets_ok = 1;
	for (int i = 0; i < NT; i++) {
		void *rv;
		pthread_join(th[i], &rv);
		if ((intptr_t)rv != i)
			rets_ok = 0;
	}
	check(!bad_init, "new threads start from the TLS image (1234, zeroes, NULL key)");
	check(!bad_private, "each of 16 threads kept its own TLS values");
	check(rets_ok, "each thread returned its own tls value");
	int distinct = 1;
	for (int i = 0; i < NT; i++)
		for (int j = i + 1; j < NT; j++)
			if (addrs[i] == addrs[j])
				distinct = 0;
	check(distinct, "&tls_init differs in every thread");
	check(!bad_self, "fs base of every thread is its pthread_self()");
	check(tls_init == -1, "main thread's copy untouched by the others");
	check(destructed == NT * (NT + 1) / 2, "destructors ran with each thread's value (sum %d)", (int)destructed);
	check(reset_runs == NT && destructed2 == 2 * NT, "a value set again in a destructor is destructed again (%d runs)", (int)destructed2);
	expect_ok(pthread_key_delete(key), "pthread_key_delete");
	pthread_key_t k3;
	expect_ok(pthread_key_create(&k3, NULL), "key created after delete");
	check(pthread_getspecific(k3) == NULL, "a fresh key reads NULL");
	return finish();
}
