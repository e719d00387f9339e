/* execve of static binaries: pid, parent, cwd, umask and mask preserved;
 * close-on-exec fds closed; handled signals reset to SIG_DFL, ignored stay
 * ignored, pending signals kept; sigaltstack cleared; argv/envp exactly as
 * passed; execveat and fexecve; ENOENT ENOEXEC EACCES ENOTDIR E2BIG EFAULT;
 * pid 1 (under elfuse) execs itself at the end. The program re-executes
 * itself (argv[0], an absolute path) with PROC_MODE set in the environment. */
#include "proc.h"

extern char **environ;

static void on_sig(int s) { (void)s; }
static void on_info(int s, siginfo_t *si, void *uc) { (void)s, (void)si, (void)uc; }

static int envint(const char *name)
{
	const char *v = getenv(name);
	return v ? atoi(v) : -1;
}

/* image2 runs in the re-executed image and checks what survived. */
static int image2(int argc, char **argv)
{
	printf("image2 argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=[%s]\n", i, argv[i]);
	int nenv = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "PROC_", 5) == 0 && strncmp(*e, "PROC_PID", 8) != 0 && strncmp(*e, "PROC_PPID", 9) != 0)
			printf("env %s\n", *e);
	for (char **e = environ; *e; e++)
		nenv++;
	check(nenv == 7, "environment has exactly the 7 passed variables (%d)", nenv);
	check(getpid() == envint("PROC_PID"), "pid preserved across execve");
	check(getppid() == envint("PROC_PPID"), "parent preserved across execve");
	errno = 0;
	check(fcntl(envint("PROC_FD_CLOEXEC"), F_GETFD) == -1 && errno == EBADF, "O_CLOEXEC fd closed by exec");
	check(fcntl(envint("PROC_FD_FDCLOEXEC"), F_GETFD) == -1 && errno == EBADF, "FD_CLOEXEC (fcntl) fd closed by exec");
	int keep = envint("PROC_FD_KEEP");
	check(fcntl(keep, F_GETFD) == 0, "plain fd kept open, flags 0");
	char buf[16] = {0};
	check(pread(keep, buf, 5, 0) == 5 && !strcmp(buf, "kept!"), "kept fd still reads the file");
	check(lseek(keep, 0, SEEK_CUR) == 3, "kept fd's offset preserved");
	struct sigaction sa;
	sigaction(SIGUSR1, NULL, &sa);
	check(sa.sa_handler == SIG_DFL, "handled SIGUSR1 reset to SIG_DFL");
	sigaction(SIGTERM, NULL, &sa);
	check(sa.sa_handler == SIG_DFL, "handled SIGTERM (SA_SIGINFO) reset to SIG_DFL");
	sigaction(SIGUSR2, NULL, &sa);
	check(sa.sa_handler == SIG_IGN, "ignored SIGUSR2 stays ignored");
	sigaction(SIGCHLD, NULL, &sa);
	check(sa.sa_handler == SIG_DFL, "SIGCHLD default");
	sigset_t cur, pend;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	check(sigismember(&cur, SIGHUP) && sigismember(&cur, SIGWINCH) && !sigismember(&cur, SIGUSR1), "signal mask preserved");
	sigpending(&pend);
	check(sigismember(&pend, SIGHUP) && !sigismember(&pend, SIGWINCH), "pending blocked SIGHUP kept across exec");
	stack_t ss;
	sigaltstack(NULL, &ss);
	check(ss.ss_flags == SS_DISABLE, "sigaltstack disabled after exec (flags %d)", ss.ss_flags);
	check(umask(0) == 027, "umask preserved");
	char cwd[4096];
	char want[4096];
	snprintf(want, sizeof want, "%s/sub", getenv("DIFF_TMP"));
	check(getcwd(cwd, sizeof cwd) && !strcmp(cwd, want), "cwd preserved (sub)");
	unsigned left = alarm(0);
	check(left > 50 && left <= 100, "pending alarm survives exec");
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	check(rl.rlim_cur == 200, "rlimit preserved");
	/* SIGUSR2 ignored: raising it does nothing. */
	raise(SIGUSR2);
	printf("ok survived ignored SIGUSR2\n");
	return finish() ? 1 : 17;
}

static int image_echo(int argc, char **argv)
{
	printf("echo image argc=%d", argc);
	for (int i = 0; i < argc; i++)
		printf(" [%s]", argv[i]);
	printf("\n");
	return envint("PROC_EXIT");
}

static int image_final(void)
{
	printf("ok final image runs with pid and parent preserved: %d\n",
	       getpid() == envint("PROC_PID") && getppid() == envint("PROC_PPID"));
	return finish();
}

static pid_t run_echo(const char *how, int dirfd, const char *path, int flags, int code)
{
	char codebuf[32];
	snprintf(codebuf, sizeof codebuf, "PROC_EXIT=%d", code);
	char *env[] = {"PROC_MODE=echo", codebuf, NULL};
	char *args[] = {(char *)how, "x", NULL};
	pid_t p = xfork();
	if (p == 0) {
		if (dirfd == -2)
			fexecve(flags, args, env);
		else
			syscall(SYS_execveat, dirfd, path, args, env, flags);
		printf("FAIL %s errno=%s\n", how, errname(errno));
		child_exit(1);
	}
	return p;
}

int main(int argc, char **argv)
{
	const char *mode = getenv("PROC_MODE");
	if (mode && !strcmp(mode, "image2"))
		return image2(argc, argv);
	if (mode && !strcmp(mode, "echo"))
		return image_echo(argc, argv);
	if (mode && !strcmp(mode, "final"))
		return image_final();

	proc_init();
	const char *dir = scratch(argc, argv);
	const char *self = argv[0];
	check(self[0] == '/', "argv[0] is an absolute path");

	/* The big exec with everything that must or must not survive. */
	check(write_file("keep.txt", "kept!", 5) == 0, "write keep.txt");
	expect_ok(mkdir("sub", 0755), "mkdir sub");
	pid_t p = xfork();
	if (p == 0) {
		int cl = open("keep.txt", O_RDONLY | O_CLOEXEC);
		int fdcl = open("keep.txt", O_RDONLY);
		fcntl(fdcl, F_SETFD, FD_CLOEXEC);
		int keep = open("keep.txt", O_RDONLY);
		lseek(keep, 3, SEEK_SET);
		set_handler(SIGUSR1, on_sig, 0);
		set_action(SIGTERM, on_info, SA_RESTART);
		signal(SIGUSR2, SIG_IGN);
		sigset_t m;
		sigemptyset(&m);
		sigaddset(&m, SIGHUP);
		sigaddset(&m, SIGWINCH);
		sigprocmask(SIG_BLOCK, &m, NULL);
		raise(SIGHUP);
		static char alt[65536];
		stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt, .ss_flags = 0};
		sigaltstack(&ss, NULL);
		umask(027);
		chdir("sub");
		alarm(100);
		struct rlimit rl = {200, 200};
		setrlimit(RLIMIT_NOFILE, &rl);
		char e[6][4200];
		snprintf(e[0], sizeof e[0], "PROC_PID=%d", getpid());
		snprintf(e[1], sizeof e[1], "PROC_PPID=%d", getppid());
		snprintf(e[2], sizeof e[2], "PROC_FD_CLOEXEC=%d", cl);
		snprintf(e[3], sizeof e[3], "PROC_FD_FDCLOEXEC=%d", fdcl);
		snprintf(e[4], sizeof e[4], "PROC_FD_KEEP=%d", keep);
		snprintf(e[5], sizeof e[5], "DIFF_TMP=%s", dir);
		char *env[] = {"PROC_MODE=image2", e[0], e[1], e[2], e[3], e[4], e[5], NULL};
		char *args[] = {"renamed-argv0", "arg with spaces", "", "\xc3\xa9t\xc3\xa9", NULL};
		execve(self, args, env);
		printf("FAIL execve self errno=%s\n", errname(errno));
		child_exit(1);
	}
	expect_status(p, "exit 17", "re-executed image checked its state");

	/* execve failures, seen in this process. */
	char *args[] = {"x", NULL};
	char *env[] = {NULL};
	expect_err(execve("missing-prog", args, env), ENOENT, "execve missing file");
	expect_err(execve("/nonexistent-dir/prog", args, env), ENOENT, "execve missing directory");
	check(write_file("junk", "this is not an ELF file\n", 24) == 0 && chmod("junk", 0755) == 0, "junk file");
	expect_err(execve("junk", args, env), ENOEXEC, "execve junk with x bit");
	check(write_file("empty", "", 0) == 0 && chmod("empty", 0755) == 0, "empty file");
	expect_err(execve("./empty", args, env), ENOEXEC, "execve empty file");
	char elfhdr[64] = "\177ELF\002\001\001";
	check(write_file("badelf", elfhdr, sizeof elfhdr) == 0 && chmod("badelf", 0755) == 0, "truncated ELF header");
	errno = 0;
	long rc = execve("./badelf", args, env);
	check(rc == -1 && (errno == ENOEXEC || errno == EINVAL || errno == EIO), "execve bad ELF fails");
	check(write_file("noexec", "#!/bin/busybox sh\necho hi\n", 26) == 0 && chmod("noexec", 0644) == 0, "script without x bit");
	expect_err(execve("noexec", args, env), EACCES, "execve file without x bit");
	expect_err(execve(".", args, env), EACCES, "execve a directory");
	expect_err(execve("keep.txt/x", args, env), ENOTDIR, "execve path through a file");
	expect_err(execve("", args, env), ENOENT, "execve empty path");
	expect_err(syscall(SYS_execve, 8L, args, env), EFAULT, "execve bad path pointer");
	expect_err(syscall(SYS_execve, self, 8L, env), EFAULT, "execve bad argv pointer");

	/* E2BIG: one string over MAX_ARG_STRLEN (128 KiB), and 48 MiB in total. */
	char *huge = malloc(200 << 10);
	memset(huge, 'a', 200 << 10);
	huge[(200 << 10) - 1] = 0;
	char *bigargs[] = {"x", huge, NULL};
	expect_err(execve(self, bigargs, env), E2BIG, "execve one 200 KiB argument");
	char *bigenv[] = {huge, NULL};
	expect_err(execve(self, args, bigenv), E2BIG, "execve one 200 KiB environment string");
	huge[(100 << 10)] = 0;
	enum { NB = 480 };
	char **many = calloc(NB + 1, sizeof *many);
	for (int i = 0; i < NB; i++)
		many[i] = huge;
	expect_err(execve(self, many, env), E2BIG, "execve 48 MiB of arguments");
	free(many);
	free(huge);
	printf("ok still running after failed execs\n");

	/* execveat: dirfd-relative, AT_FDCWD, AT_EMPTY_PATH; fexecve. */
	const char *slash = strrchr(self, '/');
	char selfdir[4096];
	snprintf(selfdir, sizeof selfdir, "%.*s", (int)(slash - self), self);
	int dfd = open(selfdir, O_RDONLY | O_DIRECTORY);
	expect_ok(dfd, "open the binary's directory");
	expect_status(run_echo("execveat-dirfd", dfd, slash + 1, 0, 21), "exit 21", "execveat relative to dirfd");
	expect_status(run_echo("execveat-fdcwd", AT_FDCWD, self, 0, 22), "exit 22", "execveat AT_FDCWD absolute");
	int sfd = open(self, O_RDONLY | O_CLOEXEC);
	expect_ok(sfd, "open self");
	expect_status(run_echo("execveat-empty", sfd, "", AT_EMPTY_PATH, 23), "exit 23", "execveat AT_EMPTY_PATH");
	expect_status(run_echo("fexecve", -2, NULL, sfd, 24), "exit 24", "fexecve");
	expect_err(syscall(SYS_execveat, dfd, "no-such-file", args, env, 0), ENOENT, "execveat missing");
	expect_err(syscall(SYS_execveat, sfd, "", args, env, 0), ENOENT, "execveat empty path without AT_EMPTY_PATH");
	expect_err(syscall(SYS_execveat, dfd, slash + 1, args, env, 0x12345), EINVAL, "execveat bad flags");
	int kfd = open("keep.txt", O_RDONLY);
	expect_err(syscall(SYS_execveat, kfd, "x", args, env, 0), ENOTDIR, "execveat dirfd not a directory");
	close(kfd);
	close(dfd);
	close(sfd);

	/* exec from a vfork child of a binary that exits non-zero. */
	fflush(stdout);
	p = vfork();
	if (p == 0) {
		char *e2[] = {"PROC_MODE=echo", "PROC_EXIT=5", NULL};
		char *a2[] = {"vforked", NULL};
		execve(self, a2, e2);
		_exit(127);
	}
	expect_status(p, "exit 5", "vfork+execve self");

	/* Finally this process (pid 1 under elfuse) replaces itself. */
	char e0[64], e1[64];
	snprintf(e0, 64, "PROC_PID=%d", getpid());
	snprintf(e1, 64, "PROC_PPID=%d", getppid());
	char *fenv[] = {"PROC_MODE=final", e0, e1, NULL};
	char *fargs[] = {"final", NULL};
	if (diff_failed)
		printf("result FAIL before final exec\n");
	fflush(stdout);
	execve(self, fargs, fenv);
	printf("FAIL final execve errno=%s\n", errname(errno));
	return 1;
}
