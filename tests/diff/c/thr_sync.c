/* pthread synchronisation under contention from 16 threads: a mutex
 * (normal, recursive, errorcheck with its errors, trylock), a condition
 * variable driving a bounded producer/consumer queue and a token ring
 * (signal and broadcast, timed waits on CLOCK_MONOTONIC and CLOCK_REALTIME),
 * a reader/writer lock (readers share, writers exclude, tryrdlock/trywrlock),
 * a barrier reused for many rounds (one PTHREAD_BARRIER_SERIAL_THREAD per
 * round), a spinlock and POSIX semaphores. Every result printed is a count
 * or a relation, the same on every run. */
#include "common.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <time.h>

#define NT 16

/* ---- mutex ---- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static int inside;
static int overlap;

static void *mutex_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 5000; i++) {
		pthread_mutex_lock(&mu);
		if (inside++)
			overlap = 1;
		counter++;
		inside--;
		pthread_mutex_unlock(&mu);
	}
	/* trylock spins: every success must also be exclusive. */
	for (int i = 0; i < 500; i++) {
		while (pthread_mutex_trylock(&mu) != 0)
			;
		if (inside++)
			overlap = 1;
		counter++;
		inside--;
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

static void test_mutex(void)
{
	pthread_t th[NT];
	counter = 0;
	for (int i = 0; i < NT; i++)
		pthread_create(&th[i], NULL, mutex_worker, NULL);
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	check(counter == NT * 5500L, "mutex: 16 threads x 5500 increments = %ld", counter);
	check(!overlap, "mutex: never two threads inside");

	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_t rm;
	pthread_mutex_init(&rm, &a);
	int r1 = pthread_mutex_lock(&rm), r2 = pthread_mutex_lock(&rm), r3 = pthread_mutex_trylock(&rm);
	check(r1 == 0 && r2 == 0 && r3 == 0, "recursive mutex locked three times");
	pthread_mutex_unlock(&rm);
	pthread_mutex_unlock(&rm);
	pthread_mutex_unlock(&rm);
	check(pthread_mutex_trylock(&rm) == 0, "recursive mutex free after three unlocks");
	pthread_mutex_unlock(&rm);
	pthread_mutex_destroy(&rm);

	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_t em;
	pthread_mutex_init(&em, &a);
	check(pthread_mutex_unlock(&em) == EPERM, "errorcheck: unlock unlocked = EPERM");
	pthread_mutex_lock(&em);
	check(pthread_mutex_lock(&em) == EDEADLK, "errorcheck: relock = EDEADLK");
	check(pthread_mutex_trylock(&em) == EBUSY, "errorcheck: trylock held = EBUSY");
	pthread_mutex_unlock(&em);
	pthread_mutex_destroy(&em);
	pthread_mutexattr_destroy(&a);
}

/* ---- condvar: bounded queue, 8 producers and 8 consumers ---- */

#define QCAP 8
#define PER_PRODUCER 1500
static pthread_mutex_t qm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t notfull = PTHREAD_COND_INITIALIZER;
static pthread_cond_t notempty = PTHREAD_COND_INITIALIZER;
static long queue[QCAP];
static int qhead, qlen, producers_left;
static long consumed_sum, consumed_n;

static void *producer(void *arg)
{
	long base = (long)(intptr_t)arg * PER_PRODUCER;
	for (long i = 0; i < PER_PRODUCER; i++) {
		pthread_mutex_lock(&qm);
		while (qlen == QCAP)
			pthread_cond_wait(&notfull, &qm);
		queue[(qhead + qlen) % QCAP] = base + i;
		qlen++;
		pthread_cond_signal(&notempty);
		pthread_mutex_unlock(&qm);
	}
	pthread_mutex_lock(&qm);
	if (--producers_left == 0)
		pthread_cond_broadcast(&notempty);
	pthread_mutex_unlock(&qm);
	return NULL;
}

static void *consumer(void *arg)
{
	(void)arg;
	long sum = 0, n = 0;
	for (;;) {
		pthread_mutex_lock(&qm);
		while (qlen == 0 && producers_left > 0)
			pthread_cond_wait(&notempty, &qm);
		if (qlen == 0) {
			pthread_mutex_unlock(&qm);
			break;
		}
		long v = queue[qhead];
		qhead = (qhead + 1) % QCAP;
		qlen--;
		pthread_cond_signal(&notfull);
		pthread_mutex_unlock(&qm);
		sum += v;
		n++;
	}
	pthread_mutex_lock(&qm);
	consumed_sum += sum;
	consumed_n += n;
	pthread_mutex_unlock(&qm);
	return NULL;
}

/* A token passed around a ring of 16 threads with one shared condvar and
 * broadcast: each thread waits for its turn. */
static pthread_mutex_t rm_ = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rc = PTHREAD_COND_INITIALIZER;
static int turn;
static int ring_order_ok = 1;
static int ring_log[NT * 50];
static int ring_pos;

static void *ring_worker(void *arg)
{
	int me = (int)(intptr_t)arg;
	for (int round = 0; round < 50; round++) {
		pthread_mutex_lock(&rm_);
		while (turn % NT != me)
			pthread_cond_wait(&rc, &rm_);
		ring_log[ring_pos++] = me;
		turn++;
		pthread_cond_broadcast(&rc);
		pthread_mutex_unlock(&rm_);
	}
	return NULL;
}

static long ns_between(struct timespec a, struct timespec b)
{
	return (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
}

static void test_condvar(void)
{
	pthread_t th[NT];
	producers_left = NT / 2;
	for (int i = 0; i < NT / 2; i++)
		pthread_create(&th[i], NULL, producer, (void *)(intptr_t)i);
	for (int i = NT / 2; i < NT; i++)
		pthread_create(&th[i], NULL, consumer, NULL);
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	long total = (long)(NT / 2) * PER_PRODUCER;
	check(consumed_n == total, "condvar queue: %ld items consumed", consumed_n);
	check(consumed_sum == total * (total - 1) / 2, "condvar queue: sum of items matches");

	for (int i = 0; i < NT; i++)
		pthread_create(&th[i], NULL, ring_worker, (void *)(intptr_t)i);
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NT * 50; i++)
		if (ring_log[i] != i % NT)
			ring_order_ok = 0;
	check(ring_pos == NT * 50 && ring_order_ok, "condvar ring: 800 turns in order");

	/* Timed waits that time out, on both clocks. */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_t mc;
	pthread_cond_init(&mc, &ca);
	struct timespec t0, t1, dl;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	dl = t0;
	dl.tv_nsec += 50000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&qm);
	int rc1 = pthread_cond_timedwait(&mc, &qm, &dl);
	pthread_mutex_unlock(&qm);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	check(rc1 == ETIMEDOUT && ns_between(t0, t1) >= 45000000, "cond_timedwait CLOCK_MONOTONIC 50 ms: ETIMEDOUT after the deadline");
	pthread_cond_destroy(&mc);
	pthread_condattr_destroy(&ca);

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_nsec += 50000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&qm);
	int rc2 = pthread_cond_timedwait(&notempty, &qm, &dl);
	pthread_mutex_unlock(&qm);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	check(rc2 == ETIMEDOUT && ns_between(t0, t1) >= 40000000, "cond_timedwait CLOCK_REALTIME 50 ms: ETIMEDOUT");
}

/* ---- rwlock ---- */

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static atomic_int readers_in, writers_in, max_readers;
static int rw_bad;
static long rw_value;

static void *rw_worker(void *arg)
{
	int me = (int)(intptr_t)arg;
	for (int i = 0; i < 1000; i++) {
		if ((i + me) % 8 == 0) {
			pthread_rwlock_wrlock(&rw);
			if (atomic_fetch_add(&writers_in, 1) != 0 || atomic_load(&readers_in) != 0)
				rw_bad = 1;
			rw_value++;
			atomic_fetch_sub(&writers_in, 1);
			pthread_rwlock_unlock(&rw);
		} else {
			pthread_rwlock_rdlock(&rw);
			int n = atomic_fetch_add(&readers_in, 1) + 1;
			if (atomic_load(&writers_in) != 0)
				rw_bad = 1;
			int m = atomic_load(&max_readers);
			while (n > m && !atomic_compare_exchange_weak(&max_readers, &m, n))
				;
			/* Hold the read lock a little so readers can overlap. */
			for (volatile int k = 0; k < 200; k++)
				;
			atomic_fetch_sub(&readers_in, 1);
			pthread_rwlock_unlock(&rw);
		}
	}
	return NULL;
}

static void *rw_reader_hold(void *arg)
{
	pthread_barrier_t *b = arg;
	pthread_rwlock_rdlock(&rw);
	pthread_barrier_wait(b); /* the lock is held */
	pthread_barrier_wait(b); /* main has tried */
	pthread_rwlock_unlock(&rw);
	return NULL;
}

static void test_rwlock(void)
{
	pthread_t th[NT];
	for (int i = 0; i < NT; i++)
		pthread_create(&th[i], NULL, rw_worker, (void *)(intptr_t)i);
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	long want = 0;
	for (int me = 0; me < NT; me++)
		for (int i = 0; i < 1000; i++)
			if ((i + me) % 8 == 0)
				want++;
	check(rw_value == want, "rwlock: %ld writes counted", rw_value);
	check(!rw_bad, "rwlock: writers excluded everyone");
	/* Readers overlapping is likely but timing-dependent: not printed. */

	pthread_barrier_t b;
	pthread_barrier_init(&b, NULL, 2);
	pthread_t t;
	pthread_create(&t, NULL, rw_reader_hold, &b);
	pthread_barrier_wait(&b);
	int tr = pthread_rwlock_tryrdlock(&rw);
	if (tr == 0)
		pthread_rwlock_unlock(&rw);
	int tw = pthread_rwlock_trywrlock(&rw);
	pthread_barrier_wait(&b);
	pthread_join(t, NULL);
	check(tr == 0, "rwlock: tryrdlock while another thread reads succeeds");
	check(tw == EBUSY, "rwlock: trywrlock while another thread reads = EBUSY");
	check(pthread_rwlock_trywrlock(&rw) == 0, "rwlock: trywrlock when free succeeds");
	check(pthread_rwlock_tryrdlock(&rw) == EBUSY, "rwlock: tryrdlock while write-locked = EBUSY");
	pthread_rwlock_unlock(&rw);
	pthread_barrier_destroy(&b);
}

/* ---- barrier ---- */

#define ROUNDS 100
static pthread_barrier_t bar;
static atomic_int serials[ROUNDS];
static atomic_int arrived[ROUNDS];
static int barrier_bad;

static void *barrier_worker(void *arg)
{
	(void)arg;
	for (int r = 0; r < ROUNDS; r++) {
		atomic_fetch_add(&arrived[r], 1);
		int rc = pthread_barrier_wait(&bar);
		if (rc == PTHREAD_BARRIER_SERIAL_THREAD)
			atomic_fetch_add(&serials[r], 1);
		else if (rc != 0)
			barrier_bad = 1;
		/* Past the barrier, everyone has arrived at this round. */
		if (atomic_load(&arrived[r]) != NT)
			barrier_bad = 1;
	}
	return NULL;
}

static void test_barrier(void)
{
	pthread_t th[NT];
	pthread_barrier_init(&bar, NULL, NT);
	for (int i = 0; i < NT; i++)
		pthread_create(&th[i], NULL, barrier_worker, NULL);
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	int ok = 1;
	for (int r = 0; r < ROUNDS; r++)
		if (serials[r] != 1)
			ok = 0;
	check(ok, "barrier: one serial thread in each of %d rounds", ROUNDS);
	check(!barrier_bad, "barrier: nobody passes before all 16 arrive");
	pthread_barrier_destroy(&bar);
	check(pthread_barrier_init(&bar, NULL, 0) == EINVAL, "barrier count 0 = EINVAL");
}

/* ---- spinlock and semaphores ---- */

static pthread_spinlock_t spin;
static long spin_count;
static sem_t sem_items, sem_slots;
static atomic_long sem_sum;

static void *spin_worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		pthread_spin_lock(&spin);
		spin_count++;
		pthread_spin_unlock(&spin);
	}
	return NULL;
}

static void *sem_producer(void *arg)
{
	(void)arg;
	for (int i = 1; i <= 1000; i++) {
		sem_wait(&sem_slots);
		sem_post(&sem_items);
	}
	return NULL;
}

static void *sem_consumer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 1000; i++) {
		sem_wait(&sem_items);
		atomic_fetch_add(&sem_sum, 1);
		sem_post(&sem_slots);
	}
	return NULL;
}

static void test_spin_sem(void)
{
	pthread_t th[NT];
	pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE);
	/* Spinning threads on few CPUs are slow: use 4. */
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, spin_worker, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	check(spin_count == 80000, "spinlock: 4 x 20000 = %ld", spin_count);
	check(pthread_spin_trylock(&spin) == 0 && pthread_spin_trylock(&spin) == EBUSY, "spin_trylock then EBUSY");
	pthread_spin_unlock(&spin);
	pthread_spin_destroy(&spin);

	sem_init(&sem_items, 0, 0);
	sem_init(&sem_slots, 0, 4);
	for (int i = 0; i < NT; i++)
		pthread_create(&th[i], NULL, i % 2 ? sem_consumer : sem_producer, NULL);
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	int v1 = -1, v2 = -1;
	sem_getvalue(&sem_items, &v1);
	sem_getvalue(&sem_slots, &v2);
	check(sem_sum == 8000 && v1 == 0 && v2 == 4, "semaphores: 8000 items through 4 slots, values back to 0 and 4");
	errno = 0;
	int tw = sem_trywait(&sem_items);
	expect_err(tw, EAGAIN, "sem_trywait on 0");
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_nsec += 20000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	int tt = sem_timedwait(&sem_items, &dl);
	expect_err(tt, ETIMEDOUT, "sem_timedwait on 0");
	sem_destroy(&sem_items);
	sem_destroy(&sem_slots);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_mutex();
	test_condvar();
	test_rwlock();
	test_barrier();
	test_spin_sem();
	return finish();
}
