/* getrlimit/setrlimit/prlimit64, getrusage, times. */
#include "common.h"
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/mman.h>

struct krlimit { uint64_t cur, max; };

int main(int argc, char **argv)
{
	scratch(argc, argv);
	for (int i = 3; i < 1024; i++)
		close(i);
	struct rlimit rl;
	struct krlimit k, old;
	check(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur <= rl.rlim_max, "getrlimit NOFILE cur<=max");
	check(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &k) == 0 && k.cur == rl.rlim_cur && k.max == rl.rlim_max, "prlimit64 agrees");
	check(syscall(SYS_getrlimit, RLIMIT_NOFILE, &k) == 0 && k.cur == rl.rlim_cur, "SYS_getrlimit agrees");

	struct rlimit low = { 16, rl.rlim_max };
	check(setrlimit(RLIMIT_NOFILE, &low) == 0, "setrlimit NOFILE 16");
	check(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == 16, "readback 16");
	int opened = 0, last = -1;
	for (int i = 0; i < 20; i++) {
		int fd = open(".", O_RDONLY);
		if (fd < 0) {
			last = errno;
			break;
		}
		opened++;
	}
	check(opened == 13 && last == EMFILE, "open until EMFILE opened=%d err=%s", opened, errname(last));
	expect_err(dup2(0, 16), EBADF, "dup2 beyond limit");
	expect_err(fcntl(0, F_DUPFD, 20), EINVAL, "F_DUPFD beyond limit");
	for (int i = 3; i < 16; i++)
		close(i);

	struct krlimit nk = { 64, k.max };
	check(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &nk, &old) == 0 && old.cur == 16, "prlimit64 set returns old=16");
	check(getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur == 64, "prlimit64 set took effect");
	struct rlimit bad = { rl.rlim_max + (rl.rlim_max == RLIM_INFINITY ? 0 : 1), rl.rlim_max };
	if (rl.rlim_max != RLIM_INFINITY)
		expect_err(setrlimit(RLIMIT_NOFILE, &bad), EINVAL, "soft above hard");
	else
		printf("ok soft above hard (hard is infinity)\n");
	struct rlimit inv = { 10, 5 };
	expect_err(setrlimit(RLIMIT_NOFILE, &inv), EINVAL, "cur > max");
	expect_err(syscall(SYS_prlimit64, 0, 999, NULL, &k), EINVAL, "prlimit64 bad resource");

	check(getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur >= (1 << 20), "RLIMIT_STACK >= 1 MiB");
	struct rlimit core = { 0, 0 };
	check(getrlimit(RLIMIT_CORE, &rl) == 0 && setrlimit(RLIMIT_CORE, &core) == 0, "RLIMIT_CORE set 0");
	check(getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0 && rl.rlim_max == 0, "RLIMIT_CORE readback");
	struct rlimit up = { 1, 1 };
	if (geteuid() != 0)
		expect_err(setrlimit(RLIMIT_CORE, &up), EPERM, "raise hard limit unprivileged");
	else
		printf("ok raise hard limit (privileged, not checked)\n");
	(void)up;

	/* RLIMIT_AS bounds mmap */
	struct rlimit as;
	getrlimit(RLIMIT_AS, &as);
	struct rlimit as2 = { 1ULL << 32, as.rlim_max };
	check(setrlimit(RLIMIT_AS, &as2) == 0, "RLIMIT_AS 4 GiB");
	void *p = mmap(NULL, 8ULL << 30, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	check(p == MAP_FAILED && errno == ENOMEM, "8 GiB mmap over RLIMIT_AS is ENOMEM");
	setrlimit(RLIMIT_AS, &as);
	p = mmap(NULL, 8ULL << 30, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	check(p != MAP_FAILED, "8 GiB NORESERVE mmap after restore");
	munmap(p, 8ULL << 30);

	/* getrusage and times */
	struct rusage ru, ru2;
	check(getrusage(RUSAGE_SELF, &ru) == 0, "getrusage SELF");
	volatile unsigned long x = 0;
	for (unsigned long i = 0; i < 300000000UL; i++)
		x += i;
	check(getrusage(RUSAGE_SELF, &ru2) == 0, "getrusage again");
	long long t1 = ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec + ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec;
	long long t2 = ru2.ru_utime.tv_sec * 1000000LL + ru2.ru_utime.tv_usec + ru2.ru_stime.tv_sec * 1000000LL + ru2.ru_stime.tv_usec;
	check(t2 > t1, "cpu time advanced");
	check(ru2.ru_utime.tv_usec < 1000000 && ru2.ru_stime.tv_usec < 1000000, "usec fields normalized");
	check(ru2.ru_maxrss >= 0, "maxrss >= 0");
	check(getrusage(RUSAGE_CHILDREN, &ru) == 0 && ru.ru_utime.tv_sec == 0 && ru.ru_utime.tv_usec == 0, "RUSAGE_CHILDREN zero");
	expect_err(getrusage(12345, &ru), EINVAL, "getrusage bad who");
	struct tms tm;
	clock_t c = times(&tm);
	check(c != (clock_t)-1, "times");
	check(tm.tms_utime + tm.tms_stime > 0, "times shows cpu use");
	check(tm.tms_cutime == 0 && tm.tms_cstime == 0, "times children zero");
	check(syscall(SYS_times, NULL) != -1, "SYS_times NULL");
	return finish();
}
