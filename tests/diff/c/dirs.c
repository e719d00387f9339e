/* mkdir/mkdirat/rmdir/getdents64/getcwd/chdir/fchdir. */
#include "common.h"

struct ent { char name[64]; int type; };

static int cmp(const void *a, const void *b)
{
	return strcmp(((const struct ent *)a)->name, ((const struct ent *)b)->name);
}

/* list reads a directory with raw getdents64 using a small buffer. */
static int list(const char *path, struct ent *out, int max, size_t bufsz)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -1;
	char buf[4096];
	int n = 0;
	for (;;) {
		long r = syscall(SYS_getdents64, fd, buf, bufsz);
		if (r < 0) {
			close(fd);
			return -1;
		}
		if (r == 0)
			break;
		for (long off = 0; off < r;) {
			uint64_t ino;
			unsigned short reclen;
			unsigned char type;
			memcpy(&ino, buf + off, 8);
			memcpy(&reclen, buf + off + 16, 2);
			type = (unsigned char)buf[off + 18];
			if (n < max) {
				snprintf(out[n].name, sizeof out[n].name, "%s", buf + off + 19);
				out[n].type = type;
				n++;
			}
			if (ino == 0 || reclen == 0)
				return -2;
			off += reclen;
		}
	}
	close(fd);
	qsort(out, n, sizeof *out, cmp);
	return n;
}

int main(int argc, char **argv)
{
	const char *root = scratch(argc, argv);
	char cwd[4096], cwd2[4096];

	check(getcwd(cwd, sizeof cwd) != NULL && strcmp(cwd, root) == 0, "getcwd equals scratch dir");
	check(mkdir("top", 0755) == 0, "mkdir top");
	expect_err(mkdir("top", 0755), EEXIST, "mkdir existing");
	expect_err(mkdir("nope/sub", 0755), ENOENT, "mkdir missing parent");
	int tfd = open("top", O_RDONLY | O_DIRECTORY);
	check(mkdirat(tfd, "sub", 0700) == 0, "mkdirat sub");
	check(syscall(SYS_mkdirat, AT_FDCWD, "top/sub2", 0755) == 0, "SYS_mkdirat AT_FDCWD");
	check(syscall(SYS_mkdir, "top/sub3", 0755) == 0, "SYS_mkdir");
	for (int i = 0; i < 40; i++) {
		char p[64];
		snprintf(p, sizeof p, "top/file%02d", i);
		write_file(p, "x", 1);
	}
	check(symlink("file00", "top/link") == 0, "symlink in top");

	struct ent e[64];
	int n = list("top", e, 64, sizeof(char[4096]));
	check(n == 46, "getdents64 count=%d", n);
	int nd = 0, nf = 0, nl = 0, dots = 0;
	for (int i = 0; i < n; i++) {
		if (!strcmp(e[i].name, ".") || !strcmp(e[i].name, ".."))
			dots++;
		else if (e[i].type == 4 /* DT_DIR */)
			nd++;
		else if (e[i].type == 8 /* DT_REG */)
			nf++;
		else if (e[i].type == 10 /* DT_LNK */)
			nl++;
	}
	check(dots == 2 && nd == 3 && nf == 40 && nl == 1, "types dots=%d dirs=%d files=%d links=%d", dots, nd, nf, nl);
	for (int i = 0; i < n && i < 6; i++)
		printf("entry %s\n", e[i].name);
	int n2 = list("top", e, 64, 100);
	check(n2 == n, "getdents64 with small buffer count=%d", n2);
	int fd = open("top", O_RDONLY | O_DIRECTORY);
	char tiny[8];
	expect_err(syscall(SYS_getdents64, fd, tiny, sizeof tiny), EINVAL, "getdents64 buffer too small");
	close(fd);
	fd = open("top/file00", O_RDONLY);
	char big[256];
	expect_err(syscall(SYS_getdents64, fd, big, sizeof big), ENOTDIR, "getdents64 on file");
	close(fd);

	/* chdir / fchdir / getcwd */
	check(chdir("top/sub") == 0, "chdir top/sub");
	check(getcwd(cwd2, sizeof cwd2) && strlen(cwd2) == strlen(root) + 8 && !strcmp(cwd2 + strlen(root), "/top/sub"), "getcwd after chdir");
	check(chdir("..") == 0 && getcwd(cwd2, sizeof cwd2) && !strcmp(cwd2 + strlen(root), "/top"), "chdir ..");
	check(fchdir(tfd) == 0, "fchdir");
	int ffd = open("file00", O_RDONLY);
	check(ffd >= 0, "relative open after fchdir");
	expect_err(fchdir(ffd), ENOTDIR, "fchdir on file");
	close(ffd);
	expect_err(chdir("file00"), ENOTDIR, "chdir to file");
	expect_err(chdir("missing"), ENOENT, "chdir missing");
	char small[4];
	expect_err((long)(getcwd(small, sizeof small) ? 0 : -1), ERANGE, "getcwd small buffer");
	long r = syscall(SYS_getcwd, cwd2, sizeof cwd2);
	check(r == (long)strlen(cwd2) + 1, "SYS_getcwd returns length incl NUL");
	check(chdir(root) == 0, "chdir back");

	/* rmdir */
	expect_err(rmdir("top"), ENOTEMPTY, "rmdir non-empty");
	expect_err(rmdir("top/file00"), ENOTDIR, "rmdir file");
	check(rmdir("top/sub") == 0, "rmdir sub");
	expect_err(rmdir("top/sub"), ENOENT, "rmdir again");
	check(unlinkat(AT_FDCWD, "top/sub2", AT_REMOVEDIR) == 0, "unlinkat AT_REMOVEDIR");
	expect_err(rmdir("."), EINVAL, "rmdir .");
	check(stat("top", &(struct stat){0}) == 0, "top still exists");
	close(tfd);
	return finish();
}
