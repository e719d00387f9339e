/* Invalid and unmapped user pointers must give EFAULT, never a crash. */
#include "common.h"
#include <sys/mman.h>
#include <sys/uio.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

int main(int argc, char **argv)
{
	scratch(argc, argv);
	const size_t pg = 4096;
	unsigned char *m = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(m + pg, pg);                 /* m+pg is unmapped */
	mprotect(m + 2 * pg, pg, PROT_READ); /* m+2pg is read-only */
	void *unmapped = m + pg, *ro = m + 2 * pg, *kern = (void *)0xffff800000000000ULL;

	write_file("f", "0123456789abcdef", 16);
	int fd = open("f", O_RDWR);

	expect_err(syscall(SYS_write, 1, (void *)1, 10), EFAULT, "write(1, 1, 10)");
	expect_err(syscall(SYS_write, fd, unmapped, 10), EFAULT, "write from unmapped");
	expect_err(syscall(SYS_write, fd, kern, 10), EFAULT, "write from kernel address");
	expect_err(syscall(SYS_read, fd, unmapped, 10), EFAULT, "read into unmapped");
	lseek(fd, 0, SEEK_SET);
	expect_err(syscall(SYS_read, fd, ro, 10), EFAULT, "read into read-only page");
	lseek(fd, 0, SEEK_SET);
	expect_err(syscall(SYS_read, fd, (void *)8, 10), EFAULT, "read into page zero");
	check(syscall(SYS_write, fd, m, 0) == 0, "write of 0 bytes from valid pointer");
	expect_err(syscall(SYS_pread64, fd, unmapped, 4, 0), EFAULT, "pread64 unmapped");
	expect_err(syscall(SYS_pwrite64, fd, unmapped, 4, 0), EFAULT, "pwrite64 unmapped");

	expect_err(syscall(SYS_stat, (char *)1, m), EFAULT, "stat bad path");
	expect_err(syscall(SYS_stat, "f", unmapped), EFAULT, "stat bad statbuf");
	expect_err(syscall(SYS_fstat, fd, ro), EFAULT, "fstat read-only buf");
	expect_err(syscall(SYS_newfstatat, AT_FDCWD, unmapped, m, 0), EFAULT, "newfstatat bad path");
	expect_err(syscall(SYS_statx, AT_FDCWD, "f", 0, 0x7ff, unmapped), EFAULT, "statx bad buf");
	expect_err(syscall(SYS_open, unmapped, O_RDONLY), EFAULT, "open bad path");
	expect_err(syscall(SYS_openat, AT_FDCWD, (char *)1, O_RDONLY), EFAULT, "openat bad path");
	expect_err(syscall(SYS_mkdir, unmapped, 0755), EFAULT, "mkdir bad path");
	expect_err(syscall(SYS_unlink, unmapped), EFAULT, "unlink bad path");
	expect_err(syscall(SYS_chdir, unmapped), EFAULT, "chdir bad path");
	expect_err(syscall(SYS_readlink, "f", unmapped, 10), EINVAL, "readlink non-link checks type first");
	symlink("f", "sl");
	expect_err(syscall(SYS_readlink, "sl", unmapped, 10), EFAULT, "readlink bad buf");
	expect_err(syscall(SYS_getcwd, unmapped, 100), EFAULT, "getcwd bad buf");
	expect_err(syscall(SYS_uname, unmapped), EFAULT, "uname bad buf");
	expect_err(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, unmapped), EFAULT, "clock_gettime bad buf");
	expect_err(syscall(SYS_gettimeofday, ro, NULL), EFAULT, "gettimeofday read-only buf");
	expect_err(syscall(SYS_nanosleep, unmapped, NULL), EFAULT, "nanosleep bad req");
	expect_err(syscall(SYS_pipe, unmapped), EFAULT, "pipe bad array");
	expect_err(syscall(SYS_pipe2, ro, 0), EFAULT, "pipe2 read-only array");
	expect_err(syscall(SYS_getrandom, unmapped, 16, 0), EFAULT, "getrandom bad buf");
	expect_err(syscall(SYS_sysinfo, unmapped), EFAULT, "sysinfo bad buf");
	expect_err(syscall(SYS_getdents64, open(".", O_RDONLY | O_DIRECTORY), unmapped, 4096), EFAULT, "getdents64 bad buf");
	expect_err(syscall(SYS_readv, fd, unmapped, 1), EFAULT, "readv bad iov array");
	struct iovec iov = { unmapped, 4 };
	lseek(fd, 0, SEEK_SET);
	expect_err(syscall(SYS_readv, fd, &iov, 1), EFAULT, "readv iov with bad base");
	expect_err(syscall(SYS_writev, fd, &iov, 1), EFAULT, "writev iov with bad base");
	expect_err(syscall(SYS_poll, unmapped, 1, 0), EFAULT, "poll bad fds");
	expect_err(syscall(SYS_rt_sigaction, SIGUSR1, unmapped, NULL, 8), EFAULT, "rt_sigaction bad act");
	expect_err(syscall(SYS_rt_sigprocmask, SIG_BLOCK, unmapped, NULL, 8), EFAULT, "rt_sigprocmask bad set");
	expect_err(syscall(SYS_getrlimit, 7, unmapped), EFAULT, "getrlimit bad buf");
	expect_err(syscall(SYS_prctl, 16 /* PR_GET_NAME */, unmapped, 0, 0, 0), EFAULT, "prctl PR_GET_NAME bad buf");
	expect_err(syscall(SYS_getresuid, unmapped, unmapped, unmapped), EFAULT, "getresuid bad ptrs");
	expect_err(syscall(SYS_times, unmapped), EFAULT, "times bad buf");

	/* short write: first page valid, second unmapped */
	unsigned char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(two, 'w', pg);
	munmap(two + pg, pg);
	int g = open("g", O_RDWR | O_CREAT | O_TRUNC, 0644);
	long n = syscall(SYS_write, g, two, 2 * pg);
	printf("write spanning into unmapped: %ld\n", n);
	check(n == (long)pg || (n == -1 && errno == EFAULT), "short write or EFAULT");
	struct stat st;
	fstat(g, &st);
	check(st.st_size == (n > 0 ? n : 0), "file size matches bytes written");

	/* the process survives and normal calls still work */
	char ok[4];
	check(pread(fd, ok, 4, 0) == 4 && !memcmp(ok, "0123", 4), "file still readable");
	return finish();
}
