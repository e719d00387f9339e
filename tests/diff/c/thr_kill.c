/* Signals to one thread: pthread_kill runs the handler in the target thread
 * (its gettid, its TLS), and interrupts that thread's blocking read with
 * EINTR while the other threads' calls go on; pthread_kill with signal 0
 * probes; a signal blocked in the target stays pending for it alone
 * (pthread_sigmask, sigpending per thread) until it unblocks; sigwait in one
 * thread takes a thread-directed signal; a process-directed kill() reaches
 * the one thread that does not block it; tgkill with a wrong tgid is ESRCH;
 * rt_tgsigqueueinfo (pthread_sigqueue) carries a value to one thread, and
 * forging SI_USER for another thread is EPERM. */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#define NT 8

static __thread int my_index = -1;
static atomic_int hits[NT + 1];
static atomic_int wrong_thread;
static pid_t tids[NT + 1];
static atomic_int ready;
static atomic_int stop;
static int pipes[NT][2];
static int read_result[NT], read_errno[NT];

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	(void)sig;
	int me = my_index;
	if (me < 0 || tids[me] != (pid_t)syscall(SYS_gettid))
		atomic_store(&wrong_thread, 1);
	if (me >= 0)
		atomic_fetch_add(&hits[me], 1);
	if (si->si_code == SI_QUEUE && si->si_value.sival_int != 4242)
		atomic_store(&wrong_thread, 1);
}

static void *worker(void *arg)
{
	int me = (int)(intptr_t)arg;
	my_index = me;
	tids[me] = (pid_t)syscall(SYS_gettid);
	atomic_fetch_add(&ready, 1);
	char c;
	ssize_t r = read(pipes[me][0], &c, 1);
	read_result[me] = (int)r;
	read_errno[me] = r < 0 ? errno : 0;
	while (!atomic_load(&stop))
		sched_yield();
	return NULL;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static atomic_int blocked_ready, blocked_go;
static int pending_before, pending_main, hits_while_blocked;

static void *blocker(void *arg)
{
	(void)arg;
	my_index = NT;
	tids[NT] = (pid_t)syscall(SYS_gettid);
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	atomic_store(&blocked_ready, 1);
	while (!atomic_load(&blocked_go))
		sched_yield();
	sigset_t p;
	sigpending(&p);
	pending_before = sigismember(&p, SIGUSR2);
	hits_while_blocked = atomic_load(&hits[NT]);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	return NULL;
}

static void *sigwaiter(void *arg)
{
	(void)arg;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGRTMIN + 1);
	int sig = 0;
	atomic_store(&ready, 1);
	sigwait(&s, &sig);
	return (void *)(intptr_t)sig;
}

static atomic_int proc_hits_main, proc_hits_other;
static pthread_t main_thread;

static void proc_handler(int sig)
{
	(void)sig;
	if (pthread_equal(pthread_self(), main_thread))
		atomic_fetch_add(&proc_hits_main, 1);
	else
		atomic_fetch_add(&proc_hits_other, 1);
}

static void *unblocked_one(void *arg)
{
	(void)arg;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	atomic_store(&ready, 1);
	while (atomic_load(&proc_hits_other) == 0 && !atomic_load(&stop))
		sched_yield();
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	main_thread = pthread_self();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: reads see EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);

	pthread_t th[NT];
	for (int i = 0; i < NT; i++) {
		pipe(pipes[i]);
		pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
	}
	while (atomic_load(&ready) < NT)
		sched_yield();
	sleep_ms(100);
	/* Interrupt threads 2 and 5 only; the others get a byte. */
	check(pthread_kill(th[2], SIGUSR1) == 0, "pthread_kill thread 2 SIGUSR1");
	/* pthread_sigqueue (glibc) is rt_tgsigqueueinfo; musl has no wrapper. */
	siginfo_t qi;
	memset(&qi, 0, sizeof qi);
	qi.si_signo = SIGUSR1;
	qi.si_code = SI_QUEUE;
	qi.si_pid = getpid();
	qi.si_uid = getuid();
	qi.si_value.sival_int = 4242;
	check(syscall(SYS_rt_tgsigqueueinfo, getpid(), tids[5], SIGUSR1, &qi) == 0, "rt_tgsigqueueinfo thread 5 with a value");
	sleep_ms(100);
	for (int i = 0; i < NT; i++)
		if (i != 2 && i != 5)
			write(pipes[i][1], "x", 1);
	atomic_store(&stop, 1);
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	int ok = 1;
	for (int i = 0; i < NT; i++) {
		int want = (i == 2 || i == 5) ? 1 : 0;
		if (hits[i] != want)
			ok = 0;
	}
	check(ok, "the handler ran once, in threads 2 and 5 only");
	check(!wrong_thread, "the handler ran on the target's own thread (gettid, TLS, value)");
	check(read_result[2] == -1 && read_errno[2] == EINTR && read_result[5] == -1 && read_errno[5] == EINTR,
	      "the targets' reads failed with EINTR");
	ok = 1;
	for (int i = 0; i < NT; i++)
		if (i != 2 && i != 5 && read_result[i] != 1)
			ok = 0;
	check(ok, "the other threads' reads got their byte");
	check(pthread_kill(pthread_self(), 0) == 0, "pthread_kill(self, 0) probes");

	/* Blocked in the target: pending for that thread only. */
	atomic_store(&stop, 0);
	pthread_t b;
	pthread_create(&b, NULL, blocker, NULL);
	while (!atomic_load(&blocked_ready))
		sched_yield();
	pthread_kill(b, SIGUSR2);
	sleep_ms(50);
	sigset_t p;
	sigpending(&p);
	pending_main = sigismember(&p, SIGUSR2);
	atomic_store(&blocked_go, 1);
	pthread_join(b, NULL);
	check(pending_before == 1 && hits_while_blocked == 0, "blocked SIGUSR2 pending in the target, not delivered");
	check(pending_main == 0, "not pending in the main thread");
	check(hits[NT] == 1, "delivered in the target once it unblocked");

	/* sigwait in one thread takes a signal sent to it. */
	sigset_t rs;
	sigemptyset(&rs);
	sigaddset(&rs, SIGRTMIN + 1);
	pthread_sigmask(SIG_BLOCK, &rs, NULL); /* inherited by the waiter */
	atomic_store(&ready, 0);
	pthread_t w;
	pthread_create(&w, NULL, sigwaiter, NULL);
	while (!atomic_load(&ready))
		sched_yield();
	sleep_ms(50);
	pthread_kill(w, SIGRTMIN + 1);
	void *rv;
	pthread_join(w, &rv);
	check((intptr_t)rv == SIGRTMIN + 1, "sigwait in the target thread took SIGRTMIN+1");

	/* kill() to the process: delivered to the one thread not blocking it. */
	signal(SIGALRM, proc_handler);
	sigset_t as;
	sigemptyset(&as);
	sigaddset(&as, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &as, NULL);
	atomic_store(&ready, 0);
	atomic_store(&stop, 0);
	pthread_t u;
	pthread_create(&u, NULL, unblocked_one, NULL);
	while (!atomic_load(&ready))
		sched_yield();
	kill(getpid(), SIGALRM);
	for (int i = 0; i < 200 && atomic_load(&proc_hits_other) == 0; i++)
		sleep_ms(10);
	atomic_store(&stop, 1);
	pthread_join(u, NULL);
	check(proc_hits_other == 1 && proc_hits_main == 0, "process-directed SIGALRM ran in the thread that does not block it");

	errno = 0;
	long r = syscall(SYS_tgkill, getpid() + 12345, (pid_t)syscall(SYS_gettid), SIGUSR1);
	expect_err(r, ESRCH, "tgkill with a wrong tgid");
	errno = 0;
	r = syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), 1000);
	expect_err(r, EINVAL, "tgkill with a bad signal");
	memset(&qi, 0, sizeof qi);
	qi.si_code = SI_USER;
	errno = 0;
	r = syscall(SYS_rt_tgsigqueueinfo, getpid(), tids[0], SIGUSR1, &qi);
	expect_err(r, EPERM, "rt_tgsigqueueinfo forging SI_USER to another thread");
	qi.si_code = SI_QUEUE;
	errno = 0;
	r = syscall(SYS_rt_tgsigqueueinfo, getpid() + 12345, (pid_t)syscall(SYS_gettid), 0, &qi);
	expect_err(r, ESRCH, "rt_tgsigqueueinfo with a wrong tgid");
	r = syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid), 0, &qi);
	expect_ok(r, "rt_tgsigqueueinfo signal 0 to itself");
	return finish();
}
