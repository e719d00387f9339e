/* The data page (vvar) elfuse keeps one page below the vDSO image. */
#ifndef ELFUSE_VDSO_H
#define ELFUSE_VDSO_H
struct vvar {
	volatile unsigned int seq;   /* odd while the host updates */
	unsigned int valid;          /* 0: use the system call */
	unsigned long tsc_base;      /* guest TSC at the base instant */
	unsigned long mult;          /* ns = (tsc - tsc_base) * mult >> 32 */
	long real_base;              /* CLOCK_REALTIME at the base, ns */
	long mono_base;              /* CLOCK_MONOTONIC at the base, ns */
	long boot_base;              /* CLOCK_BOOTTIME at the base, ns */
};
#endif
