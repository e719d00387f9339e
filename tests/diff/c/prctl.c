/* prctl: PR_SET_NAME/PR_GET_NAME (truncation), dumpable, no_new_privs, pdeathsig, errors. */
#include "common.h"
#include <sys/prctl.h>
#include <signal.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	char name[32];
	memset(name, 'x', sizeof name);
	check(prctl(PR_GET_NAME, name) == 0 && strlen(name) < 16, "PR_GET_NAME initial length < 16");
	check(prctl(PR_SET_NAME, "difftest") == 0, "PR_SET_NAME difftest");
	memset(name, 'x', sizeof name);
	check(prctl(PR_GET_NAME, name) == 0, "PR_GET_NAME");
	printf("name=[%s]\n", name);
	check(prctl(PR_SET_NAME, "a-very-long-thread-name-here") == 0, "PR_SET_NAME long");
	memset(name, 'x', sizeof name);
	prctl(PR_GET_NAME, name);
	printf("name=[%s] len=%zu\n", name, strlen(name));
	check(strlen(name) == 15 && name[16] == 'x', "truncated to 15 bytes, 16 written");
	check(syscall(SYS_prctl, PR_SET_NAME, "", 0, 0, 0) == 0, "PR_SET_NAME empty");
	prctl(PR_GET_NAME, name);
	printf("name=[%s]\n", name);

	int d = prctl(PR_GET_DUMPABLE);
	check(d == 0 || d == 1, "PR_GET_DUMPABLE is 0/1");
	check(prctl(PR_SET_DUMPABLE, 0) == 0 && prctl(PR_GET_DUMPABLE) == 0, "PR_SET_DUMPABLE 0");
	check(prctl(PR_SET_DUMPABLE, 1) == 0 && prctl(PR_GET_DUMPABLE) == 1, "PR_SET_DUMPABLE 1");
	expect_err(prctl(PR_SET_DUMPABLE, 5), EINVAL, "PR_SET_DUMPABLE 5");

	check(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0, "NO_NEW_PRIVS initially 0");
	check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "NO_NEW_PRIVS set");
	expect_err(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0), EINVAL, "NO_NEW_PRIVS cannot be cleared");

	int sig = -1;
	check(prctl(PR_GET_PDEATHSIG, &sig) == 0 && sig == 0, "PDEATHSIG initially 0");
	check(prctl(PR_SET_PDEATHSIG, SIGTERM) == 0 && prctl(PR_GET_PDEATHSIG, &sig) == 0 && sig == SIGTERM, "PDEATHSIG SIGTERM");
	expect_err(prctl(PR_SET_PDEATHSIG, 100), EINVAL, "PDEATHSIG invalid signal");

	check(prctl(PR_GET_KEEPCAPS) == 0, "KEEPCAPS 0");
	check(prctl(PR_GET_CHILD_SUBREAPER, &sig) == 0 && sig == 0, "CHILD_SUBREAPER 0");
	check(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 && prctl(PR_GET_CHILD_SUBREAPER, &sig) == 0 && sig == 1, "CHILD_SUBREAPER set");
	expect_err(prctl(0x7fff1234, 0, 0, 0, 0), EINVAL, "unknown option");
	return finish();
}
