/* tcp MIB: a child connects to the parent over TCP on 127.0.0.1 and writes MIB MiB in 64 KiB
 * writes through the one connection; the parent accepts, reads and checksums it (as pipe.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv) {
	long mib = arg_count(argc, argv, 1, 256);
	static unsigned char buf[1 << 16];
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0) die("socket");
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind 127.0.0.1:0");
	if (listen(ls, 1) != 0) die("listen");
	socklen_t alen = sizeof addr;
	if (getsockname(ls, (struct sockaddr *)&addr, &alen) != 0) die("getsockname");
	pid_t pid = fork();
	if (pid < 0) die("fork");
	if (pid == 0) {
		close(ls);
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0) _exit(1);
		if (connect(c, (struct sockaddr *)&addr, sizeof addr) != 0) _exit(2);
		for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)i;
		for (long k = 0; k < mib * 16; k++) {
			size_t done = 0;
			while (done < sizeof buf) {
				ssize_t w = write(c, buf + done, sizeof buf - done);
				if (w <= 0) _exit(3);
				done += (size_t)w;
			}
		}
		_exit(close(c) == 0 ? 0 : 4);
	}
	int s = accept(ls, NULL, NULL);
	if (s < 0) die("accept");
	uint64_t total = 0, sum = 0;
	for (;;) {
		ssize_t r = read(s, buf, sizeof buf);
		if (r < 0) die("read");
		if (r == 0) break;
		for (ssize_t i = 0; i < r; i++) sum += buf[i];
		total += (uint64_t)r;
	}
	int st;
	if (waitpid(pid, &st, 0) != pid) die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "writer failed with status %#x\n", st);
		return 1;
	}
	printf("tcp %ld bytes=%llu sum=%llu\n", mib, (unsigned long long)total, (unsigned long long)sum);
	return 0;
}
