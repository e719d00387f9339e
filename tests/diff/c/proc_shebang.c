/* #! scripts: argv layout with and without an interpreter argument, nested
 * #! (a script whose interpreter is itself a script), whitespace rules,
 * busybox sh as interpreter, and the failures (missing interpreter, no x
 * bit, too deep nesting). This program is its own interpreter: with
 * PROC_MODE=interp in the environment it prints its argv and exits. */
#include "proc.h"

extern char **environ;

static int interp(int argc, char **argv)
{
	printf("interp argc=%d", argc);
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		/* The interpreter's own path is the build cache path: name it. */
		if (!strcmp(a, getenv("PROC_SELF")))
			a = "<self>";
		printf(" [");
		for (const unsigned char *c = (const unsigned char *)a; *c; c++)
			printf(*c < 32 || *c > 126 ? "\\x%02x" : "%c", *c);
		printf("]");
	}
	printf("\n");
	fflush(stdout);
	return 3;
}

static void script(const char *name, const char *text, mode_t mode)
{
	check(write_file(name, text, strlen(text)) == 0 && chmod(name, mode) == 0, "write %s", name);
}

/* run execs path with args in a child and checks its exit status. */
static void run(const char *path, char **args, const char *want, const char *what)
{
	pid_t p = xfork();
	if (p == 0) {
		execve(path, args, environ);
		printf("FAIL %s: execve errno=%s\n", what, errname(errno));
		child_exit(1);
	}
	expect_status(p, want, what);
}

static void run_err(const char *path, int want, const char *what)
{
	char *args[] = {(char *)path, NULL};
	pid_t p = xfork();
	if (p == 0) {
		execve(path, args, environ);
		int e = errno;
		_exit(e == want ? 0 : 1);
	}
	int st = xwait(p, 0);
	check(st == 0, "%s fails with %s", what, errname(want));
}

int main(int argc, char **argv)
{
	const char *mode = getenv("PROC_MODE");
	if (mode && !strcmp(mode, "interp"))
		return interp(argc, argv);
	proc_init();
	scratch(argc, argv);
	const char *self = argv[0];
	setenv("PROC_SELF", self, 1);
	setenv("PROC_MODE", "interp", 1);
	char buf[8192];

	/* Plain: argv = [interp, script-path-as-given, args...]; argv[0] of the caller dropped. */
	snprintf(buf, sizeof buf, "#!%s\nignored body\n", self);
	script("plain.sh", buf, 0755);
	char *a1[] = {"caller-argv0", "one", "two words", NULL};
	run("./plain.sh", a1, "exit 3", "plain #!");
	run("plain.sh", a1, "exit 3", "plain #! relative without ./");

	/* One interpreter argument; everything after the interpreter is one argument. */
	snprintf(buf, sizeof buf, "#!%s -x\n", self);
	script("arg.sh", buf, 0755);
	run("./arg.sh", a1, "exit 3", "#! with one argument");
	snprintf(buf, sizeof buf, "#! %s  -a  -b \t\n", self);
	script("args.sh", buf, 0755);
	run("./args.sh", a1, "exit 3", "#! with spaces, two words stay one argument");
	snprintf(buf, sizeof buf, "#!\t%s\t-t\r\n", self);
	script("tab.sh", buf, 0755);
	run("./tab.sh", a1, "exit 3", "#! with tabs and CRLF");

	/* Nested: outer's interpreter is a script whose interpreter is self. */
	snprintf(buf, sizeof buf, "#!%s/arg.sh outer-opt\n", getenv("DIFF_TMP"));
	script("nested.sh", buf, 0755);
	run("./nested.sh", a1, "exit 3", "nested #! (interpreter is a script)");
	snprintf(buf, sizeof buf, "#!%s/nested.sh\n", getenv("DIFF_TMP"));
	script("nested2.sh", buf, 0755);
	run("./nested2.sh", a1, "exit 3", "doubly nested #!");
	/* The kernel allows a few levels only: 5 scripts deep fails with ELOOP. */
	char prev[64] = "plain.sh";
	for (int i = 0; i < 5; i++) {
		char name[64];
		snprintf(name, sizeof name, "deep%d.sh", i);
		snprintf(buf, sizeof buf, "#!%s/%s\n", getenv("DIFF_TMP"), prev);
		script(name, buf, 0755);
		strcpy(prev, name);
	}
	run("./deep2.sh", a1, "exit 3", "3 scripts then the binary");
	run_err("./deep4.sh", ELOOP, "6 levels of #!");

	/* busybox sh as the interpreter. */
	script("bb.sh", "#!/bin/busybox sh\necho \"bb script: $0 $# [$1] [$2]\" | sed \"s|$DIFF_TMP|TMP|\"\nexit 4\n", 0755);
	run("./bb.sh", a1, "exit 4", "#!/bin/busybox sh");
	/* "sh -e" is one argument: busybox looks for an applet named "sh -e". */
	script("bbopt.sh", "#!/bin/busybox sh -e\nfalse\necho not reached\n", 0755);
	run("./bbopt.sh", a1, "exit 127", "#!/bin/busybox sh -e is applet 'sh -e'");

	/* Failures. */
	script("nointerp.sh", "#!/nonexistent/interp\n", 0755);
	run_err("./nointerp.sh", ENOENT, "missing interpreter");
	script("noxbit.sh", buf, 0644);
	run_err("./noxbit.sh", EACCES, "script without x bit");
	snprintf(buf, sizeof buf, "#!%s/keep\n", getenv("DIFF_TMP"));
	script("dirinterp.sh", buf, 0755);
	script("keep", "plain text, not executable\n", 0644);
	run_err("./dirinterp.sh", EACCES, "interpreter without x bit");
	script("empty-interp.sh", "#!\n", 0755);
	run_err("./empty-interp.sh", ENOEXEC, "#! with no interpreter");
	script("spaces-interp.sh", "#!   \n", 0755);
	run_err("./spaces-interp.sh", ENOEXEC, "#! with only spaces");
	expect_ok(mkdir("d", 0755), "mkdir d");
	snprintf(buf, sizeof buf, "#!%s/d\n", getenv("DIFF_TMP"));
	script("dir.sh", buf, 0755);
	run_err("./dir.sh", EACCES, "interpreter is a directory");

	/* execveat of a script relative to a directory fd. */
	int dfd = open(".", O_RDONLY | O_DIRECTORY);
	pid_t p = xfork();
	if (p == 0) {
		char *a[] = {"x", "via-execveat", NULL};
		syscall(SYS_execveat, dfd, "arg.sh", a, environ, 0);
		child_exit(1);
	}
	expect_status(p, "exit 3", "execveat dirfd + script");
	close(dfd);

	/* system() and popen() go through /bin/sh; skip those (the host's sh is
	 * not part of the test) and use busybox directly via a script instead. */
	script("pipe.sh", "#!/bin/busybox sh\nprintf 'a\\nb\\nc\\n' | /bin/busybox wc -l\n", 0755);
	char *a2[] = {"pipe.sh", NULL};
	run("./pipe.sh", a2, "exit 0", "script with a pipeline");

	return finish();
}
