/* argv contents (including empty and odd strings) and environment handling. */
// diff:run {"name":"args","args":["plain","with space","","-dash","--long=x","tab\there","\u00e9t\u00e9 \u2713","*?[glob]","$HOME"]}
// diff:run {"name":"noargs"}
#include "common.h"

extern char **environ;

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv)
{
	printf("argc=%d\n", argc);
	check(argc >= 2 && getenv("DIFF_TMP") && !strcmp(argv[1], getenv("DIFF_TMP")), "argv[1] is DIFF_TMP");
	for (int i = 2; i < argc; i++)
		printf("argv[%d]=[%s] len=%zu\n", i, argv[i], strlen(argv[i]));
	size_t n = 0;
	while (environ[n])
		n++;
	char **names = malloc((n + 1) * sizeof *names);
	for (size_t i = 0; i < n; i++) {
		names[i] = strdup(environ[i]);
		char *eq = strchr(names[i], '=');
		if (eq)
			*eq = 0;
	}
	qsort(names, n, sizeof *names, cmp);
	printf("env names:");
	for (size_t i = 0; i < n; i++)
		printf(" %s", names[i]);
	printf("\n");
	const char *show[] = { "DIFF_VAR", "DIFF_EMPTY", "DIFF_SPACES", "LANG", "TZ", "NOT_SET" };
	for (unsigned i = 0; i < sizeof show / sizeof show[0]; i++) {
		const char *v = getenv(show[i]);
		printf("%s=%s%s%s\n", show[i], v ? "[" : "", v ? v : "(unset)", v ? "]" : "");
	}
	check(setenv("NEW_ONE", "v1", 1) == 0 && !strcmp(getenv("NEW_ONE"), "v1"), "setenv");
	check(unsetenv("DIFF_VAR") == 0 && getenv("DIFF_VAR") == NULL, "unsetenv");
	return finish();
}
