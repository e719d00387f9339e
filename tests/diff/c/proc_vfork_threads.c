/* vfork from a multithreaded process while its other threads change the
 * mappings (mmap, touch, mprotect, munmap, MADV_DONTNEED), as the Go
 * toolchain's os/exec does: the vfork child runs on the parent's address
 * space, so the parent's page-table changes must wait for the child's vCPU
 * too, and the child's for the parent's threads. A child that spins in user
 * mode and then makes system calls finds its tables intact. Then a vfork
 * child outlives the process whose memory it runs on (another thread of
 * that process exits it): the memory stays until the child is done. */
#include "proc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#define WORKERS 3
#define CHILDREN 150

static atomic_int stop;
static atomic_long rounds;

static void *churn(void *arg)
{
	long id = (long)arg;
	int bad = 0;
	while (!atomic_load(&stop)) {
		size_t len = (id == 0 ? 4u << 20 : 64u << 10);
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			bad++;
			break;
		}
		for (size_t o = 0; o < len; o += 4096)
			p[o] = (char)(o >> 12);
		for (size_t o = 0; o < len; o += 4096)
			if (p[o] != (char)(o >> 12))
				bad++;
		if (mprotect(p, len / 2, PROT_READ) != 0)
			bad++;
		if (madvise(p + len / 2, 4096, MADV_DONTNEED) != 0 || p[len / 2] != 0)
			bad++;
		if (munmap(p, len) != 0)
			bad++;
		atomic_fetch_add(&rounds, 1);
	}
	return (void *)(long)bad;
}

/* Pipes of the orphaned vfork child: it says it has started, waits for
 * the go, then reports. */
static int started[2], go[2], report[2];

static void *vforker(void *arg)
{
	(void)arg;
	if (vfork() == 0) {
		char c = 's';
		if (write(started[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		/* The memory of the exited parent: the stack and a global. */
		volatile char buf[16384];
		for (size_t i = 0; i < sizeof buf; i += 512)
			buf[i] = (char)i;
		for (size_t i = 0; i < sizeof buf; i += 512)
			if (buf[i] != (char)i)
				_exit(2);
		static const char msg[] = "vfork child ran on after its parent exited\n";
		_exit(write(report[1], msg, sizeof msg - 1) == sizeof msg - 1 ? 5 : 3);
	}
	return NULL;
}

static void orphaned_vfork_child(void)
{
	expect_ok(prctl(PR_SET_CHILD_SUBREAPER, 1), "subreaper");
	expect_ok(pipe(started), "pipe");
	expect_ok(pipe(go), "pipe");
	expect_ok(pipe(report), "pipe");
	pid_t p = xfork();
	if (p == 0) {
		pthread_t th;
		pthread_create(&th, NULL, vforker, NULL);
		char c;
		if (read(started[0], &c, 1) != 1)
			_exit(1);
		_exit(0); /* exit_group while the vfork child runs */
	}
	close(started[1]);
	close(report[1]);
	expect_status(p, "exit 0", "parent of the vfork child exited");
	/* Allocate and free memory while the child waits: frames the parent's
	 * memory held would be reused here if it had been freed. */
	for (int i = 0; i < 64; i++) {
		char *m = mmap(NULL, 64 << 10, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			break;
		memset(m, 0x5a, 64 << 10);
		if (i % 2)
			munmap(m, 64 << 10);
	}
	char c = 'g';
	check(write(go[1], &c, 1) == 1, "go");
	char buf[128] = {0};
	ssize_t n = 0, r;
	while ((r = read(report[0], buf + n, sizeof buf - 1 - n)) > 0)
		n += r;
	printf("child says: %s", buf);
	int st = 0;
	pid_t w;
	while ((w = wait(&st)) < 0 && errno == EINTR)
		;
	check(w > 0, "orphaned vfork child reaped by the subreaper");
	check(w > 0 && strcmp(statusstr(st), "exit 5") == 0, "orphaned vfork child: %s", statusstr(st));
}

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	orphaned_vfork_child();
	pthread_t th[WORKERS];
	for (long i = 0; i < WORKERS; i++)
		pthread_create(&th[i], NULL, churn, (void *)i);
	/* Let the workers get going. */
	while (atomic_load(&rounds) < 20)
		sched_yield();

	int ok = 0;
	for (int i = 0; i < CHILDREN; i++) {
		fflush(stdout);
		pid_t p = vfork();
		if (p == 0) {
			/* User-mode work between system calls: the parent's
			 * threads change the tables meanwhile. */
			for (int k = 0; k < 4; k++) {
				for (volatile int j = 0; j < 20000; j++)
					;
				if (getpid() <= 0)
					_exit(1);
			}
			_exit(7);
		}
		if (p < 0)
			break;
		int st;
		if (waitpid(p, &st, 0) == p && WIFEXITED(st) && WEXITSTATUS(st) == 7)
			ok++;
	}
	atomic_store(&stop, 1);
	long bad = 0;
	for (int i = 0; i < WORKERS; i++) {
		void *r;
		pthread_join(th[i], &r);
		bad += (long)r;
	}
	check(ok == CHILDREN, "%d vfork children ran and exited 7", CHILDREN);
	check(bad == 0, "worker threads saw their memory intact while the children ran");
	return finish();
}
