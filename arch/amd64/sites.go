package amd64

import "encoding/binary"

// Call sites of the exitless path: the instruction bytes before a
// `syscall` that elfuse rewrites into a `jmp` to a thunk, and the thunk.
// A thunk is ThunkSize bytes:
//
//	<the replaced instruction(s), or their translation>
//	movabs $return, %rcx      (xl_thunk_tail in stub.S)
//	movabs $xl_entry, %r11
//	jmp *%r11

// ThunkSize is the size of a thunk slot.
const ThunkSize = 32

// SiteForm is a call site form elfuse patches: the bytes that end at the
// return address, which of them the `jmp` replaces and what the thunk runs
// in their place.
type SiteForm struct {
	Name string
	// tail are the bytes that end at the return address; -1 matches any
	// byte (an immediate or a displacement).
	tail []int
	// at is the distance from the replaced bytes' start to the return
	// address; insnLen how many of them the thunk runs (or translates).
	at, insnLen int
	// immAt: the 32-bit immediate at tail[immAt:] must equal the call
	// number (-1: no immediate).
	immAt int
	// plain: the replaced instruction must not be the tail of another
	// (plainBefore).
	plain bool
	// thunkInsn, when set, makes the thunk's first instruction(s) from the
	// replaced bytes (at p; the thunk at thunk) instead of copying them.
	thunkInsn func(replaced []byte, p, thunk uint64) []byte
}

var siteForms = []SiteForm{
	// glibc and musl: mov $N, %eax; syscall. Only the mov is replaced: a
	// jump to the `syscall` still finds it.
	{Name: "mov-eax", tail: []int{0xb8, -1, -1, -1, -1, 0x0f, 0x05}, at: 7, insnLen: 5, immAt: 1, plain: true},
	// Go's runtime: MOVQ $N, AX (mov $N, %rax); SYSCALL.
	{Name: "mov-rax", tail: []int{0x48, 0xc7, 0xc0, -1, -1, -1, -1, 0x0f, 0x05}, at: 9, insnLen: 7, immAt: 3},
	// glibc's syscall(): ... mov %r9, %r8; mov 0x8(%rsp), %r9; syscall.
	{Name: "glibc-syscall", tail: []int{0x4d, 0x89, 0xc8, 0x4c, 0x8b, 0x4c, 0x24, 0x08, 0x0f, 0x05}, at: 7, insnLen: 5, immAt: -1},
	// glibc's read (number 0 is xor %eax, %eax, two bytes): cmpb $0,
	// __libc_single_threaded(%rip); je multi; xor %eax, %eax; syscall. The
	// jmp replaces the je, the xor and the syscall (nothing else jumps to
	// them); the thunk does the je with a 32-bit displacement.
	{Name: "glibc-read", tail: []int{0x80, 0x3d, -1, -1, -1, -1, 0x00, 0x74, -1, 0x31, 0xc0, 0x0f, 0x05}, at: 6, insnLen: 4, immAt: -1,
		thunkInsn: func(b []byte, p, thunk uint64) []byte {
			target := p + 2 + uint64(int64(int8(b[1])))
			return append(rel32(0x0f, 0x84, thunk, target), 0x31, 0xc0)
		}},
	// Go's internal/runtime/syscall/linux.Syscall6 (hand-written, straight
	// line: nothing jumps to its SYSCALL): the last mov and the SYSCALL.
	{Name: "go-syscall6", tail: []int{0x49, 0x89, 0xf2, 0x48, 0x89, 0xfa, 0x48, 0x89, 0xce, 0x48, 0x89, 0xdf, 0x0f, 0x05}, at: 5, insnLen: 3, immAt: -1},
}

// MatchSite finds the form of the call site for call nr whose bytes end
// with code (code's last byte is just before the return address). It
// returns the form and the offset into code of the bytes to replace.
func MatchSite(code []byte, nr uint64) (*SiteForm, int, bool) {
	for i := range siteForms {
		f := &siteForms[i]
		start := len(code) - len(f.tail)
		if start < 0 {
			continue
		}
		ok := true
		for j, b := range f.tail {
			if b >= 0 && code[start+j] != byte(b) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		if f.immAt >= 0 && uint64(binary.LittleEndian.Uint32(code[start+f.immAt:])) != nr {
			continue
		}
		at := len(code) - f.at
		if f.plain && !plainBefore(code[:at]) {
			continue
		}
		return f, at, true
	}
	return nil, 0, false
}

// plainBefore reports whether the bytes before a `mov $N, %eax` (b8)
// cannot make it part of another instruction: no prefix or REX byte right
// before it, and no instruction with a ModRM operand and a 32-bit
// immediate (mov, the arithmetic group, imul, test) whose 8-bit
// displacement the b8 would be, with the immediate in N's place.
func plainBefore(before []byte) bool {
	n := len(before)
	if n < 3 {
		return false
	}
	p, q, q2 := before[n-1], before[n-2], before[n-3]
	switch p {
	case 0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65:
		return false
	}
	if p >= 0x40 && p <= 0x4f { // REX
		return false
	}
	immOp := func(b byte) bool { return b == 0xc7 || b == 0x81 || b == 0x69 || b == 0xf7 }
	if p&0xc0 == 0x40 && p&7 != 4 && immOp(q) { // ModRM with disp8: the b8
		return false
	}
	if q&0xc0 == 0x40 && q&7 == 4 && immOp(q2) { // ModRM, SIB, then the b8
		return false
	}
	return true
}

// Thunk is the thunk at address thunk for a site of form f whose replaced
// bytes (at p) are replaced, returning to ret.
func (f *SiteForm) Thunk(replaced []byte, p, thunk, ret uint64) []byte {
	insn := replaced[:f.insnLen]
	if f.thunkInsn != nil {
		insn = f.thunkInsn(insn, p, thunk)
	}
	tail := stubCode[symXlThunkTail:symXlThunkEnd]
	b := append(append(make([]byte, 0, ThunkSize), insn...), tail...)
	t := b[len(insn):]
	binary.LittleEndian.PutUint64(t[2:], ret) // after movabs's REX.W and opcode
	binary.LittleEndian.PutUint64(t[symXlThunkEntry-symXlThunkTail+2:], XLEntryVA())
	return b
}

// Jmp is what replaces a site of form f at p: a jmp to thunk, and int3
// over what is left of a `syscall` it took the place of (ret: the return
// address).
func (f *SiteForm) Jmp(p, thunk, ret uint64) []byte {
	b := rel32(0xe9, 0, p, thunk)
	for p+uint64(len(b)) > ret-2 && p+uint64(len(b)) < ret {
		b = append(b, 0xcc)
	}
	return b
}

// rel32 encodes a branch at from to to with a 32-bit displacement: the
// opcode (one byte, or two when op2 is not 0) and the displacement.
func rel32(op, op2 byte, from, to uint64) []byte {
	b := []byte{op}
	if op2 != 0 {
		b = append(b, op2)
	}
	end := from + uint64(len(b)) + 4
	return binary.LittleEndian.AppendUint32(b, uint32(int32(int64(to)-int64(end))))
}
