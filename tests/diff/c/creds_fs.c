/* The file-system identity of a process: after dropping to another user,
 * files it creates are that user's, and Linux's permission checks apply
 * (mode bits, supplementary groups, directory search). Run as root. */
#include "proc.h"
#include <grp.h>

int main(int argc, char **argv)
{
	scratch(argc, argv);
	if (geteuid() != 0) {
		printf("ok not root: nothing to check\n");
		return finish();
	}
	check(chmod(".", 0777) == 0, "scratch world-writable");
	check(write_file("secret", "s\n", 2) == 0 && chmod("secret", 0600) == 0, "root-only file");
	check(write_file("grp", "g\n", 2) == 0 && chown("grp", 0, 4242) == 0 && chmod("grp", 0640) == 0, "group-readable file");
	check(mkdir("closed", 0700) == 0 && write_file("closed/inner", "i\n", 2) == 0 && chmod("closed/inner", 0644) == 0,
	      "closed directory");
	pid_t p = xfork();
	if (p == 0) {
		gid_t groups[] = {4242};
		check(setgroups(1, groups) == 0, "setgroups");
		check(setgid(65534) == 0 && setuid(65534) == 0, "drop to nobody");
		expect_err(open("secret", O_RDONLY), EACCES, "read a root-only file");
		check(open("grp", O_RDONLY) >= 0, "read through a supplementary group");
		expect_err(open("grp", O_WRONLY), EACCES, "write without permission");
		expect_err(open("closed/inner", O_RDONLY), EACCES, "search a closed directory");
		expect_err(chmod("secret", 0666), EPERM, "chmod another user's file");
		expect_err(unlink("/proc/self/status"), EPERM, "remove from /proc");
		int fd = open("mine", O_CREAT | O_WRONLY, 0644);
		check(fd >= 0, "create a file");
		struct stat st;
		check(fstat(fd, &st) == 0 && st.st_uid == 65534 && st.st_gid == 65534, "the new file is nobody's");
		check(mkdir("mydir", 0755) == 0 && stat("mydir", &st) == 0 && st.st_uid == 65534, "the new directory is nobody's");
		_exit(finish());
	}
	expect_status(p, "exit 0", "unprivileged child");
	struct stat st;
	check(stat("mine", &st) == 0 && st.st_uid == 65534, "the parent sees the child's file as nobody's");
	return finish();
}
