/*
 * The ring-0 guest stub elfuse maps into every amd64 address space.
 * It is assembled by stubgen (go generate) into zstub.go; edit this file,
 * never the generated one.
 *
 * Every entry leaves the VM at once with a port write; the host reads the
 * state through KVM's sync registers and returns the guest to user mode
 * itself, so no ring-0 instruction runs after the exit on hosts that emulate
 * ring 0. The `hlt` after each exit is never reached unless the host resumes
 * the stub by mistake, which then shows as a halt exit.
 *
 * Ports: 0x80 is the system call; 0x20+v is exception vector v.
 */
	.text
	.code64

	.globl syscall_entry
syscall_entry:
	outb %al, $0x80
	hlt

/* Where ring 0 runs natively (hardware KVM), the stub may return itself. */
	.globl syscall_entry_sysret
syscall_entry_sysret:
	outb %al, $0x80
	sysretq

/*
 * enter_user: the host puts an iretq frame (RIP, CS, RFLAGS, RSP, SS) at RSP
 * and starts the vCPU here to reach user mode the architectural way, which
 * is how a vCPU first enters user mode.
 */
	.globl enter_user
enter_user:
	iretq

	.macro exc v
	.globl exc_\v
exc_\v:
	outb %al, $(0x20 + \v)
	hlt
	.endm

	exc 0
	exc 1
	exc 2
	exc 3
	exc 4
	exc 5
	exc 6
	exc 7
	exc 8
	exc 9
	exc 10
	exc 11
	exc 12
	exc 13
	exc 14
	exc 15
	exc 16
	exc 17
	exc 18
	exc 19
	exc 20
	exc 21
	exc 22
	exc 23
	exc 24
	exc 25
	exc 26
	exc 27
	exc 28
	exc 29
	exc 30
	exc 31
