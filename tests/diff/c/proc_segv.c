/* Faults become signals with the right si_code and si_addr, recovered with
 * siglongjmp: SIGSEGV (NULL, unmapped, write to read-only, exec of NX),
 * SIGBUS past the end of a file mapping, SIGFPE on integer division by
 * zero, SIGILL on ud2, SIGTRAP on int3; the default action kills. */
#include "proc.h"

#include <setjmp.h>
#include <sys/mman.h>

static sigjmp_buf jb;
static volatile int got_sig, got_code;
static void *volatile got_addr;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_code = si->si_code;
	got_addr = si->si_addr;
	siglongjmp(jb, 1);
}

#define TRY(body)                          \
	do {                               \
		got_sig = 0;               \
		got_addr = (void *)1;      \
		if (sigsetjmp(jb, 1) == 0) { \
			body;              \
		}                          \
	} while (0)

static volatile int zero = 0;

/* ud2_here is a ud2 instruction with a known address. */
void ud2_here(void);
__asm__(".text\n.globl ud2_here\nud2_here:\n\tud2\n\tret\n");

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
	for (int i = 0; i < 5; i++)
		set_action(sigs[i], on_fault, 0);

	TRY(*(volatile int *)0 = 1);
	check(got_sig == SIGSEGV && got_code == SEGV_MAPERR && got_addr == NULL, "write to NULL: SIGSEGV SEGV_MAPERR si_addr=0");

	char *page = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(page + 4096, 4096);
	char *hole = page + 4096 + 123;
	TRY((void)*(volatile char *)hole);
	check(got_sig == SIGSEGV && got_code == SEGV_MAPERR && got_addr == hole, "read of unmapped page: SEGV_MAPERR, si_addr exact");

	mprotect(page, 4096, PROT_READ);
	TRY(page[77] = 1);
	check(got_sig == SIGSEGV && got_code == SEGV_ACCERR && got_addr == page + 77, "write to read-only page: SEGV_ACCERR, si_addr exact");
	mprotect(page, 4096, PROT_NONE);
	TRY((void)*(volatile char *)(page + 5));
	check(got_sig == SIGSEGV && got_code == SEGV_ACCERR && got_addr == page + 5, "read of PROT_NONE page: SEGV_ACCERR");

	/* Executing a non-executable page: si_addr is the jump target. */
	char *data = page + 2 * 4096;
	data[0] = (char)0xc3; /* ret */
	TRY(((void (*)(void))data)());
	check(got_sig == SIGSEGV && got_code == SEGV_ACCERR && got_addr == data, "call into a non-exec page: SEGV_ACCERR at the target");

	/* The mask is restored by siglongjmp(jb, 1) with savemask: 100 more faults. */
	volatile int okn = 0;
	for (volatile int i = 0; i < 100; i++) {
		TRY(*(volatile int *)(hole + i) = i);
		okn += got_sig == SIGSEGV && got_addr == hole + i;
	}
	check(okn == 100, "100 repeated faults recovered (%d)", okn);
	sigset_t cur;
	sigprocmask(SIG_SETMASK, NULL, &cur);
	check(!sigismember(&cur, SIGSEGV), "SIGSEGV not left blocked");

	/* SIGBUS beyond the end of a file. */
	check(write_file("small", "abc", 3) == 0, "small file");
	int fd = open("small", O_RDONLY);
	char *fm = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	check(fm != MAP_FAILED && fm[2] == 'c' && fm[3] == 0, "file tail page zero-filled");
	TRY((void)*(volatile char *)(fm + 4096 + 9));
	check(got_sig == SIGBUS && got_code == BUS_ADRERR && got_addr == fm + 4096 + 9, "read past EOF page: SIGBUS BUS_ADRERR, si_addr exact");

	/* SIGFPE: integer division by zero. */
	volatile int r = 0;
	TRY(r = 10 / zero);
	check(got_sig == SIGFPE && got_code == FPE_INTDIV, "10/0: SIGFPE FPE_INTDIV (%d)", r);
	volatile long mn = -0x7fffffffffffffffL - 1, m1 = -1;
	TRY(mn = mn / m1);
	check(got_sig == SIGFPE && got_code == FPE_INTDIV, "LONG_MIN/-1: SIGFPE FPE_INTDIV");

	/* SIGILL: ud2; si_addr is the instruction. */
	TRY(ud2_here());
	check(got_sig == SIGILL && got_code == ILL_ILLOPN && got_addr == (void *)ud2_here, "ud2: SIGILL ILL_ILLOPN at the instruction");

	/* SIGTRAP: int3 reports SI_KERNEL. */
	TRY(__asm__ volatile("int3"));
	check(got_sig == SIGTRAP && got_code == SI_KERNEL, "int3: SIGTRAP SI_KERNEL (code %d)", got_code);

	/* Default actions kill children; a blocked synchronous SIGSEGV still kills. */
	struct { const char *what; int how; const char *want; } k[] = {
		{"NULL write", 0, "signal SIGSEGV"}, {"div by zero", 1, "signal SIGFPE"}, {"ud2", 2, "signal SIGILL"},
		{"int3", 3, "signal SIGTRAP"}, {"blocked SIGSEGV", 4, "signal SIGSEGV"}, {"ignored SIGSEGV", 5, "signal SIGSEGV"},
		{"SIGBUS", 6, "signal SIGBUS"},
	};
	for (unsigned i = 0; i < sizeof k / sizeof k[0]; i++) {
		pid_t p = xfork();
		if (p == 0) {
			no_core();
			for (int s = 0; s < 5; s++)
				signal(sigs[s], SIG_DFL);
			switch (k[i].how) {
			case 0: *(volatile int *)0 = 1; break;
			case 1: r = 7 / zero; break;
			case 2: __asm__ volatile("ud2"); break;
			case 3: __asm__ volatile("int3"); break;
			case 4: set_action(SIGSEGV, on_fault, 0); mask_sig(SIG_BLOCK, SIGSEGV); *(volatile int *)0 = 1; break;
			case 5: signal(SIGSEGV, SIG_IGN); *(volatile int *)0 = 1; break;
			case 6: (void)*(volatile char *)(fm + 4096); break;
			}
			_exit(0);
		}
		expect_status(p, k[i].want, k[i].what);
	}
	return finish();
}
