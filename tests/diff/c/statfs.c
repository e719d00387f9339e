/* statfs and fstatfs: the struct as amd64 Linux lays it out, the same
 * file system through a path, an fd, a link and a subdirectory; errors. */
#include "common.h"
#include <sys/statfs.h>
#include <sys/vfs.h>

int main(int argc, char **argv)
{
	scratch(argc, argv);
	check(write_file("f", "x", 1) == 0 && mkdir("d", 0755) == 0 && symlink("f", "l") == 0, "scratch files");
	struct statfs a, b, c, d;
	check(statfs(".", &a) == 0, "statfs .");
	check(a.f_bsize > 0 && a.f_namelen > 0 && a.f_blocks >= a.f_bfree && a.f_bfree >= a.f_bavail &&
	      a.f_files >= a.f_ffree, "statfs fields are sane");
	check(a.f_frsize > 0, "f_frsize set");
	int fd = open("f", O_RDONLY);
	check(fstatfs(fd, &b) == 0, "fstatfs");
	check(b.f_type == a.f_type && b.f_bsize == a.f_bsize && b.f_blocks == a.f_blocks &&
	      memcmp(&b.f_fsid, &a.f_fsid, sizeof a.f_fsid) == 0 && b.f_namelen == a.f_namelen &&
	      b.f_flags == a.f_flags, "fstatfs matches statfs");
	check(statfs("l", &c) == 0 && c.f_type == a.f_type && c.f_blocks == a.f_blocks, "statfs through a link");
	check(statfs("d", &d) == 0 && d.f_type == a.f_type, "statfs of a subdirectory");
	int pfd = open("d", O_PATH);
	check(fstatfs(pfd, &d) == 0 && d.f_type == a.f_type, "fstatfs on O_PATH");
	close(pfd);

	/* The raw call writes exactly 120 bytes. */
	unsigned char raw[160];
	memset(raw, 0xa5, sizeof raw);
	check(syscall(SYS_statfs, ".", raw) == 0, "raw statfs");
	int untouched = 1;
	for (int i = 120; i < 160; i++)
		untouched &= raw[i] == 0xa5;
	check(untouched, "raw statfs writes 120 bytes");
	check(memcmp(raw, &a, 8) == 0, "f_type first");
	memset(raw, 0xa5, sizeof raw);
	check(syscall(SYS_fstatfs, fd, raw) == 0 && raw[120] == 0xa5, "raw fstatfs writes 120 bytes");

	/* proc and tmpfs-like names are the host's: only check they answer. */
	check(statfs("/", &c) == 0, "statfs /");

	errno = 0;
	expect_err(statfs("nope", &c), ENOENT, "statfs ENOENT");
	expect_err(statfs("f/x", &c), ENOTDIR, "statfs ENOTDIR");
	expect_err(statfs("", &c), ENOENT, "statfs empty path");
	expect_err(fstatfs(99, &c), EBADF, "fstatfs bad fd");
	expect_err(syscall(SYS_statfs, ".", (void *)8), EFAULT, "statfs bad buffer");
	expect_err(syscall(SYS_statfs, (void *)8, &c), EFAULT, "statfs bad path");
	close(fd);
	return finish();
}
