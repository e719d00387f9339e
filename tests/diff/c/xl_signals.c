/* System calls in tight loops while signals arrive: the calls elfuse serves
 * without a VM exit (getppid, getpid, stat, reads of /dev/zero, writes to
 * /dev/null, futex wakes, sigprocmask) must give the same results as the
 * kernel's, a signal must find the thread at a program address (never in
 * elfuse's trampoline or thunks: the handler checks the interrupted RIP is
 * in this program's text), a signal a call unblocks or raises must run
 * before the call returns, fork children and threads must do the same, and
 * a call that blocks for long (a FIFO's open) must still return.
 * Under `elfuse --syscalls=exitless` this is the exitless path's test. */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>

extern char __executable_start[], etext[];

static volatile sig_atomic_t ticks, bad_rip, usr1;

static void on_alarm(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)si;
	unsigned long rip = ((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
	if (rip < (unsigned long)__executable_start || rip >= (unsigned long)etext)
		bad_rip++;
	ticks++;
}

static void on_usr1(int sig) { (void)sig; usr1++; }

/* busy runs a mix of calls n times and returns a checksum that does not
 * depend on timing. */
static long busy(long n)
{
	long sum = 0;
	static int word;
	char b;
	struct stat st;
	int z = open("/dev/zero", O_RDONLY), nul = open("/dev/null", O_WRONLY);
	pid_t pp = getppid(), me = getpid();
	for (long i = 0; i < n; i++) {
		sum += getppid() == pp;
		sum += syscall(SYS_getpid) == me;
		sum += stat("/", &st) == 0 && S_ISDIR(st.st_mode);
		sum += read(z, &b, 1) == 1 && b == 0;
		sum += write(nul, &b, 1) == 1;
		sum += syscall(SYS_futex, &word, 1 /* FUTEX_WAKE */, 1, 0, 0, 0) == 0;
	}
	close(z);
	close(nul);
	return sum;
}

static void *thread_main(void *arg)
{
	long n = (long)arg;
	return (void *)(busy(n) == 6 * n ? 1L : 0L);
}

/* fifo_open opens a FIFO for reading while a child opens it for writing
 * 100 ms later: the open blocks in whichever host thread runs it. */
static void fifo_open(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/fifo", dir);
	check(mkfifo(path, 0600) == 0, "mkfifo");
	pid_t c = fork();
	if (c == 0) {
		usleep(100000);
		int w = open(path, O_WRONLY);
		_exit(w >= 0 && write(w, "x", 1) == 1 ? 0 : 1);
	}
	int r = open(path, O_RDONLY);
	char b = 0;
	check(r >= 0 && read(r, &b, 1) == 1 && b == 'x', "a blocking FIFO open returns when the writer comes");
	int status;
	waitpid(c, &status, 0);
	check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the FIFO's writer");
	close(r);
}

int main(int argc, char **argv)
{
	const char *dir = scratch(argc, argv);
	struct sigaction sa = {0};
	sa.sa_sigaction = on_alarm;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	signal(SIGUSR1, on_usr1);

	struct itimerval it = {{0, 200}, {0, 200}};
	setitimer(ITIMER_REAL, &it, NULL);
	long n = 20000;
	check(busy(n) == 6 * n, "calls give the kernel's results while SIGALRM arrives");

	/* Threads, each with its own mailbox. */
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, thread_main, (void *)5000L);
	int good = 0;
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		good += r == (void *)1L;
	}
	check(good == 4, "4 threads: every call gives the kernel's result");

	/* A fork child on its own copy of the patched code. */
	pid_t c = fork();
	if (c == 0)
		_exit(busy(3000) == 6 * 3000 ? 7 : 1);
	int status;
	while (waitpid(c, &status, 0) < 0 && errno == EINTR)
		;
	check(WIFEXITED(status) && WEXITSTATUS(status) == 7, "fork child: calls give the kernel's results");

	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	check(ticks > 0, "SIGALRM arrived during the loops");
	check(bad_rip == 0, "every signal found the thread in the program's text");

	/* A signal the call raises, or unblocks, runs before the call returns. */
	for (int i = 0; i < 1000; i++) {
		int before = usr1;
		kill(getpid(), SIGUSR1);
		if (usr1 != before + 1) {
			check(0, "kill(self) runs the handler before kill returns");
			break;
		}
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	for (int i = 0; i < 1000; i++) {
		int before = usr1;
		sigprocmask(SIG_BLOCK, &set, NULL);
		kill(getpid(), SIGUSR1);
		int blocked = usr1 == before;
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		if (!blocked || usr1 != before + 1) {
			check(0, "sigprocmask(SIG_UNBLOCK) runs the pending handler before it returns");
			break;
		}
	}
	printf("ok signals raised and unblocked ran in order\n");
	fifo_open(dir);
	return diff_failed;
}
