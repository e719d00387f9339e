/* pthread_cancel: deferred cancellation of threads blocked in read(2) on a
 * pipe, in nanosleep, in pthread_cond_wait (the mutex is re-acquired for the
 * cleanup handler), in pthread_join and at pthread_testcancel; cleanup
 * handlers run in reverse order; PTHREAD_CANCEL_DISABLE holds a request
 * until re-enabled; asynchronous cancellation of a thread spinning in user
 * code; cancelling a finished thread; the joined value PTHREAD_CANCELED.
 * Cancellation is a signal (SIGCANCEL) delivered to one thread: glibc and
 * musl both look at where the thread was interrupted. */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static atomic_int started;
static int cleanup_log[8];
static atomic_int cleanup_n;

static void cleanup(void *arg)
{
	cleanup_log[atomic_fetch_add(&cleanup_n, 1)] = (int)(intptr_t)arg;
}

static void wait_started(int n)
{
	while (atomic_load(&started) < n)
		sched_yield();
	/* Give the thread time to block in its call. */
	struct timespec ts = {0, 50000000};
	nanosleep(&ts, NULL);
}

static int pfd[2];

static void *in_read(void *arg)
{
	(void)arg;
	char c;
	pthread_cleanup_push(cleanup, (void *)1);
	pthread_cleanup_push(cleanup, (void *)2);
	atomic_fetch_add(&started, 1);
	read(pfd[0], &c, 1);
	pthread_cleanup_pop(0);
	pthread_cleanup_pop(0);
	return (void *)7;
}

static void *in_sleep(void *arg)
{
	(void)arg;
	atomic_fetch_add(&started, 1);
	struct timespec ts = {30, 0};
	nanosleep(&ts, NULL);
	return (void *)7;
}

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_cleanup_had_lock;

static void unlock_cleanup(void *arg)
{
	(void)arg;
	cond_cleanup_had_lock = pthread_mutex_trylock(&m) == EBUSY;
	pthread_mutex_unlock(&m);
}

static void *in_condwait(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	pthread_cleanup_push(unlock_cleanup, NULL);
	atomic_fetch_add(&started, 1);
	for (;;)
		pthread_cond_wait(&cv, &m);
	pthread_cleanup_pop(1);
	return NULL;
}

static pthread_t sleeper;

static void *in_join(void *arg)
{
	(void)arg;
	atomic_fetch_add(&started, 1);
	pthread_join(sleeper, NULL);
	return (void *)7;
}

static atomic_int go_on;
static atomic_int reached_testcancel;

static void *disabled(void *arg)
{
	(void)arg;
	int old;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	atomic_fetch_add(&started, 1);
	/* A cancellation point with cancellation disabled does not act. */
	struct timespec ts = {0, 100000000};
	nanosleep(&ts, NULL); /* may see EINTR (musl): it is not cancelled */
	while (!atomic_load(&go_on))
		sched_yield();
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
	atomic_store(&reached_testcancel, 1);
	pthread_testcancel();
	return (void *)7;
}

static volatile unsigned long spin_sink;

static void *async_spin(void *arg)
{
	(void)arg;
	int old;
	pthread_setcanceltype(PTHREAD_CANCEL_ASYNCHRONOUS, &old);
	atomic_fetch_add(&started, 1);
	for (;;)
		spin_sink++;
	return NULL;
}

static void *quick(void *arg)
{
	return arg;
}

static void run(const char *what, void *(*fn)(void *), int expect_cleanups)
{
	pthread_t t;
	atomic_store(&started, 0);
	atomic_store(&cleanup_n, 0);
	pthread_create(&t, NULL, fn, NULL);
	wait_started(1);
	int rc = pthread_cancel(t);
	void *rv = NULL;
	pthread_join(t, &rv);
	check(rc == 0 && rv == PTHREAD_CANCELED, "%s: cancelled, joined PTHREAD_CANCELED", what);
	if (expect_cleanups)
		check(cleanup_n == 2 && cleanup_log[0] == 2 && cleanup_log[1] == 1, "%s: cleanup handlers ran in reverse order", what);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	pipe(pfd);
	run("blocked in read", in_read, 1);
	run("blocked in nanosleep", in_sleep, 0);
	run("blocked in pthread_cond_wait", in_condwait, 0);
	check(cond_cleanup_had_lock, "cond_wait: the cleanup handler holds the mutex");
	check(pthread_mutex_trylock(&m) == 0, "cond_wait: mutex free afterwards");
	pthread_mutex_unlock(&m);

	/* A thread blocked joining another is cancelled; the other lives on. */
	atomic_store(&started, 0);
	pthread_create(&sleeper, NULL, in_sleep, NULL);
	wait_started(1);
	pthread_t j;
	pthread_create(&j, NULL, in_join, NULL);
	wait_started(2);
	void *rv;
	pthread_cancel(j);
	pthread_join(j, &rv);
	check(rv == PTHREAD_CANCELED, "blocked in pthread_join: cancelled");
	pthread_cancel(sleeper);
	pthread_join(sleeper, &rv);
	check(rv == PTHREAD_CANCELED, "the thread it joined is still cancellable");

	/* Disabled cancellation: the request waits for testcancel. */
	atomic_store(&started, 0);
	pthread_t d;
	pthread_create(&d, NULL, disabled, NULL);
	while (atomic_load(&started) < 1)
		sched_yield();
	pthread_cancel(d);
	atomic_store(&go_on, 1);
	pthread_join(d, &rv);
	check(rv == PTHREAD_CANCELED, "disabled, then pthread_testcancel: cancelled");
	check(reached_testcancel == 1, "disabled: the thread ran on to pthread_testcancel");

	run("asynchronous, spinning in user code", async_spin, 0);

	pthread_t q;
	pthread_create(&q, NULL, quick, (void *)5);
	pthread_join(q, &rv);
	check(rv == (void *)5, "a thread that returned normally joins its value");

	/* The pipe still works after a reader was cancelled mid-read. */
	write(pfd[1], "x", 1);
	char c = 0;
	check(read(pfd[0], &c, 1) == 1 && c == 'x', "pipe intact after a cancelled read");
	return finish();
}
