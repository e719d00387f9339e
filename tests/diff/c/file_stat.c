/* stat/lstat/fstat/newfstatat/statx on files, dirs, symlinks and pipes. */
#include "common.h"

int main(int argc, char **argv)
{
	scratch(argc, argv);
	struct stat st, st2;
	check(write_file("f", "12345", 5) == 0, "create f");
	check(mkdir("dir", 0750) == 0, "mkdir dir");
	check(symlink("f", "sl") == 0, "symlink sl->f");
	check(symlink("nowhere", "dangling") == 0, "dangling symlink");

	check(stat("f", &st) == 0 && st.st_size == 5 && S_ISREG(st.st_mode), "stat f size=%lld", (long long)st.st_size);
	check((st.st_mode & 07777) == 0644, "stat mode=%o", st.st_mode & 07777);
	check(st.st_blksize > 0, "st_blksize>0");
	check(stat("dir", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0750, "stat dir mode=%o", st.st_mode & 0777);
	check(st.st_nlink == 2, "dir nlink=%lu", (unsigned long)st.st_nlink);
	check(stat("sl", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 5, "stat follows symlink");
	check(lstat("sl", &st2) == 0 && S_ISLNK(st2.st_mode) && st2.st_size == 1, "lstat symlink size=%lld", (long long)st2.st_size);
	check(st.st_ino != st2.st_ino, "symlink has own inode");
	expect_err(stat("dangling", &st), ENOENT, "stat dangling");
	check(lstat("dangling", &st) == 0 && S_ISLNK(st.st_mode) && st.st_size == 7, "lstat dangling");
	expect_err(stat("", &st), ENOENT, "stat empty path");
	expect_err(stat("f/x", &st), ENOTDIR, "stat through file");

	/* newfstatat */
	int dfd = open(".", O_RDONLY | O_DIRECTORY);
	check(syscall(SYS_newfstatat, dfd, "f", &st, 0) == 0 && st.st_size == 5, "newfstatat");
	check(syscall(SYS_newfstatat, dfd, "sl", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode), "newfstatat NOFOLLOW");
	int fd = open("f", O_RDONLY);
	check(syscall(SYS_newfstatat, fd, "", &st, AT_EMPTY_PATH) == 0 && st.st_size == 5, "newfstatat AT_EMPTY_PATH");
	expect_err(syscall(SYS_newfstatat, fd, "", &st, 0), ENOENT, "newfstatat empty without flag");
	expect_err(syscall(SYS_newfstatat, dfd, "f", &st, 0x12345678), EINVAL, "newfstatat bad flags");
	check(fstat(fd, &st2) == 0 && st2.st_ino == st.st_ino && st2.st_dev == st.st_dev, "fstat matches");
	check(syscall(SYS_stat, "f", &st) == 0 && st.st_ino == st2.st_ino, "SYS_stat");
	check(syscall(SYS_lstat, "sl", &st) == 0 && S_ISLNK(st.st_mode), "SYS_lstat");
	check(syscall(SYS_fstat, fd, &st) == 0 && st.st_size == 5, "SYS_fstat");
	expect_err(syscall(SYS_fstat, 9999, &st), EBADF, "fstat bad fd");

	/* statx */
	struct kstatx sx;
	memset(&sx, 0xff, sizeof sx);
	long r = syscall(SYS_statx, AT_FDCWD, "f", 0, KSTATX_BASIC_STATS, &sx);
	check(r == 0, "statx");
	check((sx.stx_mask & KSTATX_BASIC_STATS) == KSTATX_BASIC_STATS, "statx mask has basic stats");
	check(sx.stx_size == 5 && S_ISREG(sx.stx_mode) && (sx.stx_mode & 07777) == 0644, "statx size=%llu mode=%o",
	      (unsigned long long)sx.stx_size, sx.stx_mode & 07777);
	check(sx.stx_ino == st2.st_ino && sx.stx_nlink == 1, "statx ino/nlink agree");
	check(sx.stx_uid == getuid() && sx.stx_gid == getgid(), "statx owner");
	check(sx.stx_mtime.tv_sec == st2.st_mtim.tv_sec && sx.stx_mtime.tv_nsec == st2.st_mtim.tv_nsec, "statx mtime agrees");
	check(syscall(SYS_statx, AT_FDCWD, "sl", AT_SYMLINK_NOFOLLOW, KSTATX_TYPE, &sx) == 0 && S_ISLNK(sx.stx_mode), "statx nofollow");
	check(syscall(SYS_statx, fd, "", AT_EMPTY_PATH, KSTATX_SIZE, &sx) == 0 && sx.stx_size == 5, "statx AT_EMPTY_PATH");
	expect_err(syscall(SYS_statx, AT_FDCWD, "missing", 0, KSTATX_BASIC_STATS, &sx), ENOENT, "statx missing");
	expect_err(syscall(SYS_statx, AT_FDCWD, "f", 0, 0x80000000u, &sx), EINVAL, "statx reserved mask");

	/* pipes and /dev/null */
	int p[2];
	pipe(p);
	check(fstat(p[0], &st) == 0 && S_ISFIFO(st.st_mode), "pipe is FIFO");
	check(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode), "/dev/null is char device");
	check(stat("/", &st) == 0 && S_ISDIR(st.st_mode), "/ is dir");
	close(p[0]);
	close(p[1]);
	close(fd);
	close(dfd);
	return finish();
}
