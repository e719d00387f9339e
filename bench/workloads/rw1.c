/* rw1 N: copies N bytes from /dev/zero to /dev/null one byte at a time, like dd bs=1. */
#include <fcntl.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv) {
	long n = arg_count(argc, argv, 1, 100000);
	int in = open("/dev/zero", O_RDONLY);
	if (in < 0) die("open /dev/zero");
	int out = open("/dev/null", O_WRONLY);
	if (out < 0) die("open /dev/null");
	long copied = 0, nonzero = 0;
	for (long i = 0; i < n; i++) {
		unsigned char c = 0xff;
		if (read(in, &c, 1) != 1) die("read");
		if (c != 0) nonzero++;
		if (write(out, &c, 1) != 1) die("write");
		copied++;
	}
	printf("rw1 %ld copied=%ld nonzero=%ld\n", n, copied, nonzero);
	return 0;
}
