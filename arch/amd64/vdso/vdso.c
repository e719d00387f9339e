/*
 * elfuse's vDSO for amd64 guests: clock_gettime, gettimeofday, time and
 * getcpu without leaving the VM. Times are computed from the TSC and the
 * calibration the host keeps in the vvar page just below this image; clocks
 * it does not serve fall back to the system call.
 * Built by vdsogen (go generate ./arch/amd64) into zvdso.go.
 */
#include "vdso.h"

struct timespec_ { long tv_sec; long tv_nsec; };
struct timeval_ { long tv_sec; long tv_usec; };

extern const char __ehdr_start[] __attribute__((visibility("hidden")));

static inline const struct vvar *vvar(void)
{
	return (const struct vvar *)(__ehdr_start - 4096);
}

static inline unsigned long rdtsc(void)
{
	unsigned int lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((unsigned long)hi << 32) | lo;
}

static long sys2(long nr, long a, long b)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
	return ret;
}

/* MAX_SINCE_NS bounds the time the vDSO extrapolates past a calibration. */
#define MAX_SINCE_NS 4000000000UL

/* now returns the clock in ns, or -1 when the caller must use the syscall. */
static long now(int clk)
{
	const struct vvar *v = vvar();
	unsigned int seq;
	long base;
	unsigned long since;
	do {
		seq = v->seq;
		__asm__ volatile("" ::: "memory");
		if (!v->valid)
			return -1;
		switch (clk) {
		/* The coarse and raw clocks tick apart from these; the host serves them. */
		case 0: base = v->real_base; break;  /* REALTIME */
		case 1: base = v->mono_base; break;  /* MONOTONIC */
		case 7: base = v->boot_base; break;  /* BOOTTIME */
		default: return -1;
		}
		since = (unsigned long)(((unsigned __int128)(rdtsc() - v->tsc_base) * v->mult) >> 32);
		__asm__ volatile("" ::: "memory");
	} while ((seq & 1) || seq != v->seq);
	/*
	 * The host calibrates about once a second while the guest runs. A
	 * reading far from the last calibration (an idle process, or a TSC
	 * that does not count as the calibration assumed) goes to the host.
	 */
	if (since > MAX_SINCE_NS)
		return -1;
	return base + (long)since;
}

int __vdso_clock_gettime(int clk, struct timespec_ *ts)
{
	long ns = now(clk);
	if (ns < 0)
		return (int)sys2(228, clk, (long)ts);
	ts->tv_sec = ns / 1000000000;
	ts->tv_nsec = ns % 1000000000;
	return 0;
}

int __vdso_gettimeofday(struct timeval_ *tv, void *tz)
{
	long ns = now(0);
	if (ns < 0)
		return (int)sys2(96, (long)tv, (long)tz);
	if (tv) {
		tv->tv_sec = ns / 1000000000;
		tv->tv_usec = ns % 1000000000 / 1000;
	}
	if (tz) {
		((int *)tz)[0] = 0;
		((int *)tz)[1] = 0;
	}
	return 0;
}

long __vdso_time(long *t)
{
	long ns = now(0);
	long s;
	if (ns < 0)
		return sys2(201, (long)t, 0);
	s = ns / 1000000000;
	if (t)
		*t = s;
	return s;
}

int __vdso_getcpu(unsigned int *cpu, unsigned int *node, void *unused)
{
	if (cpu)
		*cpu = 0;
	if (node)
		*node = 0;
	return 0;
}

int clock_gettime(int, struct timespec_ *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval_ *, void *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
int getcpu(unsigned int *, unsigned int *, void *) __attribute__((weak, alias("__vdso_getcpu")));
