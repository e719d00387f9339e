//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/elfuse/elfuse/arch/amd64"
	"github.com/elfuse/elfuse/hv"
	"github.com/elfuse/elfuse/mm"
)

// These tests drive the page-table shootdown without a VM: a thread is
// "in the guest" while its inGuest flag is set, on the root it loaded, as
// the vCPU loop announces it. They need no /dev/kvm.

type shootdownRig struct {
	sb     *Sandbox
	phys   *mm.Phys
	kernel *mm.Kernel
}

func newShootdownRig(t *testing.T) *shootdownRig {
	t.Helper()
	phys, err := mm.NewPhys(1<<30, 256<<20, func(uint64, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phys.Close() })
	k, err := mm.NewKernel(phys)
	if err != nil {
		t.Fatal(err)
	}
	sb := &Sandbox{phys: phys, kernel: k, procs: map[int]*Process{}, tids: map[int]*Thread{}}
	return &shootdownRig{sb: sb, phys: phys, kernel: k}
}

func (r *shootdownRig) process(pid int, as *mm.AddressSpace) *Process {
	p := &Process{sb: r.sb, pid: pid, as: as, asOwned: true, threads: map[int]*Thread{}}
	r.sb.procs[pid] = p
	return p
}

func (r *shootdownRig) thread(p *Process, tid int) *Thread {
	th := &Thread{sb: r.sb, proc: p, tid: tid, slot: -1, sregs: &hv.AMD64SRegs{}}
	th.loaded.Store(p.as.Root())
	p.threads[tid] = th
	r.sb.tids[tid] = th
	return th
}

// kernelEntry is the root's PML4 entry of the kernel area (stub, IDT,
// GDT/TSS): a vCPU whose root lost it triple-faults at its next syscall.
func (r *shootdownRig) kernelEntry(root uint64) uint64 {
	return binary.LittleEndian.Uint64(r.phys.Bytes(root+amd64.KernelPML4*8, 8))
}

// A vfork child (CLONE_VM without CLONE_THREAD) is a process of its own
// running on its parent's address space: a thread of the parent that
// takes translations away must wait until the child's vCPU has left the
// old tables before they are freed, and the other way round.
func TestShootdownWaitsForCLONEVMChild(t *testing.T) {
	for _, changer := range []string{"parent", "child"} {
		t.Run(changer+" changes the mappings", func(t *testing.T) {
			r := newShootdownRig(t)
			as, err := mm.NewAddressSpace(r.phys, r.kernel)
			if err != nil {
				t.Fatal(err)
			}
			if err := as.Map(mm.VMA{Start: 0x400000, End: 0x400000 + 16*mm.PageSize, Prot: mm.ProtRead | mm.ProtWrite}); err != nil {
				t.Fatal(err)
			}
			old, _ := as.Commit() // the guest has run on these tables
			parent := r.process(1, as)
			child := r.process(2, as.Share())
			pt := r.thread(parent, 1)
			ct := r.thread(child, 2)
			mover, other := pt, ct
			if changer == "child" {
				mover, other = ct, pt
			}
			// other is in the guest on the old tables; mover unmaps a
			// page, which replaces the root.
			other.inGuest.Store(true)
			as.Unmap(0x400000, 0x400000+mm.PageSize)
			if as.Root() == old {
				t.Fatal("unmap of a page the guest ran on kept the root")
			}
			done := make(chan struct{})
			go func() { r.sb.shootdown(mover); close(done) }()
			select {
			case <-done:
				t.Fatalf("shootdown returned while the other process's vCPU was in the guest on the old root; its frame now has %d references", r.phys.Refs(old))
			case <-time.After(100 * time.Millisecond):
			}
			if r.phys.Refs(old) == 0 {
				t.Fatal("the old root was freed under a vCPU running on it")
			}
			// The other vCPU leaves the guest (a kick): the shootdown ends
			// and frees the old tables.
			other.inGuest.Store(false)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("shootdown still waits after the other vCPU left the guest")
			}
			if n := r.phys.Refs(old); n != 0 {
				t.Fatalf("old root not freed after the shootdown: %d references", n)
			}
		})
	}
}

// TestShootdownStress runs fake vCPUs of a multithreaded process and of a
// vfork child of it on one address space while the process's threads map,
// protect and unmap memory, as the Go toolchain's go command does while it
// starts compilers: no vCPU may ever be in the guest on a root whose
// frame was freed (the kernel-area entry it needs for every syscall and
// exception then reads as whatever the frame holds now).
func TestShootdownStress(t *testing.T) {
	r := newShootdownRig(t)
	as, err := mm.NewAddressSpace(r.phys, r.kernel)
	if err != nil {
		t.Fatal(err)
	}
	want := r.kernelEntry(as.Root())
	parent := r.process(1, as)
	child := r.process(2, as.Share())
	var threads []*Thread
	for i := 1; i <= 3; i++ {
		threads = append(threads, r.thread(parent, i))
	}
	threads = append(threads, r.thread(child, 4))

	var stop atomic.Bool
	var errMu sync.Mutex
	var firstErr error
	fail := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
		stop.Store(true)
	}
	// runGuest is one stay in the guest: the loop's entry protocol, then
	// "guest code" that needs the kernel area of the root it runs on.
	runGuest := func(th *Thread) {
		th.inGuest.Store(true)
		if a := th.proc.as; a.Root() != th.loaded.Load() || a.Pending() {
			r.sb.shootdown(th)
		}
		root := th.loaded.Load()
		for k := 0; k < 50; k++ {
			if e := r.kernelEntry(root); e != want || r.phys.Refs(root) == 0 {
				fail(fmt.Errorf("thread %d (pid %d) in the guest on root %#x: kernel entry %#x (want %#x), %d references",
					th.tid, th.proc.pid, root, e, want, r.phys.Refs(root)))
				break
			}
			runtime.Gosched()
		}
		th.inGuest.Store(false)
	}
	var wg sync.WaitGroup
	for i, th := range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := uint64(0x1000_0000) + uint64(i)<<24
			for n := 0; !stop.Load() && n < 400; n++ {
				runGuest(th)
				if th.proc == child {
					continue // the vfork child only makes calls that change nothing
				}
				// A system call that changes the mappings.
				size := uint64(16 * mm.PageSize)
				switch n % 4 {
				case 0:
					if err := as.Map(mm.VMA{Start: base, End: base + size, Prot: mm.ProtRead | mm.ProtWrite}); err != nil {
						fail(err)
					}
				case 1:
					if err := as.Write(base, []byte("touch")); err != nil {
						fail(err)
					}
				case 2:
					if err := as.Protect(base, base+size/2, mm.ProtRead); err != nil {
						fail(err)
					}
				case 3:
					as.Unmap(base, base+size)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}
