/* /proc and /sys: relations that hold on any Linux, checked against the
 * process's own state (pids and addresses are never printed). */
#include "proc.h"
#include <dirent.h>
#include <limits.h>
#include <sys/utsname.h>

static char buf[65536];

/* slurp reads a whole file into buf, returning its length or -1. */
static long slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	long n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
		if (r <= 0)
			break;
		n += r;
	}
	close(fd);
	buf[n] = 0;
	return n;
}

/* field returns the value after "key:\t" in buf, or NULL. */
static const char *field(const char *key)
{
	static char val[256];
	size_t k = strlen(key);
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (strncmp(l, key, k) == 0 && l[k] == ':') {
			const char *v = l + k + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t n = strcspn(v, "\n");
			if (n >= sizeof val)
				n = sizeof val - 1;
			memcpy(val, v, n);
			val[n] = 0;
			return val;
		}
	}
	return NULL;
}

static int has_entry(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int found = 0;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, name) == 0)
			found = 1;
	closedir(d);
	return found;
}

int main(int argc, char **argv)
{
	scratch(argc, argv);
	char want[64], path[PATH_MAX], link[PATH_MAX];
	pid_t pid = getpid();

	/* self is a link to the pid; the pid's directory is listed. */
	ssize_t n = readlink("/proc/self", link, sizeof link - 1);
	check(n > 0, "readlink /proc/self");
	link[n > 0 ? n : 0] = 0;
	snprintf(want, sizeof want, "%d", (int)pid);
	check(strcmp(link, want) == 0, "/proc/self names getpid()");
	check(has_entry("/proc", want), "/proc lists the process");
	check(has_entry("/proc", "self"), "/proc lists self");

	/* stat: pid, (comm), state, ppid. */
	check(slurp("/proc/self/stat") > 0, "read /proc/self/stat");
	int spid = 0, sppid = -1;
	char comm[64] = "", state = 0;
	check(sscanf(buf, "%d (%63[^)]) %c %d", &spid, comm, &state, &sppid) == 4, "parse stat");
	check(spid == pid, "stat pid");
	check(sppid == getppid(), "stat ppid");
	check(strchr("RSD", state) != NULL, "stat state running or sleeping");
	check(strcmp(comm, "procfs") == 0 || strncmp(comm, "procfs", 6) == 0, "stat comm is the program's name");

	/* status agrees with the ids. */
	check(slurp("/proc/self/status") > 0, "read /proc/self/status");
	const char *v = field("Pid");
	check(v && atoi(v) == pid, "status Pid");
	v = field("PPid");
	check(v && atoi(v) == getppid(), "status PPid");
	v = field("Uid");
	unsigned a, b, c, d;
	check(v && sscanf(v, "%u %u %u %u", &a, &b, &c, &d) == 4 && a == getuid() && b == geteuid(), "status Uid");
	v = field("Gid");
	check(v && sscanf(v, "%u %u %u %u", &a, &b, &c, &d) == 4 && a == getgid() && b == getegid(), "status Gid");
	v = field("Threads");
	check(v && atoi(v) == 1, "status Threads");
	v = field("Name");
	check(v && strcmp(v, comm) == 0, "status Name is stat's comm");
	check(field("CapEff") != NULL && field("SigBlk") != NULL && field("VmRSS") != NULL, "status has CapEff SigBlk VmRSS");

	/* Blocking a signal shows in SigBlk. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	slurp("/proc/self/status");
	v = field("SigBlk");
	check(v && (strtoull(v, NULL, 16) & (1ull << (SIGUSR1 - 1))), "SigBlk shows SIGUSR1");
	sigprocmask(SIG_UNBLOCK, &set, NULL);

	/* cmdline is argv, NUL-separated. */
	long len = slurp("/proc/self/cmdline");
	long wantLen = 0;
	for (int i = 0; i < argc; i++)
		wantLen += strlen(argv[i]) + 1;
	check(len == wantLen, "cmdline length is argv's");
	check(len > 0 && strcmp(buf + strlen(buf) + 1, argv[1]) == 0, "cmdline's second string is argv[1]");

	/* comm can be set with prctl and read back. */
	check(slurp("/proc/self/comm") > 0 && strncmp(buf, comm, strlen(comm)) == 0, "comm");

	/* exe and cwd. */
	n = readlink("/proc/self/exe", link, sizeof link - 1);
	check(n > 0, "readlink exe");
	link[n > 0 ? n : 0] = 0;
	check(realpath(argv[0], path) && strcmp(path, link) == 0, "exe is the program");
	n = readlink("/proc/self/cwd", link, sizeof link - 1);
	link[n > 0 ? n : 0] = 0;
	check(getcwd(path, sizeof path) && strcmp(path, link) == 0, "cwd link is getcwd()");
	struct stat s1, s2;
	check(stat("/proc/self/cwd/.", &s1) == 0 && stat(".", &s2) == 0 && s1.st_ino == s2.st_ino, "cwd link reaches the directory");

	/* fd links: a file opened by path, a pipe, and reopening through them. */
	int fd = open("file", O_CREAT | O_RDWR | O_TRUNC, 0644);
	check(write(fd, "hello", 5) == 5, "write file");
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof link - 1);
	link[n > 0 ? n : 0] = 0;
	char cwd[PATH_MAX];
	getcwd(cwd, sizeof cwd);
	snprintf(want, sizeof want, "/file");
	check(n > 0 && strncmp(link, cwd, strlen(cwd)) == 0 && strcmp(link + strlen(cwd), "/file") == 0, "fd link names the file");
	int fd2 = open(path, O_RDONLY);
	check(fd2 >= 0 && read(fd2, want, 5) == 5 && memcmp(want, "hello", 5) == 0, "reopen through the fd link");
	check(fstat(fd2, &s1) == 0 && fstat(fd, &s2) == 0 && s1.st_ino == s2.st_ino, "reopened file is the same");
	close(fd2);
	snprintf(want, sizeof want, "%d", fd);
	check(has_entry("/proc/self/fd", want), "fd directory lists the fd");
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	check(slurp(path) > 0 && field("pos") && atoi(field("pos")) == 5, "fdinfo pos");
	int p[2];
	check(pipe(p) == 0, "pipe");
	snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
	n = readlink(path, link, sizeof link - 1);
	link[n > 0 ? n : 0] = 0;
	check(strncmp(link, "pipe:[", 6) == 0, "pipe fd link");
	snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
	int w = open(path, O_WRONLY);
	check(w >= 0 && write(w, "x", 1) == 1 && read(p[0], want, 1) == 1 && want[0] == 'x', "write a pipe through its fd link");
	close(w);
	struct stat ds;
	check(stat("/dev/stdin", &ds) == 0 || errno == ENOENT, "stat /dev/stdin");
	close(fd);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	check(readlink(path, link, sizeof link) == -1 && errno == ENOENT, "closed fd leaves the directory");

	/* maps shows the stack and the program. */
	check(slurp("/proc/self/maps") > 0 && strstr(buf, "[stack]") != NULL, "maps has [stack]");
	check(strstr(buf, " r-xp ") != NULL, "maps has executable text");

	/* A child is listed while it lives; its stat names the parent. */
	int sync[2];
	pipe(sync);
	pid_t ch = xfork();
	if (ch == 0) {
		char c;
		close(sync[1]);
		read(sync[0], &c, 1);
		_exit(0);
	}
	close(sync[0]);
	snprintf(want, sizeof want, "%d", (int)ch);
	check(has_entry("/proc", want), "/proc lists the child");
	snprintf(path, sizeof path, "/proc/%d/stat", (int)ch);
	check(slurp(path) > 0 && sscanf(buf, "%d (%63[^)]) %c %d", &spid, comm, &state, &sppid) == 4 && sppid == pid, "child's stat names its parent");
	snprintf(path, sizeof path, "/proc/%d/task", (int)ch);
	check(has_entry(path, want), "child's task directory lists its thread");
	close(sync[1]);
	expect_status(ch, "exit 0", "child exits");
	check(!has_entry("/proc", want), "a reaped child is gone from /proc");

	/* System files. */
	struct utsname u;
	uname(&u);
	check(slurp("/proc/sys/kernel/ostype") > 0 && strcmp(buf, "Linux\n") == 0, "kernel/ostype");
	check(slurp("/proc/sys/kernel/osrelease") > 0 && strncmp(buf, u.release, strlen(u.release)) == 0, "osrelease is uname's");
	check(slurp("/proc/sys/kernel/hostname") > 0 && strncmp(buf, u.nodename, strlen(u.nodename)) == 0, "hostname is uname's");
	check(slurp("/proc/meminfo") > 0 && field("MemTotal") != NULL, "meminfo MemTotal");
	check(slurp("/proc/cpuinfo") > 0 && strstr(buf, "processor") != NULL, "cpuinfo");
	check(slurp("/proc/self/mountinfo") > 0 && strstr(buf, " / ") != NULL, "mountinfo has a root");
	check(slurp("/proc/self/limits") > 0 && strstr(buf, "Max open files") != NULL, "limits");
	check(slurp("/sys/devices/system/cpu/online") > 0 && buf[0] == '0', "sys cpu online");
	check(slurp("/proc/uptime") > 0, "uptime");

	/* Nothing of /proc can be removed or created. */
	check(unlink("/proc/self/status") == -1, "unlink /proc/self/status fails");
	check(open("/proc/self/newfile", O_CREAT | O_WRONLY, 0644) == -1, "create in /proc fails");
	check(access("/proc/self/status", R_OK) == 0, "access status");
	check(access("/proc/nonexistent", F_OK) == -1 && errno == ENOENT, "missing entry is ENOENT");
	return finish();
}
