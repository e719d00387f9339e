/* ftruncate/truncate/fsync/fdatasync/sync and sparse growth. */
#include "common.h"

int main(int argc, char **argv)
{
	scratch(argc, argv);
	struct stat st;
	write_file("f", "0123456789", 10);
	check(truncate("f", 4) == 0 && stat("f", &st) == 0 && st.st_size == 4, "truncate shrink");
	check(truncate("f", 4096 * 3) == 0 && stat("f", &st) == 0 && st.st_size == 12288, "truncate grow");
	int fd = open("f", O_RDWR);
	char buf[16];
	check(pread(fd, buf, 6, 2) == 6 && !memcmp(buf, "23\0\0\0\0", 6), "grown region is zero");
	check(ftruncate(fd, 1) == 0 && fstat(fd, &st) == 0 && st.st_size == 1, "ftruncate 1");
	check(lseek(fd, 0, SEEK_END) == 1, "seek end after ftruncate");
	check(ftruncate(fd, 0) == 0 && fstat(fd, &st) == 0 && st.st_size == 0, "ftruncate 0");
	check(syscall(SYS_ftruncate, fd, 100L) == 0 && fstat(fd, &st) == 0 && st.st_size == 100, "SYS_ftruncate");
	check(syscall(SYS_truncate, "f", 50L) == 0 && stat("f", &st) == 0 && st.st_size == 50, "SYS_truncate");
	expect_err(ftruncate(fd, -1), EINVAL, "ftruncate negative");
	expect_err(truncate("missing", 0), ENOENT, "truncate missing");
	expect_err(truncate(".", 0), EISDIR, "truncate dir");
	int ro = open("f", O_RDONLY);
	expect_err(ftruncate(ro, 0), EINVAL, "ftruncate read-only fd");
	int p[2];
	pipe(p);
	expect_err(ftruncate(p[1], 0), EINVAL, "ftruncate pipe");

	check(write(fd, "data", 4) == 4, "write");
	check(fsync(fd) == 0, "fsync");
	check(fdatasync(fd) == 0, "fdatasync");
	check(syscall(SYS_fsync, ro) == 0, "fsync read-only fd");
	expect_err(fsync(9999), EBADF, "fsync bad fd");
	expect_err(fsync(p[0]), EINVAL, "fsync pipe");
	sync();
	check(syscall(SYS_syncfs, fd) == 0, "syncfs");
	int dfd = open(".", O_RDONLY | O_DIRECTORY);
	check(fsync(dfd) == 0, "fsync directory");

	/* large sparse file */
	check(ftruncate(fd, 1LL << 32) == 0 && fstat(fd, &st) == 0 && st.st_size == (1LL << 32), "ftruncate 4 GiB sparse");
	check(pwrite(fd, "end", 3, (1LL << 32) - 3) == 3, "pwrite near 4 GiB");
	check(pread(fd, buf, 3, (1LL << 32) - 3) == 3 && !memcmp(buf, "end", 3), "pread near 4 GiB");
	check(lseek(fd, 0, SEEK_END) == (1LL << 32), "lseek end 4 GiB");
	close(fd);
	close(ro);
	close(dfd);
	close(p[0]);
	close(p[1]);
	return finish();
}
