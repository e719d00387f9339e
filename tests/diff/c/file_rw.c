/* open/openat/creat/read/write/lseek/close and basic fstat. */
#include "common.h"

int main(int argc, char **argv)
{
	scratch(argc, argv);
	char buf[64];

	int fd = creat("a.txt", 0644);
	expect_ok(fd, "creat");
	check(write(fd, "hello", 5) == 5, "write 5");
	expect_err(read(fd, buf, 1), EBADF, "read on O_WRONLY");
	check(close(fd) == 0, "close");
	expect_err(close(fd), EBADF, "close twice");

	fd = open("a.txt", O_RDWR);
	expect_ok(fd, "open O_RDWR");
	memset(buf, 0, sizeof buf);
	check(read(fd, buf, sizeof buf) == 5 && memcmp(buf, "hello", 5) == 0, "read back '%s'", buf);
	check(read(fd, buf, sizeof buf) == 0, "read at EOF returns 0");
	check(lseek(fd, 0, SEEK_CUR) == 5, "lseek CUR=5");
	check(lseek(fd, 1, SEEK_SET) == 1, "lseek SET 1");
	check(write(fd, "EL", 2) == 2, "overwrite");
	check(lseek(fd, 0, SEEK_END) == 5, "lseek END=5");
	check(lseek(fd, 10, SEEK_END) == 15, "lseek past end");
	check(write(fd, "!", 1) == 1, "write after hole");
	struct stat st;
	check(fstat(fd, &st) == 0 && st.st_size == 16, "fstat size=%lld", (long long)st.st_size);
	check(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0644, "fstat mode=%o", st.st_mode & 07777);
	check(st.st_nlink == 1, "fstat nlink=%lu", (unsigned long)st.st_nlink);
	check(st.st_uid == getuid() && st.st_gid == getgid(), "fstat owner is self");
	lseek(fd, 0, SEEK_SET);
	memset(buf, 'x', sizeof buf);
	ssize_t n = read(fd, buf, sizeof buf);
	check(n == 16 && memcmp(buf, "hELlo", 5) == 0 && buf[5] == 0 && buf[14] == 0 && buf[15] == '!',
	      "hole reads zeros n=%zd", n);
	expect_err(lseek(fd, -1, SEEK_SET), EINVAL, "lseek negative");
	expect_err(lseek(fd, 0, 99), EINVAL, "lseek bad whence");
	close(fd);

	/* O_APPEND, O_EXCL, O_TRUNC, O_DIRECTORY, O_NOFOLLOW */
	fd = open("a.txt", O_WRONLY | O_APPEND);
	lseek(fd, 0, SEEK_SET);
	check(write(fd, "Z", 1) == 1 && lseek(fd, 0, SEEK_CUR) == 17, "O_APPEND writes at end");
	close(fd);
	expect_err(open("a.txt", O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST, "O_EXCL on existing");
	expect_err(open("missing", O_RDONLY), ENOENT, "open missing");
	expect_err(open("a.txt", O_RDONLY | O_DIRECTORY), ENOTDIR, "O_DIRECTORY on file");
	expect_err(open("a.txt/x", O_RDONLY), ENOTDIR, "path through file");
	expect_err(open(".", O_WRONLY), EISDIR, "open dir for write");
	fd = open("a.txt", O_WRONLY | O_TRUNC);
	check(fstat(fd, &st) == 0 && st.st_size == 0, "O_TRUNC size=0");
	close(fd);
	check(symlink("a.txt", "lnk") == 0, "symlink");
	expect_err(open("lnk", O_RDONLY | O_NOFOLLOW), ELOOP, "O_NOFOLLOW on symlink");

	/* openat relative to a directory fd and AT_FDCWD */
	check(mkdir("d", 0755) == 0, "mkdir d");
	int dfd = open("d", O_RDONLY | O_DIRECTORY);
	expect_ok(dfd, "open dir");
	fd = openat(dfd, "in.txt", O_CREAT | O_WRONLY, 0600);
	expect_ok(fd, "openat in dir");
	check(write(fd, "abc", 3) == 3, "write via openat fd");
	close(fd);
	fd = openat(AT_FDCWD, "d/in.txt", O_RDONLY);
	memset(buf, 0, sizeof buf);
	check(read(fd, buf, 10) == 3 && strcmp(buf, "abc") == 0, "openat AT_FDCWD reads '%s'", buf);
	close(fd);
	expect_err(openat(fd, "in.txt", O_RDONLY), EBADF, "openat closed dirfd");
	int ffd = open("a.txt", O_RDONLY);
	expect_err(openat(ffd, "x", O_RDONLY), ENOTDIR, "openat file as dirfd");
	close(ffd);
	close(dfd);

	/* raw syscalls: open and openat with O_CREAT mode respecting umask */
	umask(022);
	fd = syscall(SYS_open, "raw.txt", O_CREAT | O_WRONLY, 0777);
	check(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0755, "SYS_open umask mode=%o", st.st_mode & 0777);
	close(fd);
	fd = syscall(SYS_openat, AT_FDCWD, "raw2.txt", O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
	check(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0644, "SYS_openat mode=%o", st.st_mode & 0777);
	check((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "O_CLOEXEC sets FD_CLOEXEC");
	close(fd);

	/* lowest free fd is reused */
	int a = open("a.txt", O_RDONLY), b = open("a.txt", O_RDONLY);
	close(a);
	int c = open("a.txt", O_RDONLY);
	check(c == a && b == a + 1, "lowest fd reused");
	close(b);
	close(c);
	return finish();
}
