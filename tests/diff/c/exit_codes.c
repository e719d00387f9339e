/* Exit statuses: exit(N), return from main, exit_group, _exit; stdio flushing rules. */
// diff:run {"name":"exit0","args":["exit0"],"exit":0}
// diff:run {"name":"exit3","args":["exit3"],"exit":3}
// diff:run {"name":"exit255","args":["exit255"],"exit":255}
// diff:run {"name":"exit256","args":["exit256"],"exit":0}
// diff:run {"name":"ret42","args":["ret42"],"exit":42}
// diff:run {"name":"atexit","args":["atexit"],"exit":5}
// diff:run {"name":"exitgroup7","args":["exitgroup7"],"exit":7}
// diff:run {"name":"exit_sys9","args":["exit_sys9"],"exit":9}
// diff:run {"name":"_exit4","args":["_exit4"],"exit":4}
#include "common.h"

static void bye(void) { printf("atexit handler ran\n"); }

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[2] : "exit0";
	printf("mode %s\n", mode);
	if (!strcmp(mode, "exit0"))
		exit(0);
	if (!strcmp(mode, "exit3"))
		exit(3);
	if (!strcmp(mode, "exit255"))
		exit(255);
	if (!strcmp(mode, "exit256"))
		exit(256); /* truncated to 0 */
	if (!strcmp(mode, "ret42"))
		return 42;
	if (!strcmp(mode, "atexit")) {
		atexit(bye);
		exit(5);
	}
	if (!strcmp(mode, "exitgroup7")) {
		fflush(stdout);
		printf("this buffered line is lost");
		syscall(SYS_exit_group, 7);
	}
	if (!strcmp(mode, "exit_sys9")) {
		fflush(stdout);
		syscall(SYS_exit, 9); /* single thread: ends the process */
	}
	if (!strcmp(mode, "_exit4")) {
		fprintf(stderr, "stderr is unbuffered\n");
		fflush(stdout);
		_exit(4);
	}
	printf("FAIL unknown mode\n");
	return 1;
}
