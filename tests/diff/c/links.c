/* link/linkat/symlink/symlinkat/readlink/readlinkat/unlink/unlinkat. */
#include "common.h"

int main(int argc, char **argv)
{
	scratch(argc, argv);
	struct stat a, b;
	char buf[256];
	check(write_file("orig", "data", 4) == 0, "create orig");
	check(link("orig", "hard") == 0, "link");
	check(stat("orig", &a) == 0 && stat("hard", &b) == 0 && a.st_ino == b.st_ino && a.st_nlink == 2, "hard link shares inode, nlink=%lu", (unsigned long)a.st_nlink);
	expect_err(link("orig", "hard"), EEXIST, "link existing");
	expect_err(link("missing", "x"), ENOENT, "link missing");
	check(mkdir("d", 0755) == 0, "mkdir d");
	expect_err(link("d", "dlink"), EPERM, "link directory");
	int dfd = open("d", O_RDONLY | O_DIRECTORY);
	check(linkat(AT_FDCWD, "orig", dfd, "h2", 0) == 0, "linkat");
	check(stat("orig", &a) == 0 && a.st_nlink == 3, "nlink=3");
	check(syscall(SYS_link, "orig", "h3") == 0, "SYS_link");

	check(symlink("orig", "sym") == 0, "symlink");
	ssize_t n = readlink("sym", buf, sizeof buf);
	check(n == 4 && memcmp(buf, "orig", 4) == 0, "readlink '%.*s'", (int)n, buf);
	n = readlink("sym", buf, 2);
	check(n == 2 && memcmp(buf, "or", 2) == 0, "readlink truncated n=%zd", n);
	expect_err(readlink("orig", buf, sizeof buf), EINVAL, "readlink on non-link");
	expect_err(readlink("missing", buf, sizeof buf), ENOENT, "readlink missing");
	check(symlinkat("../orig", dfd, "up") == 0, "symlinkat");
	n = readlinkat(dfd, "up", buf, sizeof buf);
	check(n == 7 && memcmp(buf, "../orig", 7) == 0, "readlinkat '%.*s'", (int)n, buf);
	check(stat("d/up", &b) == 0 && b.st_ino == a.st_ino, "relative symlink resolves");
	check(syscall(SYS_symlink, "/nonexistent/target", "abs") == 0, "SYS_symlink");
	n = syscall(SYS_readlink, "abs", buf, sizeof buf);
	check(n == 19, "SYS_readlink n=%zd", n);
	n = syscall(SYS_readlinkat, AT_FDCWD, "abs", buf, sizeof buf);
	check(n == 19, "SYS_readlinkat n=%zd", n);
	expect_err(symlink("x", "sym"), EEXIST, "symlink existing");
	check(symlink("loop2", "loop1") == 0 && symlink("loop1", "loop2") == 0, "symlink loop");
	expect_err(open("loop1", O_RDONLY), ELOOP, "open symlink loop");
	check(link("sym", "symhard") == 0 && lstat("symhard", &b) == 0 && S_ISLNK(b.st_mode), "link does not follow symlink");
	check(linkat(AT_FDCWD, "sym", AT_FDCWD, "symfollow", AT_SYMLINK_FOLLOW) == 0 && lstat("symfollow", &b) == 0 && S_ISREG(b.st_mode), "linkat AT_SYMLINK_FOLLOW");

	/* unlink */
	check(unlink("hard") == 0, "unlink hard");
	expect_err(unlink("hard"), ENOENT, "unlink again");
	expect_err(unlink("d"), EISDIR, "unlink dir");
	check(unlinkat(dfd, "h2", 0) == 0, "unlinkat");
	check(syscall(SYS_unlink, "h3") == 0, "SYS_unlink");
	check(syscall(SYS_unlinkat, AT_FDCWD, "symfollow", 0) == 0, "SYS_unlinkat");
	check(stat("orig", &a) == 0 && a.st_nlink == 1, "nlink back to 1");
	expect_err(unlinkat(AT_FDCWD, "orig", AT_REMOVEDIR), ENOTDIR, "unlinkat REMOVEDIR on file");
	check(unlink("sym") == 0 && stat("orig", &a) == 0, "unlink symlink keeps target");

	/* open file survives unlink */
	int fd = open("orig", O_RDONLY);
	check(unlink("orig") == 0, "unlink open file");
	check(fstat(fd, &a) == 0 && a.st_nlink == 0, "fstat unlinked nlink=0");
	memset(buf, 0, sizeof buf);
	check(read(fd, buf, 10) == 4 && !strcmp(buf, "data"), "read unlinked file");
	close(fd);
	close(dfd);
	return finish();
}
