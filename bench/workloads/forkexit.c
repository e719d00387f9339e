/* forkexit N: N rounds of fork, child _exit(7), parent wait4; checks every child's status. */
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv) {
	long n = arg_count(argc, argv, 1, 1000);
	long ok = 0;
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) die("fork");
		if (pid == 0) _exit(7);
		int st;
		if (waitpid(pid, &st, 0) != pid) die("waitpid");
		if (WIFEXITED(st) && WEXITSTATUS(st) == 7) ok++;
	}
	printf("forkexit %ld ok=%ld\n", n, ok);
	return 0;
}
