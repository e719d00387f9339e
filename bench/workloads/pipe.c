/* pipe MIB: a child writes MIB MiB into a pipe in 64 KiB writes; the parent reads and checksums it. */
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv) {
	long mib = arg_count(argc, argv, 1, 256);
	static unsigned char buf[1 << 16];
	int fds[2];
	if (pipe(fds) != 0) die("pipe");
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		close(fds[0]);
		for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)i;
		for (long k = 0; k < mib * 16; k++) {
			size_t done = 0;
			while (done < sizeof buf) {
				ssize_t w = write(fds[1], buf + done, sizeof buf - done);
				if (w <= 0) _exit(1);
				done += (size_t)w;
			}
		}
		_exit(0);
	}
	close(fds[1]);
	uint64_t total = 0, sum = 0;
	for (;;) {
		ssize_t r = read(fds[0], buf, sizeof buf);
		if (r < 0) die("read");
		if (r == 0) break;
		for (ssize_t i = 0; i < r; i++) sum += buf[i];
		total += (uint64_t)r;
	}
	int st;
	if (waitpid(pid, &st, 0) != pid) die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "writer failed\n");
		return 1;
	}
	printf("pipe %ld bytes=%llu sum=%llu\n", mib, (unsigned long long)total, (unsigned long long)sum);
	return 0;
}
