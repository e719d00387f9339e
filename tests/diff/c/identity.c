/* uname, pid/tid relations, uid/gid calls, getgroups, getresuid/getresgid. */
#include "common.h"
#include <sys/utsname.h>
#include <grp.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	struct utsname u;
	check(uname(&u) == 0, "uname");
	printf("sysname=%s machine=%s\n", u.sysname, u.machine);
	check(strlen(u.release) > 0 && strlen(u.nodename) < sizeof u.nodename, "release/nodename present");
	check(syscall(SYS_uname, &u) == 0 && !strcmp(u.sysname, "Linux"), "SYS_uname");

	pid_t pid = getpid();
	check(pid > 0, "getpid > 0");
	check(syscall(SYS_getpid) == pid, "SYS_getpid == getpid");
	check(syscall(SYS_gettid) == pid, "gettid == getpid (single thread)");
	check(getppid() >= 0, "getppid >= 0");
	check(getpgrp() >= 0 && getsid(0) >= 0, "getpgrp/getsid >= 0");
	check(getpgid(0) == getpgrp(), "getpgid(0)==getpgrp()");
	check(syscall(SYS_set_tid_address, NULL) == pid, "set_tid_address returns tid");

	uid_t uid = getuid(), euid = geteuid();
	gid_t gid = getgid(), egid = getegid();
	check(uid == euid && gid == egid, "real == effective ids");
	check(syscall(SYS_getuid) == uid && syscall(SYS_geteuid) == euid, "SYS_getuid/geteuid");
	check(syscall(SYS_getgid) == gid && syscall(SYS_getegid) == egid, "SYS_getgid/getegid");
	uid_t r, e, s;
	check(getresuid(&r, &e, &s) == 0 && r == uid && e == uid && s == uid, "getresuid all equal");
	gid_t rg, eg, sg;
	check(getresgid(&rg, &eg, &sg) == 0 && rg == gid && eg == gid && sg == gid, "getresgid all equal");

	int n = getgroups(0, NULL);
	check(n >= 0, "getgroups(0) count");
	gid_t groups[256];
	int m = getgroups(256, groups);
	check(m == n, "getgroups count agrees");
	if (n > 1)
		expect_err(getgroups(1, groups), EINVAL, "getgroups too small");
	else
		printf("ok getgroups too small (skipped, <2 groups)\n");
	check(syscall(SYS_getgroups, 256, groups) == m, "SYS_getgroups");

	/* setting ids to current values is always allowed */
	check(setuid(uid) == 0 && setgid(gid) == 0, "setuid/setgid to self");
	check(setresuid(-1, -1, -1) == 0 && setresgid(-1, -1, -1) == 0, "setresuid/setresgid -1");
	check(syscall(SYS_setfsuid, -1) == uid && syscall(SYS_setfsgid, -1) == gid, "setfsuid/setfsgid query");
	check(getuid() == uid && getgid() == gid, "ids unchanged");
	return finish();
}
