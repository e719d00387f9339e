/* Floating-point and vector state across signal handlers and process
 * switches: xmm0-15 (and ymm upper halves when AVX is available), MXCSR
 * and the x87 control word set in main are intact after a handler that
 * computes with them and clobbers them; a child's computations do not
 * disturb the parent's registers. */
#include "proc.h"

#include <cpuid.h>

static volatile double hres;
static volatile int handled;

static void clobber_handler(int s)
{
	(void)s;
	/* Compute in the handler with SSE and x87, and change the control state. */
	volatile double a = 1.0;
	for (int i = 1; i < 50; i++)
		a = a * 1.5 + 1.0 / i;
	hres = a;
	volatile long double x = 3.0L;
	x = x * x / 7.0L;
	(void)x;
	unsigned int m = 0x1f80 | (3u << 13); /* round toward zero */
	__asm__ volatile("ldmxcsr %0" ::"m"(m));
	unsigned short cw = 0x037f | (3u << 10);
	__asm__ volatile("fldcw %0" ::"m"(cw));
	__asm__ volatile("pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpcmpeqd %%xmm7, %%xmm7\n\tpcmpeqd %%xmm15, %%xmm15" ::: "xmm0", "xmm1", "xmm7", "xmm15");
	handled++;
}

/* sse_roundtrip loads xmm0..xmm15 with patterns, makes the kill syscall
 * (delivering SIGUSR1 to itself) and stores the registers back. */
static void sse_roundtrip(unsigned char in[16][16], unsigned char out[16][16], long sys, long a1, long a2)
{
	__asm__ volatile(
		"movdqu 0(%[in]), %%xmm0\n\tmovdqu 16(%[in]), %%xmm1\n\tmovdqu 32(%[in]), %%xmm2\n\tmovdqu 48(%[in]), %%xmm3\n\t"
		"movdqu 64(%[in]), %%xmm4\n\tmovdqu 80(%[in]), %%xmm5\n\tmovdqu 96(%[in]), %%xmm6\n\tmovdqu 112(%[in]), %%xmm7\n\t"
		"movdqu 128(%[in]), %%xmm8\n\tmovdqu 144(%[in]), %%xmm9\n\tmovdqu 160(%[in]), %%xmm10\n\tmovdqu 176(%[in]), %%xmm11\n\t"
		"movdqu 192(%[in]), %%xmm12\n\tmovdqu 208(%[in]), %%xmm13\n\tmovdqu 224(%[in]), %%xmm14\n\tmovdqu 240(%[in]), %%xmm15\n\t"
		"syscall\n\t"
		"movdqu %%xmm0, 0(%[out])\n\tmovdqu %%xmm1, 16(%[out])\n\tmovdqu %%xmm2, 32(%[out])\n\tmovdqu %%xmm3, 48(%[out])\n\t"
		"movdqu %%xmm4, 64(%[out])\n\tmovdqu %%xmm5, 80(%[out])\n\tmovdqu %%xmm6, 96(%[out])\n\tmovdqu %%xmm7, 112(%[out])\n\t"
		"movdqu %%xmm8, 128(%[out])\n\tmovdqu %%xmm9, 144(%[out])\n\tmovdqu %%xmm10, 160(%[out])\n\tmovdqu %%xmm11, 176(%[out])\n\t"
		"movdqu %%xmm12, 192(%[out])\n\tmovdqu %%xmm13, 208(%[out])\n\tmovdqu %%xmm14, 224(%[out])\n\tmovdqu %%xmm15, 240(%[out])\n\t"
		: "+a"(sys), "+D"(a1), "+S"(a2)
		: [in] "r"(in), [out] "r"(out)
		: "rcx", "r11", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
		  "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

static int have_avx(void)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	if (!(c & (1u << 27)) || !(c & (1u << 28)))
		return 0;
	unsigned lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (lo & 6) == 6;
}

/* avx_roundtrip: ymm0 and ymm8 upper halves across a syscall. */
static void avx_roundtrip(unsigned char in[2][32], unsigned char out[2][32], long sys, long a1, long a2)
{
	__asm__ volatile("vmovdqu 0(%[in]), %%ymm0\n\tvmovdqu 32(%[in]), %%ymm8\n\tsyscall\n\t"
			 "vmovdqu %%ymm0, 0(%[out])\n\tvmovdqu %%ymm8, 32(%[out])\n\tvzeroupper"
			 : "+a"(sys), "+D"(a1), "+S"(a2)
			 : [in] "r"(in), [out] "r"(out)
			 : "rcx", "r11", "memory", "xmm0", "xmm8");
}

static void fill(unsigned char *p, int n, int seed)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 37 + i * 11 + 5);
}

int main(int argc, char **argv)
{
	proc_init();
	scratch(argc, argv);
	set_handler(SIGUSR1, clobber_handler, 0);
	pid_t me = getpid();
	unsigned char in[16][16], out[16][16];

	fill(&in[0][0], sizeof in, 1);
	memset(out, 0, sizeof out);
	sse_roundtrip(in, out, SYS_kill, me, SIGUSR1);
	check(handled == 1, "handler ran during the syscall");
	int bad = 0;
	for (int r = 0; r < 16; r++)
		bad += memcmp(in[r], out[r], 16) != 0;
	check(bad == 0, "xmm0-xmm15 intact after a handler that clobbered them (%d differ)", bad);

	/* MXCSR and x87 control word set in main survive the handler's changes. */
	unsigned int mx = 0x1f80 | (1u << 13), mx2 = 0; /* round down */
	__asm__ volatile("ldmxcsr %0" ::"m"(mx));
	unsigned short cw = 0x037f | (1u << 10), cw2 = 0;
	__asm__ volatile("fldcw %0" ::"m"(cw));
	raise(SIGUSR1);
	__asm__ volatile("stmxcsr %0" : "=m"(mx2));
	__asm__ volatile("fnstcw %0" : "=m"(cw2));
	check(mx2 == mx, "MXCSR restored after the handler");
	check(cw2 == cw, "x87 control word restored after the handler");
	volatile double one = 1.0, three = 3.0;
	volatile double qdown = one / three;
	mx = 0x1f80 | (2u << 13); /* round up */
	__asm__ volatile("ldmxcsr %0" ::"m"(mx));
	volatile double qup = one / three;
	mx = 0x1f80;
	__asm__ volatile("ldmxcsr %0" ::"m"(mx));
	check(qdown < qup, "division still rounded down in main after the handler");
	cw = 0x037f;
	__asm__ volatile("fldcw %0" ::"m"(cw));
	printf("handler result %.6f\n", hres);

	/* Many signals interleaved with double computations. */
	double acc = 0;
	for (int i = 1; i <= 2000; i++) {
		acc += (double)i * 1.0000001 / (i + 0.5);
		if (i % 100 == 0)
			raise(SIGUSR1);
	}
	printf("accumulated %.9f over 20 handlers\n", acc);

	/* A child's vector work does not disturb the parent's registers: the
	 * round trip's syscall is a wait4 for a child that computes. */
	fill(&in[0][0], sizeof in, 2);
	memset(out, 0, sizeof out);
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		unsigned char ci[16][16], co[16][16];
		fill(&ci[0][0], sizeof ci, 3);
		volatile double d = 0;
		for (int i = 0; i < 100000; i++)
			d += (double)i * 0.5;
		sse_roundtrip(ci, co, SYS_getpid, 0, 0);
		_exit(memcmp(ci, co, sizeof ci) == 0 && d > 0 ? 0 : 1);
	}
	sse_roundtrip(in, out, SYS_wait4, p, 0);
	bad = 0;
	for (int r = 0; r < 16; r++)
		bad += memcmp(in[r], out[r], 16) != 0;
	check(bad == 0, "xmm0-xmm15 intact across wait4 while a child computed (%d differ)", bad);

	/* Same across a blocking pipe read that the child satisfies. */
	int fds[2];
	expect_ok(pipe(fds), "pipe");
	fflush(stdout);
	p = fork();
	if (p == 0) {
		unsigned char ci[16][16], co[16][16];
		fill(&ci[0][0], sizeof ci, 4);
		sse_roundtrip(ci, co, SYS_getppid, 0, 0);
		sleep_ms(30);
		_exit(write(fds[1], "x", 1) == 1 && memcmp(ci, co, sizeof ci) == 0 ? 0 : 1);
	}
	char c;
	fill(&in[0][0], sizeof in, 5);
	sse_roundtrip(in, out, SYS_read, fds[0], (long)&c);
	bad = 0;
	for (int r = 0; r < 16; r++)
		bad += memcmp(in[r], out[r], 16) != 0;
	check(bad == 0, "xmm0-xmm15 intact across a blocking read (%d differ)", bad);
	expect_status(p, "exit 0", "child's own xmm state intact");

	/* AVX: upper halves of ymm across a handler and across a process switch. */
	if (have_avx()) {
		unsigned char ai[2][32], ao[2][32];
		fill(&ai[0][0], sizeof ai, 6);
		memset(ao, 0, sizeof ao);
		avx_roundtrip(ai, ao, SYS_kill, me, SIGUSR1);
		check(memcmp(ai, ao, sizeof ai) == 0, "avx: ymm0/ymm8 intact after a handler");
		fflush(stdout);
		p = fork();
		if (p == 0) {
			unsigned char ci[2][32], co[2][32];
			fill(&ci[0][0], sizeof ci, 7);
			avx_roundtrip(ci, co, SYS_getpid, 0, 0);
			_exit(memcmp(ci, co, sizeof ci) == 0 ? 0 : 1);
		}
		fill(&ai[0][0], sizeof ai, 8);
		avx_roundtrip(ai, ao, SYS_wait4, p, 0);
		check(memcmp(ai, ao, sizeof ai) == 0, "avx: ymm0/ymm8 intact across wait4 for a child using ymm");
		printf("avx checked\n");
	} else {
		printf("avx not available\n");
	}
	return finish();
}
