/* mmap_churn: maps a file, closes its fd, reads the mapping and unmaps it,
 * thousands of times, over several files (one of them removed while
 * mapped). The mapping keeps the file open, not the process's fd table.
 * TestMmapChurnFdLimit runs it under a small host descriptor limit: what
 * elfuse holds for a mapping must go with the mapping. */
#include "common.h"
#include <sys/mman.h>

#define ROUNDS 4000
#define FILES 4

int main(int argc, char **argv)
{
	scratch(argc, argv);
	long pg = sysconf(_SC_PAGESIZE);
	char name[32], buf[4096];
	for (int f = 0; f < FILES; f++) {
		memset(buf, 'a' + f, sizeof buf);
		snprintf(name, sizeof name, "f%d", f);
		check(write_file(name, buf, sizeof buf) == 0, "write %s", name);
	}
	long good = 0, failed = 0;
	int first_errno = 0;
	for (int i = 0; i < ROUNDS; i++) {
		snprintf(name, sizeof name, "f%d", i % FILES);
		int fd = open(name, O_RDONLY);
		if (fd < 0) {
			failed++;
			first_errno = first_errno ? first_errno : errno;
			continue;
		}
		char *m = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fd, 0);
		int e = errno;
		close(fd);
		if (m == MAP_FAILED) {
			failed++;
			first_errno = first_errno ? first_errno : e;
			continue;
		}
		if (m[0] == 'a' + i % FILES && m[pg - 1] == 'a' + i % FILES)
			good++;
		munmap(m, pg);
	}
	errno = first_errno;
	check(failed == 0 && good == ROUNDS, "%d map, read, unmap rounds (%ld good, %ld failed)", ROUNDS, good, failed);

	/* A file removed while mapped stays readable through the mapping. */
	int fd = open("f0", O_RDONLY);
	char *m = mmap(NULL, pg, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	check(m != MAP_FAILED && unlink("f0") == 0, "map then remove f0");
	check(m != MAP_FAILED && m[0] == 'a', "removed file read through its mapping");
	if (m != MAP_FAILED)
		munmap(m, pg);
	return finish();
}
