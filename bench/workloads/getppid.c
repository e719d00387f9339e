/* getppid N: N getppid system calls (no libc caching); measures the bare syscall round trip. */
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv) {
	long n = arg_count(argc, argv, 1, 100000);
	long first = syscall(SYS_getppid);
	long same = 0;
	for (long i = 0; i < n; i++) {
		if (syscall(SYS_getppid) == first) same++;
	}
	printf("getppid %ld same=%ld\n", n, same);
	return 0;
}
