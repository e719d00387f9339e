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
 * Ports: 0x80 is the system call; 0x81 the same call from the exitless path
 * when no server is awake (the host wakes one), 0x82 when no server took it
 * in time, 0x83 when a server runs it for long (the host waits for it
 * without burning a CPU); 0x20+v is exception vector v.
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

/*
 * Exitless system calls (user mode). A patched call site jumps to its
 * thunk, which does what the site's instruction did, puts the return
 * address (after the `syscall`) in %rcx and jumps here. This posts the call
 * in the thread's mailbox (at %gs) and waits in user mode until a host
 * server thread has run it; it leaves the registers as `syscall` would:
 * %rax the result, %rcx the return address, %r11 the flags, the rest kept.
 * Anything unusual takes the exit path with the call's registers intact.
 * The host knows every label below: a vCPU stopped anywhere in this code
 * is settled from them (hv-independent offsets in zstub.go).
 *
 * The layout below (mailbox fields, states, the status block) is exported
 * as absolute symbols; arch/amd64/exitless.go fails to compile when its
 * constants differ from them.
 */
	.macro const name, value
	.globl \name
	.set \name, \value
	.endm

	/* The mailbox, the page at %gs. */
	const xl_mb_magic, 0
	const xl_mb_state, 8
	const xl_mb_nr, 16
	const xl_mb_ret, 24
	const xl_mb_flags, 32
	const xl_mb_result, 40
	const xl_mb_args, 48
	const xl_magic_lo, 0x6c667565
	const xl_magic_hi, 0x786c7365
	/* Its states. */
	const xl_idle, 0
	const xl_posted_state, 1
	const xl_taken, 2
	const xl_done_state, 3
	const xl_held, 4
	const xl_retry, 5
	/* The status block (read-only to the guest): servers awake, spin
	 * count, bitmap of the calls a server may run, spin count once a
	 * server has taken the call. */
	const xl_status, (0xffff888000001000+0x1000-0x80)
	const xl_st_awake, 0
	const xl_st_spins, 4
	const xl_st_bitmap, 8
	const xl_max_nr, 512
	const xl_st_tspins, 72

	.globl xl_entry
xl_entry:
	lea -128(%rsp), %rsp		/* step over the red zone */
	.globl xl_p1
xl_p1:
	pushfq
	.globl xl_p2
xl_p2:
	pop %r11
	.globl xl_p3
xl_p3:
	lea 128(%rsp), %rsp
	.globl xl_check
xl_check:				/* %r11: flags. A bad %gs faults here. */
	cmpl $xl_magic_lo, %gs:xl_mb_magic
	jne xl_exit_out
	cmpl $xl_magic_hi, %gs:xl_mb_magic+4
	jne xl_exit_out
	mov %r11, %gs:xl_mb_flags
	mov %rax, %gs:xl_mb_nr
	mov %rcx, %gs:xl_mb_ret
	.globl xl_saved
xl_saved:				/* %rcx, %r11 free: the mailbox has them */
	mov %rdi, %gs:xl_mb_args
	mov %rsi, %gs:xl_mb_args+8
	mov %rdx, %gs:xl_mb_args+16
	mov %r10, %gs:xl_mb_args+24
	mov %r8, %gs:xl_mb_args+32
	mov %r9, %gs:xl_mb_args+40
	movabs $xl_status, %r11
	cmp $xl_max_nr, %rax
	jae xl_restore_exit
	bt %rax, xl_st_bitmap(%r11)
	jnc xl_restore_exit
	cmpl $0, xl_st_awake(%r11)
	je xl_restore_wake
	movl xl_st_spins(%r11), %ecx
	movl $xl_posted_state, %gs:xl_mb_state
	.globl xl_posted
xl_posted:
	pause
	movl %gs:xl_mb_state, %eax
	cmp $xl_done_state, %eax
	je xl_done
	cmp $xl_posted_state, %eax
	jne 1f
	dec %ecx
	jnz xl_posted
	mov $xl_posted_state, %eax		/* no server took it in time: withdraw */
	mov $xl_idle, %r11d
	lock cmpxchg %r11d, %gs:xl_mb_state
	jne xl_posted
	jmp xl_restore_late
1:	cmp $xl_retry, %eax
	je 2f
	/* Taken (or held): a server is running the call, which an exit
	 * would only wait for too; wait xl_st_tspins pauses (the count with
	 * bit 31 set), then let the host wait. */
	test %ecx, %ecx
	js 3f
	movabs $xl_status, %r11		/* clobbered by a failed withdrawal */
	movl xl_st_tspins(%r11), %ecx
	or $0x80000000, %ecx
3:	dec %ecx
	cmp $0x80000000, %ecx
	jne xl_posted
	.globl xl_park_out
xl_park_out:
	outb %al, $0x83
	jmp xl_posted			/* not reached: the host completes the call */
2:	movl $xl_idle, %gs:xl_mb_state
	jmp xl_restore_exit
	.globl xl_done
xl_done:
	movl $xl_idle, %gs:xl_mb_state
	mov %gs:xl_mb_result, %rax
	.globl xl_epilogue
xl_epilogue:
	mov %gs:xl_mb_flags, %r11
	mov %gs:xl_mb_ret, %rcx
	lea -128(%rsp), %rsp
	.globl xl_e1
xl_e1:
	push %r11
	.globl xl_e2
xl_e2:
	popfq
	.globl xl_e3
xl_e3:
	lea 128(%rsp), %rsp
	.globl xl_e4
xl_e4:
	jmp *%rcx
/* The exits with the call's registers back from the mailbox. */
	.macro xl_restore name, port
	.globl xl_restore_\name
xl_restore_\name:
	mov %gs:xl_mb_nr, %rax
	mov %gs:xl_mb_ret, %rcx
	mov %gs:xl_mb_flags, %r11
	.globl xl_\name\()_out
xl_\name\()_out:
	outb %al, $\port
	hlt
	.endm

	xl_restore wake, 0x81
	xl_restore late, 0x82
	xl_restore exit, 0x80
	.globl xl_end
xl_end:

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

/*
 * The tail of every call site's thunk (never run here: syscall/exitless.go
 * copies it after the site's replaced instruction and fills in the return
 * address and xl_entry's address).
 */
	.globl xl_thunk_tail
xl_thunk_tail:
	movabs $0, %rcx
	.globl xl_thunk_entry
xl_thunk_entry:
	movabs $0, %r11
	jmp *%r11
	.globl xl_thunk_end
xl_thunk_end:
