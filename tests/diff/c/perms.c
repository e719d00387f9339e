/* chmod/fchmod/fchmodat/chown/fchown/lchown/umask/access/faccessat. */
#include "common.h"

static unsigned mode_of(const char *p)
{
	struct stat st;
	if (lstat(p, &st) != 0)
		return 0xffff;
	return st.st_mode & 07777;
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	mode_t old = umask(027);
	(void)old;
	check(umask(022) == 027, "umask returns previous");
	check(syscall(SYS_umask, 077) == 022, "SYS_umask");
	umask(0);
	write_file("f", "x", 1);
	check(chmod("f", 0640) == 0 && mode_of("f") == 0640, "chmod 0640");
	check(chmod("f", 04755) == 0 && mode_of("f") == 04755, "chmod setuid=%o", mode_of("f"));
	int fd = open("f", O_RDONLY);
	check(fchmod(fd, 0600) == 0 && mode_of("f") == 0600, "fchmod 0600");
	check(fchmodat(AT_FDCWD, "f", 0444, 0) == 0 && mode_of("f") == 0444, "fchmodat 0444");
	check(syscall(SYS_chmod, "f", 0755) == 0 && mode_of("f") == 0755, "SYS_chmod");
	check(syscall(SYS_fchmod, fd, 0700) == 0 && mode_of("f") == 0700, "SYS_fchmod");
	check(syscall(SYS_fchmodat, AT_FDCWD, "f", 0644) == 0 && mode_of("f") == 0644, "SYS_fchmodat");
	expect_err(chmod("missing", 0644), ENOENT, "chmod missing");
	expect_err(fchmod(9999, 0644), EBADF, "fchmod bad fd");

	symlink("f", "sl");
	unsigned lmode = mode_of("sl");
	check(chmod("sl", 0600) == 0 && mode_of("f") == 0600 && mode_of("sl") == lmode, "chmod follows symlink");

	uid_t u = getuid();
	gid_t g = getgid();
	struct stat st;
	check(chown("f", u, g) == 0, "chown to self");
	check(fchown(fd, -1, -1) == 0, "fchown -1 -1");
	check(lchown("sl", u, g) == 0, "lchown symlink");
	check(fchownat(AT_FDCWD, "f", u, g, 0) == 0, "fchownat");
	check(syscall(SYS_chown, "f", u, g) == 0 && syscall(SYS_fchown, fd, u, g) == 0 && syscall(SYS_lchown, "sl", u, g) == 0, "SYS_chown/fchown/lchown");
	check(stat("f", &st) == 0 && st.st_uid == u && st.st_gid == g, "owner unchanged");
	expect_err(chown("missing", u, g), ENOENT, "chown missing");
	close(fd);

	/* access / faccessat */
	check(access("f", F_OK) == 0, "access F_OK");
	check(access("f", R_OK | W_OK) == 0, "access R_OK|W_OK on 0600");
	expect_err(access("f", X_OK), EACCES, "access X_OK on 0600");
	chmod("f", 0755);
	check(access("f", X_OK) == 0, "access X_OK on 0755");
	expect_err(access("missing", F_OK), ENOENT, "access missing");
	expect_err(access("f", 0x40), EINVAL, "access bad mode");
	check(faccessat(AT_FDCWD, "f", R_OK, 0) == 0, "faccessat");
	check(syscall(SYS_access, "f", R_OK) == 0, "SYS_access");
	check(syscall(SYS_faccessat, AT_FDCWD, "f", X_OK) == 0, "SYS_faccessat");
	expect_err(syscall(SYS_faccessat, AT_FDCWD, "missing", R_OK), ENOENT, "SYS_faccessat missing");
	check(access(".", X_OK | W_OK) == 0, "access dir");
	expect_err(access("f/x", F_OK), ENOTDIR, "access through file");

	/* umask applies to creat/mkdir */
	umask(077);
	fd = creat("g", 0666);
	close(fd);
	check(mode_of("g") == 0600, "umask 077 creat mode=%o", mode_of("g"));
	mkdir("dd", 0777);
	check(mode_of("dd") == 0700, "umask 077 mkdir mode=%o", mode_of("dd"));
	umask(0);
	mkdir("de", 0777);
	check(mode_of("de") == 0777, "umask 0 mkdir mode=%o", mode_of("de"));
	return finish();
}
