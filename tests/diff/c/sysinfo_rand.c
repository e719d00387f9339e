/* sysinfo sanity, getrandom (flags, sizes, variety), /dev/urandom. */
#include "common.h"
#include <sys/sysinfo.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct sysinfo si;
	memset(&si, 0, sizeof si);
	check(sysinfo(&si) == 0, "sysinfo");
	check(si.uptime > 0, "uptime > 0");
	check(si.totalram > 0 && si.mem_unit > 0, "totalram > 0");
	check(si.freeram <= si.totalram, "freeram <= totalram");
	check(si.procs > 0, "procs > 0");
	check((unsigned long long)si.totalram * si.mem_unit >= (64ULL << 20), "at least 64 MiB RAM");
	check(syscall(SYS_sysinfo, &si) == 0, "SYS_sysinfo");
	check(get_nprocs() >= 1, "get_nprocs >= 1");

	unsigned char a[64], b[64];
	memset(a, 0, sizeof a);
	memset(b, 0, sizeof b);
	check(syscall(SYS_getrandom, a, sizeof a, 0) == 64, "getrandom 64");
	check(syscall(SYS_getrandom, b, sizeof b, 1 /* GRND_NONBLOCK */) == 64, "getrandom NONBLOCK");
	check(memcmp(a, b, sizeof a) != 0, "two draws differ");
	int zeros = 0;
	for (int i = 0; i < 64; i++)
		zeros += a[i] == 0;
	check(zeros < 16, "draw is not mostly zero");
	check(syscall(SYS_getrandom, a, 0, 0) == 0, "getrandom 0 bytes");
	check(syscall(SYS_getrandom, a, 16, 2 /* GRND_RANDOM */) > 0, "getrandom GRND_RANDOM");
	expect_err(syscall(SYS_getrandom, a, 16, 0x100), EINVAL, "getrandom bad flags");
	static unsigned char big[1 << 20];
	long n = syscall(SYS_getrandom, big, sizeof big, 0);
	check(n > 0 && n <= (long)sizeof big, "getrandom 1 MiB returns >0");
	int counts[256] = {0};
	for (long i = 0; i < n; i++)
		counts[big[i]]++;
	int empty = 0;
	for (int i = 0; i < 256; i++)
		empty += counts[i] == 0;
	check(empty == 0, "all byte values appear");

	int fd = open("/dev/urandom", O_RDONLY);
	check(fd >= 0 && read(fd, a, 32) == 32, "/dev/urandom read");
	close(fd);
	return finish();
}
