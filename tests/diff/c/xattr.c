/* Extended attributes: setxattr/getxattr/listxattr/removexattr and their
 * l* and f* forms on user.* names: flags, sizes, ERANGE, ENODATA, links
 * (followed or not), errors. A file system without user xattrs answers
 * ENOTSUP the same way natively and under elfuse. */
#include "common.h"
#include <sys/xattr.h>

#ifndef ENODATA
#define ENODATA 61
#endif

static const char *en(int e) { return e == ENODATA ? "ENODATA" : errname(e); }

/* rc prints a call's result: a value, or the errno's name. */
static void rc(const char *what, long r)
{
	if (r < 0)
		printf("%s: -1 %s\n", what, en(errno));
	else
		printf("%s: %ld\n", what, r);
}

/* userNames prints the user.* names in a listxattr buffer, in order. */
static void userNames(const char *what, const char *b, long n)
{
	printf("%s:", what);
	for (long i = 0; i < n; i += strlen(b + i) + 1)
		if (strncmp(b + i, "user.", 5) == 0)
			printf(" %s", b + i);
	printf("\n");
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	check(write_file("f", "data", 4) == 0, "file f");
	check(symlink("f", "l") == 0, "symlink l -> f");
	long r = setxattr("f", "user.a", "hello", 5, 0);
	if (r < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP)) {
		printf("ok user xattrs unsupported here\n");
		return finish();
	}
	rc("setxattr user.a", r);
	char buf[256];
	rc("getxattr size query", getxattr("f", "user.a", NULL, 0));
	r = getxattr("f", "user.a", buf, sizeof buf);
	check(r == 5 && memcmp(buf, "hello", 5) == 0, "getxattr value");
	rc("getxattr small buffer", getxattr("f", "user.a", buf, 2));
	rc("getxattr missing", getxattr("f", "user.none", buf, sizeof buf));
	rc("setxattr XATTR_CREATE existing", setxattr("f", "user.a", "x", 1, XATTR_CREATE));
	rc("setxattr XATTR_REPLACE missing", setxattr("f", "user.b", "x", 1, XATTR_REPLACE));
	rc("setxattr XATTR_REPLACE existing", setxattr("f", "user.a", "bye", 3, XATTR_REPLACE));
	rc("setxattr both flags", setxattr("f", "user.b", "x", 1, 3));
	rc("setxattr bad flags", setxattr("f", "user.b", "x", 1, 4));
	rc("setxattr empty value", setxattr("f", "user.empty", "", 0, 0));
	rc("getxattr empty value", getxattr("f", "user.empty", buf, sizeof buf));
	rc("setxattr empty name", setxattr("f", "", "x", 1, 0));
	char longname[300];
	memset(longname, 'n', sizeof longname);
	memcpy(longname, "user.", 5);
	longname[256] = 0;
	rc("setxattr 256-byte name", setxattr("f", longname, "x", 1, 0));
	longname[255] = 0;
	rc("setxattr 255-byte name", setxattr("f", longname, "x", 1, 0));
	rc("removexattr 255-byte name", removexattr("f", longname));
	static char big[70000];
	rc("setxattr 70000 bytes", setxattr("f", "user.big", big, sizeof big, 0));
	rc("setxattr unknown namespace", setxattr("f", "bogus.a", "x", 1, 0));
	rc("getxattr ENOENT", getxattr("nope", "user.a", buf, sizeof buf));
	rc("setxattr ENOENT", setxattr("nope", "user.a", "x", 1, 0));
	rc("getxattr ENOTDIR", getxattr("f/x", "user.a", buf, sizeof buf));

	/* Lists. */
	long n = listxattr("f", buf, sizeof buf);
	check(n > 0, "listxattr");
	userNames("listxattr", buf, n);
	check(listxattr("f", NULL, 0) == n, "listxattr size query");
	rc("listxattr small buffer", listxattr("f", buf, 1));

	/* Links: the plain forms follow, the l* forms do not. */
	r = getxattr("l", "user.a", buf, sizeof buf);
	check(r == 3 && memcmp(buf, "bye", 3) == 0, "getxattr through the link");
	rc("lgetxattr on the link", lgetxattr("l", "user.a", buf, sizeof buf));
	rc("lsetxattr user.* on a link", lsetxattr("l", "user.a", "x", 1, 0));
	n = llistxattr("l", buf, sizeof buf);
	userNames("llistxattr", buf, n < 0 ? 0 : n);
	rc("lremovexattr on the link", lremovexattr("l", "user.a"));
	rc("lsetxattr on the file", lsetxattr("f", "user.c", "ccc", 3, 0));
	rc("lgetxattr on the file", lgetxattr("f", "user.c", buf, sizeof buf));

	/* fd forms. */
	int fd = open("f", O_RDONLY);
	rc("fgetxattr", fgetxattr(fd, "user.c", buf, sizeof buf));
	rc("fsetxattr", fsetxattr(fd, "user.d", "dd", 2, 0));
	n = flistxattr(fd, buf, sizeof buf);
	userNames("flistxattr", buf, n);
	rc("fremovexattr", fremovexattr(fd, "user.d"));
	rc("fremovexattr again", fremovexattr(fd, "user.d"));
	rc("fgetxattr bad fd", fgetxattr(99, "user.c", buf, sizeof buf));
	int pfd = open("f", O_PATH);
	rc("fgetxattr O_PATH", fgetxattr(pfd, "user.c", buf, sizeof buf));
	close(pfd);
	close(fd);

	/* Removal. */
	rc("removexattr", removexattr("f", "user.a"));
	rc("removexattr missing", removexattr("f", "user.a"));
	rc("getxattr removed", getxattr("f", "user.a", buf, sizeof buf));
	n = listxattr("f", buf, sizeof buf);
	userNames("listxattr after", buf, n);

	/* Directories carry them too. */
	check(mkdir("d", 0755) == 0, "mkdir d");
	rc("setxattr on a directory", setxattr("d", "user.dir", "1", 1, 0));
	rc("getxattr on a directory", getxattr("d/", "user.dir", buf, sizeof buf));
	return finish();
}
