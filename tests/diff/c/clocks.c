/* clock_gettime (REALTIME/MONOTONIC/BOOTTIME/PROCESS_CPUTIME/THREAD_CPUTIME/COARSE),
 * clock_getres, gettimeofday, time: monotonicity and sanity. */
#include "common.h"
#include <time.h>
#include <sys/time.h>

static long long ns(struct timespec t) { return t.tv_sec * 1000000000LL + t.tv_nsec; }

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct { clockid_t id; const char *name; } clocks[] = {
		{ CLOCK_REALTIME, "REALTIME" }, { CLOCK_MONOTONIC, "MONOTONIC" },
		{ CLOCK_BOOTTIME, "BOOTTIME" }, { CLOCK_PROCESS_CPUTIME_ID, "PROCESS_CPUTIME" },
		{ CLOCK_THREAD_CPUTIME_ID, "THREAD_CPUTIME" }, { CLOCK_MONOTONIC_RAW, "MONOTONIC_RAW" },
		{ CLOCK_REALTIME_COARSE, "REALTIME_COARSE" }, { CLOCK_MONOTONIC_COARSE, "MONOTONIC_COARSE" },
	};
	for (unsigned i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
		struct timespec a, b, r;
		int ok = clock_gettime(clocks[i].id, &a) == 0;
		long long prev = ns(a);
		int mono = 1;
		for (int j = 0; j < 1000 && ok; j++) {
			ok = clock_gettime(clocks[i].id, &b) == 0;
			if (ns(b) < prev)
				mono = 0;
			prev = ns(b);
		}
		check(ok && a.tv_nsec >= 0 && a.tv_nsec < 1000000000, "%s gettime valid", clocks[i].name);
		check(mono, "%s non-decreasing", clocks[i].name);
		check(clock_getres(clocks[i].id, &r) == 0 && r.tv_sec == 0 && r.tv_nsec > 0 && r.tv_nsec <= 10000000, "%s getres in (0,10ms]", clocks[i].name);
		struct timespec s;
		check(syscall(SYS_clock_gettime, clocks[i].id, &s) == 0 && ns(s) >= ns(a), "%s raw syscall consistent", clocks[i].name);
	}
	struct timespec hr;
	clock_getres(CLOCK_MONOTONIC, &hr);
	check(hr.tv_nsec == 1, "MONOTONIC res is 1ns");

	struct timespec rt, mono, boot;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_BOOTTIME, &boot);
	check(rt.tv_sec > 1600000000 && rt.tv_sec < 4102444800LL, "REALTIME is after 2020 and before 2100");
	check(ns(boot) >= ns(mono) - 1000000, "BOOTTIME >= MONOTONIC");
	check(mono.tv_sec > 0, "MONOTONIC > 0s");

	struct timeval tv;
	check(gettimeofday(&tv, NULL) == 0 && tv.tv_usec >= 0 && tv.tv_usec < 1000000, "gettimeofday valid");
	long long d = tv.tv_sec - rt.tv_sec;
	check(d >= 0 && d < 5, "gettimeofday close to REALTIME");
	check(syscall(SYS_gettimeofday, &tv, NULL) == 0, "SYS_gettimeofday");
	time_t t = time(NULL), t2;
	check(t >= rt.tv_sec && t - rt.tv_sec < 5, "time close to REALTIME");
	check(time(&t2) == t2 && t2 >= t, "time(&t) stores result");
	check(syscall(SYS_time, NULL) >= t, "SYS_time");

	/* cpu clock advances with work, not much more than wall clock */
	struct timespec c0, c1, w0, w1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	clock_gettime(CLOCK_MONOTONIC, &w0);
	volatile unsigned long x = 0;
	for (unsigned long i = 0; i < 100000000UL; i++)
		x += i;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &w1);
	check(ns(c1) > ns(c0), "PROCESS_CPUTIME advanced with work");
	check(ns(c1) - ns(c0) <= ns(w1) - ns(w0) + 20000000, "cpu time <= wall time");

	expect_err(syscall(SYS_clock_gettime, 12345, &rt), EINVAL, "clock_gettime bad clock");
	expect_err(syscall(SYS_clock_getres, 12345, &rt), EINVAL, "clock_getres bad clock");
	check(syscall(SYS_clock_getres, CLOCK_MONOTONIC, NULL) == 0, "clock_getres NULL res");
	expect_err(syscall(SYS_clock_settime, CLOCK_MONOTONIC, &mono), EINVAL, "clock_settime MONOTONIC");
	return finish();
}
