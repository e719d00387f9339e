/* argv/envp/auxv layout and getauxval: values that must agree, presence of the rest. */
#include "common.h"
#include <sys/auxv.h>
#include <elf.h>

extern char _start[];

int main(int argc, char **argv, char **envp)
{
	check(argv[argc] == NULL, "argv NULL-terminated");
	check(envp == argv + argc + 1, "envp follows argv");
	char **e = envp;
	while (*e)
		e++;
	Elf64_auxv_t *av = (Elf64_auxv_t *)(e + 1);
	unsigned long v[64] = {0};
	int seen[64] = {0};
	int count = 0;
	for (Elf64_auxv_t *x = av; x->a_type != AT_NULL; x++) {
		count++;
		if (x->a_type < 64) {
			v[x->a_type] = x->a_un.a_val;
			seen[x->a_type] = 1;
		}
	}
	check(count > 10, "auxv has more than 10 entries");
	printf("AT_PAGESZ=%lu getauxval=%lu\n", v[AT_PAGESZ], getauxval(AT_PAGESZ));
	printf("AT_CLKTCK=%lu getauxval=%lu\n", v[AT_CLKTCK], getauxval(AT_CLKTCK));
	printf("AT_SECURE=%lu\n", getauxval(AT_SECURE));
	check(getauxval(AT_UID) == getuid() && getauxval(AT_EUID) == geteuid(), "AT_UID/AT_EUID match getuid/geteuid");
	check(getauxval(AT_GID) == getgid() && getauxval(AT_EGID) == getegid(), "AT_GID/AT_EGID match getgid/getegid");
	check(seen[AT_UID] && seen[AT_EUID] && seen[AT_GID] && seen[AT_EGID], "uid/gid entries present");
	printf("AT_PLATFORM=%s\n", seen[AT_PLATFORM] ? (const char *)v[AT_PLATFORM] : "(absent)");
	printf("AT_BASE=%lu\n", v[AT_BASE]);
	printf("present AT_RANDOM=%d AT_PHDR=%d AT_PHENT=%d AT_PHNUM=%d AT_ENTRY=%d AT_EXECFN=%d AT_HWCAP=%d AT_SYSINFO_EHDR=%d\n",
	       seen[AT_RANDOM], seen[AT_PHDR], seen[AT_PHENT], seen[AT_PHNUM], seen[AT_ENTRY], seen[AT_EXECFN],
	       seen[AT_HWCAP], seen[AT_SYSINFO_EHDR]);

	/* AT_RANDOM: 16 readable bytes, not all zero */
	if (seen[AT_RANDOM]) {
		unsigned char *r = (unsigned char *)v[AT_RANDOM];
		int nz = 0;
		for (int i = 0; i < 16; i++)
			nz += r[i] != 0;
		check(nz > 0, "AT_RANDOM bytes not all zero");
	}
	/* AT_PHDR points at this program's program headers */
	check(v[AT_PHENT] == sizeof(Elf64_Phdr), "AT_PHENT=%lu", v[AT_PHENT]);
	if (seen[AT_PHDR] && v[AT_PHNUM] > 0) {
		Elf64_Phdr *ph = (Elf64_Phdr *)v[AT_PHDR];
		int loads = 0;
		for (unsigned long i = 0; i < v[AT_PHNUM]; i++)
			loads += ph[i].p_type == PT_LOAD;
		check(loads >= 1, "AT_PHDR has PT_LOAD headers");
	}
	check(v[AT_ENTRY] == (unsigned long)_start, "AT_ENTRY is _start");
	check(seen[AT_EXECFN] && strlen((const char *)v[AT_EXECFN]) > 0, "AT_EXECFN is a non-empty string");
	if (seen[AT_SYSINFO_EHDR]) {
		const unsigned char *eh = (const unsigned char *)v[AT_SYSINFO_EHDR];
		check(!memcmp(eh, ELFMAG, SELFMAG) && eh[EI_CLASS] == ELFCLASS64, "vDSO has an ELF header");
	}
	errno = 0;
	check(getauxval(0x7777) == 0 && errno == ENOENT, "getauxval unknown -> ENOENT");

	/* the stack: argv strings sit above the auxv, stack grows down */
	int local;
	check((uintptr_t)&local < (uintptr_t)argv && (uintptr_t)argv < (uintptr_t)av, "stack layout: locals < argv < auxv");
	check(((uintptr_t)argv & 7) == 0, "argv 8-byte aligned");
	return finish();
}
