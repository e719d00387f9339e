/* Shared helpers for the elfuse benchmark workloads: argument parsing and failure exits. */
#ifndef ELFUSE_BENCH_COMMON_H
#define ELFUSE_BENCH_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* die prints what failed with errno's text and exits 1, so the bench marks the run failed. */
static inline void die(const char *what) {
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	exit(1);
}

/* arg_count returns argv[i] as a positive count, or def when it is absent. */
static inline long arg_count(int argc, char **argv, int i, long def) {
	if (argc <= i) return def;
	char *end;
	long v = strtol(argv[i], &end, 10);
	if (*end != '\0' || v <= 0) {
		fprintf(stderr, "bad count %s\n", argv[i]);
		exit(2);
	}
	return v;
}

#endif
