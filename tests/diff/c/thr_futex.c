/* futex(2) between pthreads: WAIT/WAKE (EAGAIN, relative timeout),
 * WAIT_BITSET with absolute CLOCK_MONOTONIC and CLOCK_REALTIME timeouts,
 * WAKE_BITSET selecting waiters, REQUEUE and CMP_REQUEUE (counts, EAGAIN),
 * WAKE_OP (SET/ADD/OR/ANDN/XOR with each comparison), futex_waitv (the
 * index woken, EAGAIN, ETIMEDOUT, errors), the futex2 calls futex_wake and
 * futex_wait, and a futex mutex and pthread mutex/condvar/barrier under
 * contention from 16 threads. Clocks are read with the system call, not
 * the vDSO: these checks are about futex deadlines. */
#include "common.h"

#include <limits.h>
#if __has_include(<linux/futex.h>)
#include <linux/futex.h>
#else
/* musl-gcc has no kernel headers: the futex ABI used here. */
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_REQUEUE 3
#define FUTEX_CMP_REQUEUE 4
#define FUTEX_WAKE_OP 5
#define FUTEX_WAIT_BITSET 9
#define FUTEX_WAKE_BITSET 10
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define FUTEX_WAIT_PRIVATE (FUTEX_WAIT | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_PRIVATE (FUTEX_WAKE | FUTEX_PRIVATE_FLAG)
#define FUTEX_REQUEUE_PRIVATE (FUTEX_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_CMP_REQUEUE_PRIVATE (FUTEX_CMP_REQUEUE | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_OP_PRIVATE (FUTEX_WAKE_OP | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAIT_BITSET_PRIVATE (FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG)
#define FUTEX_WAKE_BITSET_PRIVATE (FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG)
#define FUTEX_BITSET_MATCH_ANY 0xffffffff
#define FUTEX_OP_SET 0
#define FUTEX_OP_ADD 1
#define FUTEX_OP_OPARG_SHIFT 8
#define FUTEX_OP_CMP_LT 2
#define FUTEX_OP_CMP_GE 5
#define FUTEX_OP(op, oparg, cmp, cmparg) \
	(((op & 0xf) << 28) | ((cmp & 0xf) << 24) | ((oparg & 0xfff) << 12) | (cmparg & 0xfff))
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef SYS_futex_wake
#define SYS_futex_wake 454
#define SYS_futex_wait 455
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
#endif

struct kfutex_waitv {
	uint64_t val, uaddr;
	uint32_t flags, reserved;
};

static long fx(atomic_int *a, int op, int val, const struct timespec *ts, atomic_int *b, int val3)
{
	return syscall(SYS_futex, a, op, val, ts, b, val3);
}

/* waiters_on counts the threads queued on f (a requeue onto itself moves
 * none anywhere but counts them). */
static long waiters_on(atomic_int *f)
{
	return fx(f, FUTEX_REQUEUE | FUTEX_PRIVATE_FLAG, 0, (void *)(long)INT_MAX, f, 0);
}

static void wait_for_waiters(atomic_int *f, long n)
{
	for (int i = 0; i < 20000 && waiters_on(f) < n; i++) {
		struct timespec ts = {0, 100000};
		nanosleep(&ts, NULL);
	}
}

static long ns_between(struct timespec a, struct timespec b)
{
	return (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
}

struct waiter {
	atomic_int *f;
	int op, val, bitset;
	long ret;
	atomic_int *woken;
};

static void *waiter_thread(void *arg)
{
	struct waiter *w = arg;
	long r = fx(w->f, w->op, w->val, NULL, NULL, w->bitset);
	w->ret = r < 0 ? -errno : r;
	atomic_fetch_add(w->woken, 1);
	return NULL;
}

static void basics(void)
{
	atomic_int f = 5;
	expect_err(fx(&f, FUTEX_WAIT_PRIVATE, 4, NULL, NULL, 0), EAGAIN, "WAIT with a stale value");
	struct timespec rel = {0, 30 * 1000 * 1000}, t0, t1;
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t0);
	expect_err(fx(&f, FUTEX_WAIT_PRIVATE, 5, &rel, NULL, 0), ETIMEDOUT, "WAIT relative timeout");
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t1);
	check(ns_between(t0, t1) >= 29 * 1000 * 1000, "waited at least the timeout");
	check(fx(&f, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) == 0, "WAKE with nobody waiting");

	struct timespec abs;
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &abs);
	t0 = abs;
	abs.tv_nsec += 30 * 1000 * 1000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	expect_err(fx(&f, FUTEX_WAIT_BITSET_PRIVATE, 5, &abs, NULL, FUTEX_BITSET_MATCH_ANY), ETIMEDOUT,
		   "WAIT_BITSET absolute monotonic");
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t1);
	check(ns_between(abs, t1) >= 0, "monotonic deadline passed");
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &abs);
	struct timespec r0 = abs;
	abs.tv_nsec += 30 * 1000 * 1000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	expect_err(fx(&f, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 5, &abs, NULL, FUTEX_BITSET_MATCH_ANY),
		   ETIMEDOUT, "WAIT_BITSET absolute realtime");
	struct timespec r1;
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &r1);
	check(ns_between(r0, r1) >= 29 * 1000 * 1000, "realtime deadline passed");
	abs.tv_sec = 1; /* long past */
	expect_err(fx(&f, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 5, &abs, NULL, -1), ETIMEDOUT, "past deadline");
	expect_err(fx(&f, FUTEX_WAIT_BITSET_PRIVATE, 5, NULL, NULL, 0), EINVAL, "WAIT_BITSET with bitset 0");
	expect_err(fx(&f, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0), EINVAL, "WAKE_BITSET with bitset 0");
	expect_err(fx((atomic_int *)((char *)&f + 1), FUTEX_WAIT_PRIVATE, 5, NULL, NULL, 0), EINVAL, "unaligned futex");
	expect_err(fx(&f, FUTEX_WAKE_PRIVATE | FUTEX_CLOCK_REALTIME, 1, NULL, NULL, 0), ENOSYS, "CLOCK_REALTIME with WAKE");
	expect_err(fx(&f, 99, 1, NULL, NULL, 0), ENOSYS, "unknown op");
	rel.tv_nsec = 1000000000;
	expect_err(fx(&f, FUTEX_WAIT_PRIVATE, 5, &rel, NULL, 0), EINVAL, "bad timeout");
}

static void bitsets(void)
{
	atomic_int f = 0, woken = 0;
	struct waiter w[3];
	pthread_t th[3];
	for (int i = 0; i < 3; i++) {
		w[i] = (struct waiter){&f, FUTEX_WAIT_BITSET_PRIVATE, 0, 1 << i, -99, &woken};
		pthread_create(&th[i], NULL, waiter_thread, &w[i]);
	}
	wait_for_waiters(&f, 3);
	check(fx(&f, FUTEX_WAKE_BITSET_PRIVATE, 10, NULL, NULL, 2) == 1, "WAKE_BITSET 0b010 wakes one");
	pthread_join(th[1], NULL);
	check(w[1].ret == 0 && woken == 1, "the waiter with bit 1 woke");
	check(fx(&f, FUTEX_WAKE_BITSET_PRIVATE, 10, NULL, NULL, 8) == 0, "WAKE_BITSET with no match wakes none");
	check(fx(&f, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0) == 2, "plain WAKE wakes the rest");
	pthread_join(th[0], NULL);
	pthread_join(th[2], NULL);
}

static void requeue(void)
{
	atomic_int f1 = 0, f2 = 0, woken = 0;
	enum { N = 6 };
	struct waiter w[N];
	pthread_t th[N];
	for (int i = 0; i < N; i++) {
		w[i] = (struct waiter){&f1, FUTEX_WAIT_PRIVATE, 0, 0, -99, &woken};
		pthread_create(&th[i], NULL, waiter_thread, &w[i]);
	}
	wait_for_waiters(&f1, N);
	check(waiters_on(&f1) == N, "six waiters queued");
	expect_err(fx(&f1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)2L, &f2, 7), EAGAIN, "CMP_REQUEUE with a stale value");
	check(fx(&f1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)3L, &f2, 0) == 4, "CMP_REQUEUE wakes 1, moves 3");
	for (int i = 0; i < 2000 && woken < 1; i++)
		sched_yield();
	check(waiters_on(&f1) == 2 && waiters_on(&f2) == 3, "2 left on f1, 3 on f2");
	check(fx(&f1, FUTEX_REQUEUE_PRIVATE, 0, (void *)10L, &f2, 0) == 2, "REQUEUE moves the rest");
	check(fx(&f1, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0) == 0, "f1 empty");
	check(fx(&f2, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0) == 5, "wake all five on f2");
	for (int i = 0; i < N; i++)
		pthread_join(th[i], NULL);
	int ok = 1;
	for (int i = 0; i < N; i++)
		ok &= w[i].ret == 0;
	check(ok && woken == N, "every waiter returned 0");
	expect_err(fx(&f1, FUTEX_REQUEUE_PRIVATE, -1, (void *)1L, &f2, 0), EINVAL, "negative wake count");
}

static int wake_op(int op, int oparg, int cmp, int cmparg, int initial, int *after)
{
	atomic_int f1 = 0, f2 = initial, woken = 0;
	struct waiter w1 = {&f1, FUTEX_WAIT_PRIVATE, 0, 0, -99, &woken}, w2 = {&f2, FUTEX_WAIT_PRIVATE, initial, 0, -99, &woken};
	pthread_t t1, t2;
	pthread_create(&t1, NULL, waiter_thread, &w1);
	pthread_create(&t2, NULL, waiter_thread, &w2);
	wait_for_waiters(&f1, 1);
	wait_for_waiters(&f2, 1);
	long r = fx(&f1, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &f2, FUTEX_OP(op, oparg, cmp, cmparg));
	*after = f2;
	if (r < 2) /* the second waiter stays asleep (its word may have changed) */
		fx(&f2, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	return (int)r;
}

static void wakeops(void)
{
	int after;
	static const char *opn[] = {"SET", "ADD", "OR", "ANDN", "XOR"};
	static const char *cmpn[] = {"EQ", "NE", "LT", "LE", "GT", "GE"};
	for (int op = 0; op <= 4; op++) {
		for (int cmp = 0; cmp <= 5; cmp++) {
			int r = wake_op(op, 6, cmp, 5, 5, &after);
			printf("wake_op %s 6 %s 5 (old 5): woke %d, word %d\n", opn[op], cmpn[cmp], r, after);
		}
	}
	int r = wake_op(FUTEX_OP_ADD | FUTEX_OP_OPARG_SHIFT, 4, FUTEX_OP_CMP_LT, 0, -3, &after);
	printf("wake_op ADD 1<<4 LT 0 (old -3): woke %d, word %d\n", r, after);
	r = wake_op(FUTEX_OP_SET, -1, FUTEX_OP_CMP_GE, -2, -1, &after);
	printf("wake_op SET -1 GE -2 (old -1): woke %d, word %d\n", r, after);
}

static void *waitv_thread(void *arg)
{
	struct kfutex_waitv *wv = arg;
	long r = syscall(SYS_futex_waitv, wv, 3, 0, NULL, 0);
	return (void *)(r < 0 ? (long)-errno : r);
}

static void waitv(void)
{
	atomic_int a = 1, b = 2, c = 3;
	struct kfutex_waitv wv[3] = {
		{1, (uintptr_t)&a, FUTEX_32 | FUTEX_PRIVATE_FLAG, 0},
		{2, (uintptr_t)&b, FUTEX_32 | FUTEX_PRIVATE_FLAG, 0},
		{3, (uintptr_t)&c, FUTEX_32 | FUTEX_PRIVATE_FLAG, 0},
	};
	pthread_t th;
	pthread_create(&th, NULL, waitv_thread, wv);
	wait_for_waiters(&b, 1);
	check(waiters_on(&a) == 1 && waiters_on(&c) == 1, "futex_waitv queued on all three");
	check(fx(&b, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) == 1, "wake the second word");
	void *rv;
	pthread_join(th, &rv);
	check((long)rv == 1, "futex_waitv returns index 1 (got %ld)", (long)rv);
	check(waiters_on(&a) == 0 && waiters_on(&c) == 0, "no waiter left behind");

	wv[2].val = 4;
	expect_err(syscall(SYS_futex_waitv, wv, 3, 0, NULL, 0), EAGAIN, "futex_waitv with a stale value");
	wv[2].val = 3;
	struct timespec abs;
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &abs);
	abs.tv_nsec += 20 * 1000 * 1000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	expect_err(syscall(SYS_futex_waitv, wv, 3, 0, &abs, CLOCK_MONOTONIC), ETIMEDOUT, "futex_waitv timeout");
	expect_err(syscall(SYS_futex_waitv, wv, 3, 0, &abs, CLOCK_BOOTTIME), EINVAL, "futex_waitv bad clock");
	expect_err(syscall(SYS_futex_waitv, wv, 0, 0, NULL, 0), EINVAL, "futex_waitv no futexes");
	expect_err(syscall(SYS_futex_waitv, wv, 3, 1, NULL, 0), EINVAL, "futex_waitv flags");
	wv[0].flags = FUTEX_PRIVATE_FLAG;
	expect_err(syscall(SYS_futex_waitv, wv, 3, 0, NULL, 0), EINVAL, "futex_waitv entry without a size");

	/* futex2: futex_wake and futex_wait */
	atomic_int w = 9;
	expect_err(syscall(SYS_futex_wait, &w, 8, ~0u, FUTEX_32 | FUTEX_PRIVATE_FLAG, NULL, 0), EAGAIN, "futex_wait stale");
	check(syscall(SYS_futex_wake, &w, ~0u, 5, FUTEX_32 | FUTEX_PRIVATE_FLAG) == 0, "futex_wake nobody");
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &abs);
	abs.tv_nsec += 10 * 1000 * 1000;
	if (abs.tv_nsec >= 1000000000) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000;
	}
	expect_err(syscall(SYS_futex_wait, &w, 9, ~0u, FUTEX_32 | FUTEX_PRIVATE_FLAG, &abs, CLOCK_MONOTONIC), ETIMEDOUT,
		   "futex_wait timeout");
}

/* A futex mutex (Drepper's "mutex2"): 0 free, 1 locked, 2 contended. */
static atomic_int mtx;
static long counter;

static void lock(void)
{
	int c = 0;
	if (atomic_compare_exchange_strong(&mtx, &c, 1))
		return;
	if (c != 2)
		c = atomic_exchange(&mtx, 2);
	while (c != 0) {
		fx(&mtx, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
		c = atomic_exchange(&mtx, 2);
	}
}

static void unlock(void)
{
	if (atomic_fetch_sub(&mtx, 1) != 1) {
		atomic_store(&mtx, 0);
		fx(&mtx, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	}
}

enum { T = 16, ITERS = 3000 };
static pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t bar;
static long pcounter, turn;

static void *contender(void *arg)
{
	long id = (long)arg;
	pthread_barrier_wait(&bar);
	for (int i = 0; i < ITERS; i++) {
		lock();
		counter++;
		unlock();
		pthread_mutex_lock(&pm);
		pcounter++;
		pthread_mutex_unlock(&pm);
	}
	/* take turns in id order with a condition variable */
	pthread_mutex_lock(&pm);
	while (turn != id)
		pthread_cond_wait(&cv, &pm);
	turn++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&pm);
	pthread_barrier_wait(&bar);
	return NULL;
}

static void contention(void)
{
	pthread_t th[T];
	pthread_barrier_init(&bar, NULL, T);
	for (long i = 0; i < T; i++)
		pthread_create(&th[i], NULL, contender, (void *)i);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	check(counter == (long)T * ITERS, "futex mutex: exact count %ld", counter);
	check(pcounter == (long)T * ITERS, "pthread mutex: exact count %ld", pcounter);
	check(turn == T, "condvar turns in order");
	check(mtx == 0, "futex mutex free at the end");
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	basics();
	bitsets();
	requeue();
	wakeops();
	waitv();
	contention();
	return finish();
}
