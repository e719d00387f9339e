/* stat N PATH: N stat calls on PATH; prints its size so the bench can check the answer. */
#include <sys/stat.h>

#include "common.h"

int main(int argc, char **argv) {
	long n = arg_count(argc, argv, 1, 100000);
	const char *path = argc > 2 ? argv[2] : argv[0];
	struct stat st, first;
	if (stat(path, &first) != 0) die("stat");
	long same = 0;
	for (long i = 0; i < n; i++) {
		if (stat(path, &st) != 0) die("stat");
		if (st.st_size == first.st_size && st.st_ino == first.st_ino) same++;
	}
	printf("stat %ld size=%lld same=%ld\n", n, (long long)first.st_size, same);
	return 0;
}
