//go:build linux && amd64

package kvm

import (
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/elfuse/elfuse/arch/amd64"
	"github.com/elfuse/elfuse/hv"
	"golang.org/x/sys/unix"
)

// testGuest is a bare amd64 guest with hand-built page tables: enough to run
// user code that makes system calls into the stub.
type testGuest struct {
	mem        []byte
	next       uint64 // next free physical page
	pml4       uint64
	cpuPage    uint64
	cr3Changed bool
	vm         *VM
	cpu        *VCPU
}

const testMem = 64 << 20

func newTestGuest(t testing.TB) *testGuest {
	t.Helper()
	sys, err := Open()
	if err != nil {
		if errors.Is(err, hv.ErrUnavailable) {
			t.Skipf("no usable KVM: %v", err)
		}
		t.Fatal(err)
	}
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	mem, err := unix.Mmap(-1, 0, testMem, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		t.Fatal(err)
	}
	g := &testGuest{mem: mem, next: 0x1000}
	vm, err := sys.NewVM()
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.MapMemory(0, mem); err != nil {
		t.Fatal(err)
	}
	g.vm = vm
	g.pml4 = g.page()
	g.mapPage(g.pml4, amd64.StubVA, g.pageWith(amd64.StubPage()), false)
	g.mapPage(g.pml4, amd64.IDTVA, g.pageWith(amd64.IDTPage()), false)
	g.cpuPage = g.pageWith(amd64.CPUPage(amd64.CPUAreaVAOf(0)))
	g.mapPage(g.pml4, amd64.CPUAreaVAOf(0), g.cpuPage, true)
	cpu, err := vm.NewAMD64VCPU()
	if err != nil {
		t.Fatal(err)
	}
	g.cpu = cpu
	if err := cpu.SetMSRs(amd64.SyscallMSRs(false)); err != nil {
		t.Fatal(err)
	}
	amd64.InitSRegs(cpu.SRegs(), g.pml4, 0)
	if err := cpu.EnableXSAVE(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cpu.Close(); vm.Close(); unix.Munmap(mem) })
	return g
}

func (g *testGuest) page() uint64 {
	p := g.next
	g.next += 0x1000
	return p
}

func (g *testGuest) pageWith(b []byte) uint64 {
	p := g.page()
	copy(g.mem[p:p+0x1000], b)
	return p
}

func (g *testGuest) pte(pa uint64, i int) []byte { return g.mem[pa+uint64(i)*8:] }

// walk returns the physical address of va's level-1 entry, making tables.
func (g *testGuest) walk(root, va uint64) uint64 {
	t := root
	for level := 4; level > 1; level-- {
		e := g.pte(t, amd64.PTEIndex(va, level))
		v := binary.LittleEndian.Uint64(e)
		if v&amd64.PTEPresent == 0 {
			v = g.page() | amd64.PTEPresent | amd64.PTEWrite | amd64.PTEUser | amd64.PTEAccessed
			binary.LittleEndian.PutUint64(e, v)
		}
		t = v & amd64.PTEAddrMask
	}
	return t + uint64(amd64.PTEIndex(va, 1))*8
}

func (g *testGuest) mapPage(root, va, pa uint64, write bool) {
	v := pa | amd64.PTEPresent | amd64.PTEUser | amd64.PTEAccessed | amd64.PTEDirty
	if write {
		v |= amd64.PTEWrite
	}
	binary.LittleEndian.PutUint64(g.mem[g.walk(root, va):], v)
}

// start points the vCPU at user code.
func (g *testGuest) start(code []byte, rsp uint64) {
	const codeVA = 0x400000
	g.mapPage(g.pml4, codeVA, g.pageWith(code), false)
	r := g.cpu.Regs()
	*r = hv.AMD64Regs{RIP: codeVA, RSP: rsp, RFLAGS: amd64.UserFlags(0)}
	g.cpu.SetDirty(true, true)
}

// syscall runs until the next system call exit and returns its RDI.
func (g *testGuest) syscall(t testing.TB) (rdi uint64) {
	for {
		ex, err := g.cpu.Run()
		if err != nil {
			t.Fatal(err)
		}
		if ex.Kind == hv.ExitInterrupted {
			continue
		}
		if ex.Kind != hv.ExitIO || ex.Port != amd64.PortSyscall {
			r := g.cpu.Regs()
			sp := r.RSP - amd64.CPUAreaVAOf(0) + g.cpuPage
			var fr [6]uint64
			for i := range fr {
				if sp+uint64(i)*8+8 <= g.cpuPage+0x1000 {
					fr[i] = binary.LittleEndian.Uint64(g.mem[sp+uint64(i)*8:])
				}
			}
			t.Fatalf("unexpected exit %v at rip %#x rsp %#x cr2 %#x frame %#x", ex, r.RIP, r.RSP, g.cpu.SRegs().CR2, fr)
		}
		return g.cpu.Regs().RDI
	}
}

func (g *testGuest) resume(rax uint64) {
	r, s := g.cpu.Regs(), g.cpu.SRegs()
	r.RAX = rax
	g.cpu.SetDirty(true, amd64.ReturnFromSyscall(r, s) || g.cr3Changed)
	g.cr3Changed = false
}

// loopCode: for(;;) { rdi = *(u64*)rbx; syscall; }
var loopCode = []byte{0x48, 0x8b, 0x3b, 0xb8, 0x01, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf4}

func TestSyscallRoundTrip(t *testing.T) {
	g := newTestGuest(t)
	data := g.page()
	binary.LittleEndian.PutUint64(g.mem[data:], 0x1234)
	g.mapPage(g.pml4, 0x600000, data, true)
	g.start(loopCode, 0)
	g.cpu.Regs().RBX = 0x600000
	for i := 0; i < 3; i++ {
		if got := g.syscall(t); got != 0x1234 {
			t.Fatalf("guest read %#x, want 0x1234", got)
		}
		g.resume(0)
	}
}

// TestRemapVisible checks that a host-side change of a present PTE reaches
// the guest once the vCPU is given a new page-table root. Shadow-paging KVMs
// (PVM) keep stale translations for page-table pages written by the host, so
// elfuse replaces changed table paths rather than editing them in place.
func TestRemapVisible(t *testing.T) {
	g := newTestGuest(t)
	f := g.startReader(t, 0xaaaa, 0xbbbb, 0xcccc)
	b, c := f[1], f[2]
	// In place, same root.
	g.mapPage(g.pml4, 0x600000, b, true)
	g.resume(0)
	inPlace := g.syscall(t)
	t.Logf("in-place change, same CR3: guest reads %#x (stale=%v)", inPlace, inPlace == 0xaaaa)
	// A fresh copy of the whole tree as the new root.
	root2 := g.copyTree(g.pml4, 4)
	g.mapPage(root2, 0x600000, c, true)
	g.cpu.SRegs().CR3 = root2
	g.cr3Changed = true
	g.resume(0)
	if got := g.syscall(t); got != 0xcccc {
		t.Fatalf("after new root: guest reads %#x, want 0xcccc", got)
	}
}

// TestFlushShadows checks that FlushShadows makes KVM forget what it
// cached of page tables the host edited: after an in-place change of a
// present entry and a flush, the vCPU, on the same root, reaches the new
// frame (what lets elfuse reuse frames that held page tables).
func TestFlushShadows(t *testing.T) {
	g := newTestGuest(t)
	f := g.startReader(t, 0xaaaa, 0xbbbb)
	a, b := f[0], f[1]
	for i, want := range []uint64{0xbbbb, 0xaaaa, 0xbbbb} {
		frame := b
		if want == 0xaaaa {
			frame = a
		}
		g.mapPage(g.pml4, 0x600000, frame, true)
		if err := g.vm.FlushShadows(); err != nil {
			t.Fatal(err)
		}
		g.resume(0)
		if got := g.syscall(t); got != want {
			t.Fatalf("flush %d: guest reads %#x on the same root, want %#x", i, got, want)
		}
	}
}

// startReader makes a page holding each value, maps the first at 0x600000,
// starts loopCode reading it and checks the first read; it returns the
// pages.
func (g *testGuest) startReader(t *testing.T, values ...uint64) []uint64 {
	t.Helper()
	frames := make([]uint64, len(values))
	for i, v := range values {
		frames[i] = g.page()
		binary.LittleEndian.PutUint64(g.mem[frames[i]:], v)
	}
	g.mapPage(g.pml4, 0x600000, frames[0], true)
	g.start(loopCode, 0)
	g.cpu.Regs().RBX = 0x600000
	if got := g.syscall(t); got != values[0] {
		t.Fatalf("first read %#x, want %#x", got, values[0])
	}
	return frames
}

func (g *testGuest) copyTree(t uint64, level int) uint64 {
	n := g.page()
	copy(g.mem[n:n+0x1000], g.mem[t:t+0x1000])
	if level == 1 {
		return n
	}
	for i := 0; i < 512; i++ {
		v := binary.LittleEndian.Uint64(g.pte(n, i))
		if v&amd64.PTEPresent != 0 && v&amd64.PTEHuge == 0 {
			c := g.copyTree(v&amd64.PTEAddrMask, level-1)
			binary.LittleEndian.PutUint64(g.pte(n, i), c|v&^amd64.PTEAddrMask)
		}
	}
	return n
}

// BenchmarkExitRoundTrip is the physical floor of a system call under
// elfuse: user `syscall`, the stub's port exit, and the host-side return.
func BenchmarkExitRoundTrip(b *testing.B) {
	g := newTestGuest(b)
	data := g.page()
	g.mapPage(g.pml4, 0x600000, data, true)
	g.start(loopCode, 0)
	g.cpu.Regs().RBX = 0x600000
	g.syscall(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.resume(0)
		g.syscall(b)
	}
}

// tscCode: rdtsc; rdi = rdx<<32 | rax; syscall; loop.
var tscCode = []byte{
	0x0f, 0x31, // rdtsc
	0x48, 0xc1, 0xe2, 0x20, // shl $32, %rdx
	0x48, 0x09, 0xc2, // or %rax, %rdx
	0x48, 0x89, 0xd7, // mov %rdx, %rdi
	0x0f, 0x05, // syscall
	0xeb, 0xf0, // jmp back to rdtsc
}

// TestGuestTSC checks that ReadTSC samples what the guest's rdtsc reads,
// on fresh vCPUs of fresh VMs: the vDSO's clock is calibrated with it.
func TestGuestTSC(t *testing.T) {
	for i := 0; i < 5; i++ {
		g := newTestGuest(t)
		g.start(tscCode, 0)
		for j := 0; j < 3; j++ {
			before, err := g.cpu.ReadTSC()
			if err != nil {
				t.Fatal(err)
			}
			guest := g.syscall(t)
			after, err := g.cpu.ReadTSC()
			if err != nil {
				t.Fatal(err)
			}
			if guest < before || guest > after {
				t.Fatalf("VM %d: the guest read TSC %d, outside the host's samples [%d, %d] (tscIsHost %v)",
					i, guest, before, after, g.cpu.tscIsHost)
			}
			g.resume(0)
		}
	}
}
