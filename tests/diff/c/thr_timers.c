/* POSIX timers and scheduling: timer_create with SIGEV_SIGNAL (siginfo
 * code, value, overrun), SIGEV_THREAD_ID (the named thread gets it),
 * SIGEV_NONE (gettime counts down), SIGEV_THREAD (the libc's helper
 * thread), TIMER_ABSTIME, old values, disarm, delete, errors;
 * clock_nanosleep TIMER_ABSTIME; sched_* policies and parameters, affinity,
 * sched_getattr, getcpu, membarrier. */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#ifndef SYS_membarrier
#define SYS_membarrier 324
#endif
#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif
#define MB_QUERY 0
#define MB_GLOBAL 1
#define MB_PRIVATE_EXPEDITED 8
#define MB_REGISTER_PRIVATE_EXPEDITED 16

struct ksigevent {
	union sigval value;
	int signo, notify;
	int tid;
	int pad[11];
};

static long mkt(clockid_t c, struct ksigevent *ev, int *id)
{
	return syscall(SYS_timer_create, c, ev, id);
}

static void set_ms(struct itimerspec *its, long value_ms, long interval_ms)
{
	its->it_value.tv_sec = value_ms / 1000;
	its->it_value.tv_nsec = value_ms % 1000 * 1000000;
	its->it_interval.tv_sec = interval_ms / 1000;
	its->it_interval.tv_nsec = interval_ms % 1000 * 1000000;
}

static void signal_timer(void)
{
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGRTMIN + 2);
	sigaddset(&m, SIGALRM);
	sigprocmask(SIG_BLOCK, &m, NULL);

	struct ksigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.notify = SIGEV_SIGNAL;
	ev.signo = SIGRTMIN + 2;
	ev.value.sival_int = 777;
	int id = -1;
	expect_ok(mkt(CLOCK_MONOTONIC, &ev, &id), "timer_create SIGEV_SIGNAL");
	struct itimerspec its, old, cur;
	set_ms(&its, 150, 0);
	expect_ok(syscall(SYS_timer_settime, id, 0, &its, &old), "timer_settime 150 ms");
	check(old.it_value.tv_sec == 0 && old.it_value.tv_nsec == 0, "old value of a new timer is zero");
	check(syscall(SYS_timer_gettime, id, &cur) == 0 && cur.it_value.tv_nsec > 0 && cur.it_value.tv_nsec <= 150000000,
	      "gettime counts down");
	siginfo_t si;
	int s = sigwaitinfo(&m, &si);
	check(s == SIGRTMIN + 2 && si.si_code == SI_TIMER && si.si_value.sival_int == 777 && si.si_overrun == 0,
	      "signal with SI_TIMER, value and no overrun");
	check(syscall(SYS_timer_gettime, id, &cur) == 0 && cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0,
	      "one-shot disarmed after firing");

	/* periodic with the signal blocked: overruns pile up */
	set_ms(&its, 10, 10);
	syscall(SYS_timer_settime, id, 0, &its, NULL);
	struct timespec ts = {0, 75 * 1000 * 1000};
	nanosleep(&ts, NULL);
	s = sigwaitinfo(&m, &si);
	long ov = syscall(SYS_timer_getoverrun, id);
	check(s == SIGRTMIN + 2 && si.si_overrun >= 3, "periodic: one signal, at least 3 overruns");
	check(ov == si.si_overrun, "timer_getoverrun agrees with si_overrun");
	struct itimerspec zero;
	memset(&zero, 0, sizeof zero);
	check(syscall(SYS_timer_settime, id, 0, &zero, &old) == 0 && old.it_interval.tv_nsec == 10000000, "disarm returns the interval");
	expect_ok(syscall(SYS_timer_delete, id), "timer_delete");
	expect_err(syscall(SYS_timer_delete, id), EINVAL, "timer_delete twice");
	expect_err(syscall(SYS_timer_gettime, id, &cur), EINVAL, "gettime of a deleted timer");

	/* default sigevent: SIGALRM with the timer id as value; absolute realtime */
	int id2 = -1;
	expect_ok(mkt(CLOCK_REALTIME, NULL, &id2), "timer_create with NULL sigevent");
	struct timespec now;
	syscall(SYS_clock_gettime, CLOCK_REALTIME, &now);
	its.it_interval.tv_sec = its.it_interval.tv_nsec = 0;
	its.it_value = now;
	its.it_value.tv_nsec += 20000000;
	if (its.it_value.tv_nsec >= 1000000000) {
		its.it_value.tv_sec++;
		its.it_value.tv_nsec -= 1000000000;
	}
	expect_ok(syscall(SYS_timer_settime, id2, TIMER_ABSTIME, &its, NULL), "settime TIMER_ABSTIME realtime");
	s = sigwaitinfo(&m, &si);
	check(s == SIGALRM && si.si_code == SI_TIMER && si.si_value.sival_int == id2, "SIGALRM with the id as value");
	syscall(SYS_timer_delete, id2);

	/* SIGEV_NONE */
	ev.notify = SIGEV_NONE;
	int id3;
	mkt(CLOCK_MONOTONIC, &ev, &id3);
	set_ms(&its, 30, 0);
	syscall(SYS_timer_settime, id3, 0, &its, NULL);
	ts.tv_nsec = 40 * 1000 * 1000;
	nanosleep(&ts, NULL);
	check(syscall(SYS_timer_gettime, id3, &cur) == 0 && cur.it_value.tv_nsec == 0, "SIGEV_NONE expired silently");
	sigset_t pend;
	sigpending(&pend);
	check(!sigismember(&pend, SIGRTMIN + 2), "no signal from SIGEV_NONE");
	syscall(SYS_timer_delete, id3);

	ev.notify = 99;
	expect_err(mkt(CLOCK_MONOTONIC, &ev, &id3), EINVAL, "bad sigev_notify");
	ev.notify = SIGEV_SIGNAL;
	ev.signo = 200;
	expect_err(mkt(CLOCK_MONOTONIC, &ev, &id3), EINVAL, "bad signal number");
	ev.signo = SIGALRM;
	expect_err(mkt(12345, &ev, &id3), EINVAL, "bad clock");
	ev.notify = SIGEV_SIGNAL | SIGEV_THREAD_ID;
	ev.tid = 0x7ffffff0;
	expect_err(mkt(CLOCK_MONOTONIC, &ev, &id3), EINVAL, "SIGEV_THREAD_ID with no such thread");
	expect_err(syscall(SYS_timer_settime, 4242, 0, &its, NULL), EINVAL, "settime of an unknown timer");
	sigprocmask(SIG_UNBLOCK, &m, NULL);
}

static atomic_int target_tid, target_ready;
static atomic_long target_got;

static void *target_thread(void *arg)
{
	(void)arg;
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	target_tid = syscall(SYS_gettid);
	target_ready = 1;
	siginfo_t si;
	int s = sigwaitinfo(&m, &si);
	target_got = s == SIGUSR2 && si.si_code == SI_TIMER ? si.si_value.sival_int : -1;
	return NULL;
}

static void thread_id_timer(void)
{
	/* the main thread blocks SIGUSR2 too, so only the named thread takes it */
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	sigprocmask(SIG_BLOCK, &m, NULL);
	pthread_t th;
	pthread_create(&th, NULL, target_thread, NULL);
	while (!target_ready)
		sched_yield();
	struct ksigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.notify = SIGEV_SIGNAL | SIGEV_THREAD_ID;
	ev.signo = SIGUSR2;
	ev.tid = target_tid;
	ev.value.sival_int = 31337;
	int id;
	expect_ok(mkt(CLOCK_MONOTONIC, &ev, &id), "timer_create SIGEV_THREAD_ID");
	struct itimerspec its;
	set_ms(&its, 15, 0);
	syscall(SYS_timer_settime, id, 0, &its, NULL);
	pthread_join(th, NULL);
	check(target_got == 31337, "the named thread got the timer signal");
	sigset_t pend;
	sigpending(&pend);
	check(!sigismember(&pend, SIGUSR2), "nothing left pending for the process");
	syscall(SYS_timer_delete, id);
	sigprocmask(SIG_UNBLOCK, &m, NULL);
}

static atomic_int fired;
static void on_fire(union sigval v)
{
	if (v.sival_int == 99)
		atomic_fetch_add(&fired, 1);
}

static void thread_timer(void)
{
	struct sigevent sev;
	memset(&sev, 0, sizeof sev);
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = on_fire;
	sev.sigev_value.sival_int = 99;
	timer_t t;
	expect_ok(timer_create(CLOCK_MONOTONIC, &sev, &t), "timer_create SIGEV_THREAD (libc)");
	struct itimerspec its;
	set_ms(&its, 10, 10);
	timer_settime(t, 0, &its, NULL);
	for (int i = 0; i < 500 && fired < 3; i++) {
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	check(fired >= 3, "SIGEV_THREAD callback ran repeatedly");
	timer_delete(t);
}

static void abs_sleep(void)
{
	struct timespec t0, dl, t1;
	/* the system call, not the vDSO: this checks clock_nanosleep, not the vDSO's clock */
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t0);
	dl = t0;
	dl.tv_nsec += 30 * 1000 * 1000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	check(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL) == 0, "clock_nanosleep TIMER_ABSTIME");
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t1);
	check(t1.tv_sec > dl.tv_sec || (t1.tv_sec == dl.tv_sec && t1.tv_nsec >= dl.tv_nsec), "woke after the deadline");
}

static void sched(void)
{
	check(syscall(SYS_sched_getscheduler, 0) == SCHED_OTHER, "policy SCHED_OTHER");
	struct sched_param sp = {.sched_priority = 7};
	check(syscall(SYS_sched_getparam, 0, &sp) == 0 && sp.sched_priority == 0, "priority 0");
	check(sched_get_priority_max(SCHED_FIFO) == 99 && sched_get_priority_min(SCHED_FIFO) == 1, "FIFO range 1..99");
	check(sched_get_priority_max(SCHED_RR) == 99 && sched_get_priority_min(SCHED_RR) == 1, "RR range 1..99");
	check(sched_get_priority_max(SCHED_OTHER) == 0 && sched_get_priority_min(SCHED_BATCH) == 0, "OTHER/BATCH range 0");
	expect_err(sched_get_priority_max(42), EINVAL, "priority range of a bad policy");
	sp.sched_priority = 0;
	expect_ok(syscall(SYS_sched_setscheduler, 0, SCHED_BATCH, &sp), "set SCHED_BATCH");
	check(syscall(SYS_sched_getscheduler, 0) == SCHED_BATCH, "now SCHED_BATCH");
	expect_ok(syscall(SYS_sched_setscheduler, 0, SCHED_IDLE, &sp), "set SCHED_IDLE");
	check(syscall(SYS_sched_getscheduler, syscall(SYS_gettid)) == SCHED_IDLE, "now SCHED_IDLE (by tid)");
	sp.sched_priority = 5;
	expect_err(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, &sp), EINVAL, "priority 5 with SCHED_OTHER");
	expect_err(syscall(SYS_sched_setscheduler, 0, 77, &sp), EINVAL, "bad policy");
	expect_err(syscall(SYS_sched_setscheduler, 0, SCHED_OTHER, NULL), EINVAL, "NULL param");
	expect_err(syscall(SYS_sched_getscheduler, -1), EINVAL, "negative pid");
	expect_err(syscall(SYS_sched_getscheduler, 0x3ffffff0), ESRCH, "no such pid");
	struct timespec rr;
	expect_ok(sched_rr_get_interval(0, &rr), "sched_rr_get_interval");
	struct {
		uint32_t size, policy;
		uint64_t flags;
		int32_t nice;
		uint32_t prio;
		uint64_t runtime, deadline, period;
		uint32_t umin, umax;
	} attr;
	memset(&attr, 0xff, sizeof attr);
	check(syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) == 0 && attr.size == sizeof attr &&
		      attr.policy == SCHED_IDLE && attr.prio == 0 && attr.flags == 0,
	      "sched_getattr");
	memset(&attr, 0, sizeof attr);
	attr.size = sizeof attr;
	attr.policy = SCHED_OTHER;
	attr.nice = 3;
	expect_ok(syscall(SYS_sched_setattr, 0, &attr, 0), "sched_setattr OTHER nice 3");
	memset(&attr, 0, sizeof attr);
	check(syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) == 0 && attr.policy == SCHED_OTHER && attr.nice == 3,
	      "sched_getattr sees nice 3");
	expect_err(syscall(SYS_sched_getattr, 0, &attr, 8, 0), EINVAL, "sched_getattr small size");

	cpu_set_t set;
	CPU_ZERO(&set);
	check(sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) >= 1, "getaffinity");
	int first = -1; /* the last CPU allowed, so that it is not CPU 0 where there are several */
	for (int i = 0; i < CPU_SETSIZE; i++)
		if (CPU_ISSET(i, &set))
			first = i;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	expect_ok(sched_setaffinity(0, sizeof one, &one), "setaffinity to one CPU");
	cpu_set_t back;
	check(sched_getaffinity(0, sizeof back, &back) == 0 && CPU_COUNT(&back) == 1 && CPU_ISSET(first, &back), "affinity is that CPU");
	unsigned cpu = 999;
	check(syscall(SYS_getcpu, &cpu, NULL, NULL) == 0 && (int)cpu == first, "getcpu runs there");
	sched_setaffinity(0, sizeof set, &set);
	CPU_ZERO(&one);
	expect_err(sched_setaffinity(0, sizeof one, &one), EINVAL, "empty affinity");
	check(sched_yield() == 0, "sched_yield");

	long q = syscall(SYS_membarrier, MB_QUERY, 0, 0);
	check(q > 0 && (q & MB_PRIVATE_EXPEDITED) && (q & MB_GLOBAL), "membarrier query");
	expect_err(syscall(SYS_membarrier, MB_PRIVATE_EXPEDITED, 0, 0), EPERM, "private expedited before registering");
	expect_ok(syscall(SYS_membarrier, MB_REGISTER_PRIVATE_EXPEDITED, 0, 0), "register private expedited");
	expect_ok(syscall(SYS_membarrier, MB_PRIVATE_EXPEDITED, 0, 0), "private expedited");
	expect_err(syscall(SYS_membarrier, 12345, 0, 0), EINVAL, "bad membarrier command");
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal_timer();
	thread_id_timer();
	thread_timer();
	abs_sleep();
	sched();
	return finish();
}
