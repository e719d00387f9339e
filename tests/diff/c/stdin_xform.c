/* Read stdin to EOF with odd-sized reads, count it and write a transformed copy. */
// diff:run {"name":"pipe","stdin":"text"}
// diff:run {"name":"file","stdin":"text","stdinFile":true}
// diff:run {"name":"empty","stdin":"empty"}
#include "common.h"
#include <ctype.h>

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = malloc(cap);
	size_t sizes[] = { 1, 7, 4096, 333, 65536, 13 };
	int k = 0, reads = 0;
	for (;;) {
		size_t want = sizes[k++ % 6];
		if (n + want > cap) {
			cap = (n + want) * 2;
			buf = realloc(buf, cap);
		}
		ssize_t r = read(0, buf + n, want);
		if (r < 0) {
			printf("FAIL read errno=%s\n", errname(errno));
			return 1;
		}
		if (r == 0)
			break;
		n += r;
		reads++;
	}
	check(read(0, buf, 1) == 0, "read after EOF is 0 again");
	size_t lines = 0, words = 0, inword = 0;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++) {
		lines += buf[i] == '\n';
		if (isspace(buf[i]))
			inword = 0;
		else if (!inword) {
			inword = 1;
			words++;
		}
		h = (h ^ buf[i]) * 16777619u;
	}
	printf("bytes=%zu lines=%zu words=%zu fnv=%08x\n", n, lines, words, h);
	/* transformed copy: rot13 + upper-case of every line, line numbers */
	size_t line = 1, start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || buf[i] == '\n') {
			if (i == n && start == n)
				break;
			printf("%5zu ", line++);
			for (size_t j = start; j < i; j++) {
				int c = buf[j];
				if (isalpha(c)) {
					int base = islower(c) ? 'a' : 'A';
					c = toupper((c - base + 13) % 26 + base);
				}
				putchar(c);
			}
			putchar('\n');
			start = i + 1;
		}
	}
	fprintf(stderr, "stderr: processed %zu bytes\n", n);
	return finish();
}
