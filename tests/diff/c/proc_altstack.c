/* sigaltstack with SA_ONSTACK: a stack overflow from unbounded recursion is
 * caught on the alternate stack and recovered with siglongjmp; without an
 * alternate stack the overflow kills; SS_ONSTACK reported inside, EPERM
 * when changing the stack while on it; handlers without SA_ONSTACK use the
 * normal stack. */
#include "proc.h"

#include <setjmp.h>

static sigjmp_buf jb;
static char altstack[1 << 16];
static volatile int on_alt, flags_inside, eperm_inside, got;
static volatile unsigned long depth;

static int in_alt(void *p)
{
	return (char *)p >= altstack && (char *)p < altstack + sizeof altstack;
}

static void on_segv(int s, siginfo_t *si, void *uc)
{
	(void)s, (void)si, (void)uc;
	int local;
	on_alt = in_alt(&local);
	stack_t cur;
	sigaltstack(NULL, &cur);
	flags_inside = cur.ss_flags;
	stack_t other = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
	eperm_inside = sigaltstack(&other, NULL) == -1 && errno == EPERM;
	got++;
	siglongjmp(jb, 1);
}

static void on_usr(int s)
{
	(void)s;
	int local;
	on_alt = in_alt(&local);
	got++;
}

static unsigned long recurse(unsigned long n)
{
	volatile char pad[512];
	pad[0] = (char)n;
	depth = n;
	return recurse(n + 1) + pad[0];
}

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0}, old;
	expect_ok(sigaltstack(&ss, &old), "sigaltstack install");
	check(old.ss_flags == SS_DISABLE, "no alternate stack before");
	sigaltstack(NULL, &old);
	check(old.ss_sp == altstack && old.ss_size == sizeof altstack && old.ss_flags == 0, "sigaltstack query");

	/* A handler with SA_ONSTACK runs on the alternate stack; without it, not. */
	set_handler(SIGUSR1, on_usr, SA_ONSTACK);
	raise(SIGUSR1);
	check(got == 1 && on_alt, "SA_ONSTACK handler ran on the alternate stack");
	set_handler(SIGUSR1, on_usr, 0);
	raise(SIGUSR1);
	check(got == 2 && !on_alt, "handler without SA_ONSTACK ran on the normal stack");

	/* Stack overflow: recursion until SIGSEGV, handled on the alternate stack. */
	set_action(SIGSEGV, on_segv, SA_ONSTACK);
	got = 0;
	if (sigsetjmp(jb, 1) == 0)
		recurse(0);
	check(got == 1 && on_alt, "stack overflow caught on the alternate stack");
	check(depth > 1000, "recursed deeply before the overflow");
	check(flags_inside == SS_ONSTACK, "SS_ONSTACK reported inside the handler (flags %d)", flags_inside);
	check(eperm_inside, "changing the alternate stack while on it: EPERM");
	sigaltstack(NULL, &old);
	check(old.ss_flags == 0, "back off the alternate stack after siglongjmp");

	/* Twice more: recovery leaves things usable. */
	volatile int again = 0;
	for (volatile int i = 0; i < 2; i++) {
		got = 0;
		if (sigsetjmp(jb, 1) == 0)
			recurse(0);
		again += got == 1 && on_alt;
	}
	check(again == 2, "two more overflows recovered");

	/* Without an alternate stack, the overflow kills with SIGSEGV. */
	pid_t p = xfork();
	if (p == 0) {
		no_core();
		stack_t dis = {.ss_flags = SS_DISABLE};
		sigaltstack(&dis, NULL);
		set_action(SIGSEGV, on_segv, 0);
		if (sigsetjmp(jb, 1) == 0)
			recurse(0);
		_exit(3);
	}
	expect_status(p, "signal SIGSEGV", "overflow without an alternate stack kills");

	/* The alternate stack is inherited by fork. */
	p = xfork();
	if (p == 0) {
		stack_t c;
		sigaltstack(NULL, &c);
		_exit(c.ss_sp == altstack && c.ss_flags == 0 ? 0 : 1);
	}
	expect_status(p, "exit 0", "child inherits the alternate stack");

	/* Errors. */
	stack_t small = {.ss_sp = altstack, .ss_size = 1024, .ss_flags = 0};
	expect_err(sigaltstack(&small, NULL), ENOMEM, "sigaltstack below MINSIGSTKSZ");
	stack_t badf = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 99};
	expect_err(sigaltstack(&badf, NULL), EINVAL, "sigaltstack bad flags");
	stack_t dis = {.ss_flags = SS_DISABLE};
	expect_ok(sigaltstack(&dis, NULL), "SS_DISABLE");
	sigaltstack(NULL, &old);
	check(old.ss_flags == SS_DISABLE, "disabled");
	return finish();
}
