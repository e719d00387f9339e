/* forkexec N: N rounds of fork, exec of this same program as "forkexec child" (which exits 5), wait. */
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "child") == 0) return 5;
	long n = arg_count(argc, argv, 1, 300);
	long ok = 0;
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid < 0) die("fork");
		if (pid == 0) {
			char *args[] = {argv[0], "child", NULL};
			execv(argv[0], args);
			_exit(127);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid) die("waitpid");
		if (WIFEXITED(st) && WEXITSTATUS(st) == 5) ok++;
	}
	printf("forkexec %ld ok=%ld\n", n, ok);
	return 0;
}
