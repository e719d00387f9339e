/* mknod and mkfifo: FIFOs, regular files and socket nodes with the umask
 * applied, a FIFO that carries data, and the errors. Device nodes are left
 * out: natively root may make them, elfuse refuses them (EPERM). */
#include "common.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

static void show(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		printf("FAIL stat %s errno=%s\n", path, errname(errno));
		diff_failed = 1;
		return;
	}
	const char *kind = S_ISFIFO(st.st_mode) ? "fifo" : S_ISREG(st.st_mode) ? "file" : S_ISSOCK(st.st_mode) ? "socket" : "other";
	printf("%s: %s mode %o size %lld\n", path, kind, st.st_mode & 07777, (long long)st.st_size);
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	umask(022);
	expect_ok(mkfifo("fifo", 0666), "mkfifo");
	show("fifo");
	expect_ok(mknod("plain", S_IFREG | 0640, 0), "mknod S_IFREG");
	show("plain");
	expect_ok(mknod("zero-type", 0600, 0), "mknod with no type makes a file");
	show("zero-type");
	expect_ok(mknodat(AT_FDCWD, "sock", S_IFSOCK | 0777, 0), "mknodat S_IFSOCK");
	show("sock");
	umask(0);
	expect_ok(mkfifo("fifo0", 0666), "mkfifo with umask 0");
	show("fifo0");
	expect_err(mkfifo("fifo", 0666), EEXIST, "mkfifo over an existing name");
	expect_err(mknod("nodir/x", S_IFIFO | 0600, 0), ENOENT, "mknod in a missing directory");
	expect_err(mknod("bad", 0170000 | 0600, 0), EINVAL, "mknod of an unknown type");

	/* The FIFO works: a writer and a reader in one process, non-blocking open. */
	int r = open("fifo", O_RDONLY | O_NONBLOCK);
	int w = open("fifo", O_WRONLY | O_NONBLOCK);
	check(r >= 0 && w >= 0, "open both ends of the fifo");
	check(write(w, "hello", 5) == 5, "write to the fifo");
	char buf[8] = {0};
	check(read(r, buf, sizeof buf) == 5 && memcmp(buf, "hello", 5) == 0, "read it back: %s", buf);
	close(r);
	close(w);
	return finish();
}
