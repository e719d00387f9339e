/* openread N PATH: N rounds of open, read 4 bytes, close on PATH (an ELF file: checks the magic). */
#include <fcntl.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv) {
	long n = arg_count(argc, argv, 1, 20000);
	const char *path = argc > 2 ? argv[2] : argv[0];
	long elf = 0;
	for (long i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) die("open");
		char magic[4];
		if (read(fd, magic, 4) != 4) die("read");
		if (memcmp(magic, "\177ELF", 4) == 0) elf++;
		if (close(fd) != 0) die("close");
	}
	printf("openread %ld elf=%ld\n", n, elf);
	return 0;
}
