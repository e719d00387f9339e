/* nanosleep and clock_nanosleep (relative/absolute) with elapsed-time ranges. */
#include "common.h"
#include <time.h>

static long long now(clockid_t c)
{
	struct timespec t;
	clock_gettime(c, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	long long t0 = now(CLOCK_MONOTONIC);
	struct timespec req = { 0, 50000000 }, rem = { 7, 7 };
	check(nanosleep(&req, &rem) == 0, "nanosleep 50ms");
	long long el = now(CLOCK_MONOTONIC) - t0;
	check(el >= 50000000 && el < 2000000000, "nanosleep elapsed in [50ms,2s)");

	t0 = now(CLOCK_MONOTONIC);
	struct timespec z = { 0, 0 };
	check(nanosleep(&z, NULL) == 0, "nanosleep 0");
	check(syscall(SYS_nanosleep, &req, NULL) == 0, "SYS_nanosleep 50ms");
	el = now(CLOCK_MONOTONIC) - t0;
	check(el >= 50000000 && el < 2000000000, "SYS_nanosleep elapsed");

	struct timespec badns = { 0, 1000000000 }, negs = { -1, 0 };
	expect_err(nanosleep(&badns, NULL), EINVAL, "nanosleep nsec=1e9");
	expect_err(syscall(SYS_nanosleep, &negs, NULL), EINVAL, "nanosleep negative");

	t0 = now(CLOCK_MONOTONIC);
	struct timespec r2 = { 0, 30000000 };
	check(clock_nanosleep(CLOCK_MONOTONIC, 0, &r2, NULL) == 0, "clock_nanosleep MONOTONIC rel 30ms");
	el = now(CLOCK_MONOTONIC) - t0;
	check(el >= 30000000 && el < 2000000000, "relative elapsed");

	long long target = now(CLOCK_MONOTONIC) + 40000000;
	struct timespec abs = { target / 1000000000, target % 1000000000 };
	check(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL) == 0, "clock_nanosleep ABSTIME");
	check(now(CLOCK_MONOTONIC) >= target, "woke after absolute target");
	struct timespec past = { 1, 0 };
	t0 = now(CLOCK_MONOTONIC);
	check(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL) == 0, "ABSTIME in the past");
	check(now(CLOCK_MONOTONIC) - t0 < 1000000000, "past target returns at once");

	long long rt = now(CLOCK_REALTIME) + 20000000;
	struct timespec rabs = { rt / 1000000000, rt % 1000000000 };
	check(syscall(SYS_clock_nanosleep, CLOCK_REALTIME, TIMER_ABSTIME, &rabs, NULL) == 0, "SYS_clock_nanosleep REALTIME abs");
	check(now(CLOCK_REALTIME) >= rt, "REALTIME target reached");
	check(syscall(SYS_clock_nanosleep, CLOCK_BOOTTIME, 0, &r2, NULL) == 0, "clock_nanosleep BOOTTIME");
	check(clock_nanosleep(12345, 0, &r2, NULL) == EINVAL, "clock_nanosleep bad clock returns EINVAL");
	check(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &r2, NULL) == EINVAL, "clock_nanosleep THREAD_CPUTIME EINVAL");
	check(clock_nanosleep(CLOCK_MONOTONIC, 0, &badns, NULL) == EINVAL, "clock_nanosleep bad nsec");

	/* many short sleeps */
	t0 = now(CLOCK_MONOTONIC);
	struct timespec ms = { 0, 1000000 };
	for (int i = 0; i < 20; i++)
		nanosleep(&ms, NULL);
	el = now(CLOCK_MONOTONIC) - t0;
	check(el >= 20000000 && el < 3000000000LL, "20 x 1ms sleeps");
	return finish();
}
