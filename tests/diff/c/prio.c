/* Process attributes elfuse keeps: getpriority/setpriority (raw 20-nice
 * encoding, clamping, PRIO_PGRP in a new session, errors), personality,
 * ioprio_get/ioprio_set, syslog without a kernel log, get_robust_list. */
#include "proc.h"
#include <sys/resource.h>
#include <sys/personality.h>

#define IOPRIO_VAL(c, d) (((c) << 13) | (d))

struct rhead { void *next; long off; void *pending; };

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);

	/* Nice values. */
	check(syscall(SYS_getpriority, PRIO_PROCESS, 0) == 20, "raw getpriority is 20-nice");
	errno = 0;
	check(getpriority(PRIO_PROCESS, 0) == 0 && errno == 0, "nice 0");
	check(setpriority(PRIO_PROCESS, 0, 5) == 0, "setpriority 5");
	check(getpriority(PRIO_PROCESS, 0) == 5, "nice 5");
	check(syscall(SYS_getpriority, PRIO_PROCESS, getpid()) == 15, "raw 15 by pid");
	check(setpriority(PRIO_PROCESS, 0, 99) == 0 && getpriority(PRIO_PROCESS, 0) == 19, "99 clamps to 19");
	int lower = setpriority(PRIO_PROCESS, 0, -99);
	int e = errno;
	check(lower == 0 ? getpriority(PRIO_PROCESS, 0) == -20 : e == EACCES, "-99: %s", lower == 0 ? "clamps to -20" : errname(e));
	setpriority(PRIO_PROCESS, 0, 0);
	errno = 0;
	expect_err(setpriority(7, 0, 0), EINVAL, "setpriority bad which");
	expect_err(syscall(SYS_getpriority, 3, 0), EINVAL, "getpriority bad which");
	expect_err(syscall(SYS_getpriority, PRIO_PROCESS, 999999), ESRCH, "getpriority no such pid");
	expect_err(setpriority(PRIO_PGRP, 999999, 1), ESRCH, "setpriority no such group");
	pid_t c = xfork();
	if (c == 0) {
		/* Alone in a new session and group. */
		check(setsid() > 0, "child setsid");
		check(setpriority(PRIO_PGRP, 0, 7) == 0, "setpriority PRIO_PGRP");
		check(getpriority(PRIO_PGRP, 0) == 7 && getpriority(PRIO_PROCESS, 0) == 7, "the group's nice is 7");
		check(syscall(SYS_getpriority, PRIO_PGRP, getpid()) == 13, "raw PRIO_PGRP by id");
		child_exit(0);
	}
	expect_status(c, "exit 0", "group child");

	/* Execution domain. */
	check(personality(0xffffffff) == PER_LINUX, "personality is PER_LINUX");
	check(personality(PER_LINUX32) == PER_LINUX, "set PER_LINUX32 returns the old one");
	check(personality(0xffffffff) == PER_LINUX32, "now PER_LINUX32");
	c = xfork();
	if (c == 0) {
		check(personality(0xffffffff) == PER_LINUX32, "a child inherits it");
		personality(PER_LINUX);
		child_exit(0);
	}
	expect_status(c, "exit 0", "personality child");
	check(personality(0xffffffff) == PER_LINUX32, "the child's change is its own");
	check(personality(PER_LINUX) == PER_LINUX32, "back to PER_LINUX");

	/* I/O priorities. */
	check(syscall(SYS_ioprio_get, 1, 0) == 0, "no I/O priority set");
	check(syscall(SYS_ioprio_set, 1, 0, IOPRIO_VAL(2, 3)) == 0, "ioprio_set best-effort 3");
	check(syscall(SYS_ioprio_get, 1, 0) == IOPRIO_VAL(2, 3), "ioprio_get best-effort 3");
	check(syscall(SYS_ioprio_get, 1, getpid()) == IOPRIO_VAL(2, 3), "ioprio_get by pid");
	check(syscall(SYS_ioprio_set, 1, 0, IOPRIO_VAL(3, 0)) == 0 && syscall(SYS_ioprio_get, 1, 0) == IOPRIO_VAL(3, 0), "idle class");
	errno = 0;
	expect_err(syscall(SYS_ioprio_set, 1, 0, IOPRIO_VAL(4, 0)), EINVAL, "ioprio_set bad class");
	expect_err(syscall(SYS_ioprio_set, 1, 0, IOPRIO_VAL(0, 1)), EINVAL, "ioprio_set class none with data");
	expect_err(syscall(SYS_ioprio_set, 0, 0, 0), EINVAL, "ioprio_set bad which");
	expect_err(syscall(SYS_ioprio_get, 4, 0), EINVAL, "ioprio_get bad which");
	expect_err(syscall(SYS_ioprio_get, 1, 999999), ESRCH, "ioprio_get no such pid");
	check(syscall(SYS_ioprio_set, 1, 0, 0) == 0 && syscall(SYS_ioprio_get, 1, 0) == 0, "back to none");

	/* syslog: the buffer size is always open; bad types are EINVAL. */
	check(syscall(SYS_syslog, 10, NULL, 0) > 0, "SYSLOG_ACTION_SIZE_BUFFER");
	expect_err(syscall(SYS_syslog, 11, NULL, 0), EINVAL, "syslog type 11");
	expect_err(syscall(SYS_syslog, -1, NULL, 0), EINVAL, "syslog type -1");
	long r = syscall(SYS_syslog, 3, NULL, 10);
	e = errno;
	check(r == -1 && (e == EINVAL || e == EPERM), "SYSLOG_ACTION_READ_ALL with no buffer: %s", errname(e));

	/* Robust futex list. */
	struct rhead *old = NULL, *got = NULL;
	size_t len = 0;
	check(syscall(SYS_get_robust_list, 0, &old, &len) == 0 && len == sizeof(struct rhead), "get_robust_list: len %zu", len);
	static struct rhead mine = {&mine, 0, NULL};
	check(syscall(SYS_set_robust_list, &mine, sizeof mine) == 0, "set_robust_list");
	check(syscall(SYS_get_robust_list, 0, &got, &len) == 0 && got == &mine, "get_robust_list returns it");
	check(syscall(SYS_get_robust_list, getpid(), &got, &len) == 0 && got == &mine, "by pid");
	syscall(SYS_set_robust_list, old, sizeof mine);
	errno = 0;
	expect_err(syscall(SYS_get_robust_list, 999999, &got, &len), ESRCH, "get_robust_list no such pid");
	expect_err(syscall(SYS_get_robust_list, 0, (void *)8, &len), EFAULT, "get_robust_list bad pointer");
	return finish();
}
