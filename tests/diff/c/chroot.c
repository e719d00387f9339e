/* chroot: absolute paths, absolute links and ".." stay inside the new root;
 * getcwd shows paths under it; an unprivileged caller gets EPERM. Run as
 * root (a child does the chroot, so the program's own root is kept). */
#include "proc.h"

static int reads(const char *path, const char *want)
{
	char b[64] = "";
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	return n > 0 && strncmp(b, want, strlen(want)) == 0;
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	if (geteuid() != 0) {
		printf("ok not root: nothing to check\n");
		return finish();
	}
	check(write_file("file", "outside\n", 8) == 0, "file outside the jail");
	check(mkdir("jail", 0755) == 0 && mkdir("jail/sub", 0755) == 0, "jail");
	check(write_file("jail/file", "inside\n", 7) == 0, "file inside");
	check(symlink("/file", "jail/abs") == 0 && symlink("../../../../file", "jail/sub/up") == 0, "links");
	pid_t p = xfork();
	if (p == 0) {
		expect_err(chroot("missing"), ENOENT, "chroot to a missing directory");
		expect_err(chroot("file"), ENOTDIR, "chroot to a file");
		check(chroot("jail") == 0, "chroot");
		char cwd[4096];
		errno = 0;
		char *r = getcwd(cwd, sizeof cwd);
		/* The kernel reports "(unreachable)/..."; libc turns it into ENOENT. */
		check((r == NULL && errno == ENOENT) || (r && strncmp(cwd, "(unreachable)", 13) == 0),
		      "the old cwd is unreachable");
		check(chdir("/") == 0 && getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0, "chdir / then getcwd is /");
		check(reads("/file", "inside"), "/file is the jail's");
		check(reads("/abs", "inside"), "an absolute link resolves in the jail");
		check(reads("/sub/up", "inside"), "a link climbing out stops at the jail's root");
		check(reads("/../../../file", "inside"), "/.. stays in the jail");
		check(reads("../../file", "inside"), "relative .. stays in the jail");
		check(chdir("sub") == 0 && getcwd(cwd, sizeof cwd) && strcmp(cwd, "/sub") == 0, "getcwd in a subdirectory");
		check(reads("../file", "inside"), "relative path from a subdirectory");
		check(chroot(".") == 0 && !reads("/up", "inside") && access("/file", F_OK) == -1, "nested chroot: /file gone");
		_exit(finish());
	}
	expect_status(p, "exit 0", "chrooted child");
	p = xfork();
	if (p == 0) {
		check(setuid(65534) == 0, "drop to nobody");
		expect_err(chroot("jail"), EPERM, "chroot without CAP_SYS_CHROOT");
		_exit(finish());
	}
	expect_status(p, "exit 0", "unprivileged child");
	check(reads("file", "outside"), "the parent's root is unchanged");
	return finish();
}
