/* rename/renameat/renameat2 (NOREPLACE, EXCHANGE). */
#include "common.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE 2
#endif

static void show(const char *p)
{
	char buf[32] = {0};
	int fd = open(p, O_RDONLY);
	if (fd < 0) {
		printf("content %s: %s\n", p, errname(errno));
		return;
	}
	read(fd, buf, sizeof buf - 1);
	close(fd);
	printf("content %s: %s\n", p, buf);
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	write_file("a", "A", 1);
	write_file("b", "B", 1);
	mkdir("d1", 0755);
	mkdir("d2", 0755);
	write_file("d2/f", "F", 1);

	check(rename("a", "c") == 0, "rename a->c");
	show("a");
	show("c");
	check(rename("c", "b") == 0, "rename over existing");
	show("b");
	expect_err(rename("missing", "x"), ENOENT, "rename missing");
	expect_err(rename("b", "d1"), EISDIR, "rename file over dir");
	expect_err(rename("d1", "b"), ENOTDIR, "rename dir over file");
	expect_err(rename("d1", "d2"), ENOTEMPTY, "rename over non-empty dir");
	expect_err(rename("d1", "d1/sub"), EINVAL, "rename dir into itself");
	check(rename("d1", "d3") == 0, "rename dir");
	check(rename("b", "b") == 0, "rename to itself");

	int d2 = open("d2", O_RDONLY | O_DIRECTORY), d3 = open("d3", O_RDONLY | O_DIRECTORY);
	check(renameat(d2, "f", d3, "g") == 0, "renameat across dirs");
	show("d3/g");
	check(syscall(SYS_renameat, AT_FDCWD, "d3/g", AT_FDCWD, "g") == 0, "SYS_renameat");
	check(syscall(SYS_rename, "g", "h") == 0, "SYS_rename");

	write_file("x", "X", 1);
	write_file("y", "Y", 1);
	expect_err(syscall(SYS_renameat2, AT_FDCWD, "x", AT_FDCWD, "y", RENAME_NOREPLACE), EEXIST, "renameat2 NOREPLACE existing");
	check(syscall(SYS_renameat2, AT_FDCWD, "x", AT_FDCWD, "z", RENAME_NOREPLACE) == 0, "renameat2 NOREPLACE new");
	check(syscall(SYS_renameat2, AT_FDCWD, "z", AT_FDCWD, "y", RENAME_EXCHANGE) == 0, "renameat2 EXCHANGE");
	show("z");
	show("y");
	expect_err(syscall(SYS_renameat2, AT_FDCWD, "z", AT_FDCWD, "nothere", RENAME_EXCHANGE), ENOENT, "EXCHANGE with missing");
	expect_err(syscall(SYS_renameat2, AT_FDCWD, "z", AT_FDCWD, "y", RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL, "EXCHANGE|NOREPLACE");
	check(syscall(SYS_renameat2, AT_FDCWD, "z", AT_FDCWD, "d3", RENAME_EXCHANGE) == 0, "EXCHANGE file and dir");
	struct stat st;
	check(stat("z", &st) == 0 && S_ISDIR(st.st_mode) && stat("d3", &st) == 0 && S_ISREG(st.st_mode), "types swapped");
	close(d2);
	close(d3);
	return finish();
}
