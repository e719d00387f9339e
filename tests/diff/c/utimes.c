/* utimensat/futimens with explicit times, UTIME_OMIT and UTIME_NOW. */
#include "common.h"
#include <sys/time.h>
#include <time.h>

int main(int argc, char **argv)
{
	scratch(argc, argv);
	write_file("f", "x", 1);
	symlink("f", "sl");
	struct stat st;
	struct timespec ts[2] = { { 1000000000, 123456789 }, { 1500000000, 987654321 } };
	check(utimensat(AT_FDCWD, "f", ts, 0) == 0, "utimensat explicit");
	check(stat("f", &st) == 0, "stat");
	check(st.st_atim.tv_sec == 1000000000 && st.st_mtim.tv_sec == 1500000000, "times set atime=%lld mtime=%lld",
	      (long long)st.st_atim.tv_sec, (long long)st.st_mtim.tv_sec);
	check(st.st_mtim.tv_nsec == 987654321 || st.st_mtim.tv_nsec == 0, "mtime nsec stored");

	struct timespec omit[2] = { { 0, UTIME_OMIT }, { 1600000000, 0 } };
	check(utimensat(AT_FDCWD, "f", omit, 0) == 0 && stat("f", &st) == 0, "utimensat UTIME_OMIT atime");
	check(st.st_atim.tv_sec == 1000000000 && st.st_mtim.tv_sec == 1600000000, "atime kept, mtime changed");

	time_t before = time(NULL);
	struct timespec now[2] = { { 0, UTIME_NOW }, { 0, UTIME_OMIT } };
	check(utimensat(AT_FDCWD, "f", now, 0) == 0 && stat("f", &st) == 0, "utimensat UTIME_NOW");
	check(st.st_atim.tv_sec >= before - 2 && st.st_atim.tv_sec <= time(NULL) + 2 && st.st_mtim.tv_sec == 1600000000, "atime is now");

	check(utimensat(AT_FDCWD, "f", NULL, 0) == 0 && stat("f", &st) == 0 && st.st_mtim.tv_sec >= before - 2, "utimensat NULL = now");

	struct timespec old[2] = { { 100, 0 }, { 200, 0 } };
	check(utimensat(AT_FDCWD, "sl", old, AT_SYMLINK_NOFOLLOW) == 0, "utimensat NOFOLLOW");
	check(lstat("sl", &st) == 0 && st.st_mtim.tv_sec == 200, "symlink mtime=200");
	check(stat("f", &st) == 0 && st.st_mtim.tv_sec != 200, "target untouched");

	int fd = open("f", O_RDONLY);
	check(futimens(fd, old) == 0 && fstat(fd, &st) == 0 && st.st_mtim.tv_sec == 200 && st.st_atim.tv_sec == 100, "futimens");
	struct timespec t3[2] = { { 300, 0 }, { 400, 0 } };
	check(syscall(SYS_utimensat, fd, NULL, t3, 0) == 0 && fstat(fd, &st) == 0 && st.st_mtim.tv_sec == 400, "SYS_utimensat fd NULL path");
	close(fd);

	struct timespec badns[2] = { { 0, 1000000000 }, { 0, 0 } };
	expect_err(utimensat(AT_FDCWD, "f", badns, 0), EINVAL, "utimensat nsec out of range");
	expect_err(utimensat(AT_FDCWD, "missing", ts, 0), ENOENT, "utimensat missing");

	/* writing updates mtime to now */
	utimensat(AT_FDCWD, "f", old, 0);
	fd = open("f", O_WRONLY);
	write(fd, "y", 1);
	close(fd);
	check(stat("f", &st) == 0 && st.st_mtim.tv_sec >= before - 2, "write updates mtime");
	struct timeval tv[2] = { { 5000, 0 }, { 6000, 0 } };
	check(utimes("f", tv) == 0 && stat("f", &st) == 0 && st.st_mtim.tv_sec == 6000, "utimes");
	/* The old calls, made directly: libcs route their wrappers to utimensat. */
	struct timeval tv2[2] = {{500, 250000}, {600, 750000}};
	check(syscall(SYS_utimes, "f", tv2) == 0 && stat("f", &st) == 0 && st.st_mtim.tv_sec == 600 && st.st_mtim.tv_nsec == 750000000,
	      "SYS_utimes sets mtime to the microsecond");
	tv2[1].tv_usec = 1000000;
	expect_err(syscall(SYS_utimes, "f", tv2), EINVAL, "SYS_utimes with tv_usec out of range");
	struct { long actime, modtime; } ub = {700, 800};
	check(syscall(SYS_utime, "f", &ub) == 0 && stat("f", &st) == 0 && st.st_atim.tv_sec == 700 && st.st_mtim.tv_sec == 800,
	      "SYS_utime sets both times");
	tv2[1].tv_usec = 0;
	check(syscall(SYS_futimesat, AT_FDCWD, "f", tv2) == 0 && stat("f", &st) == 0 && st.st_mtim.tv_sec == 600,
	      "SYS_futimesat relative to AT_FDCWD");
	expect_err(syscall(SYS_utimes, "missing.txt", NULL), ENOENT, "SYS_utimes of a missing file");
	return finish();
}
