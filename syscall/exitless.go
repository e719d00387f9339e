//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"fmt"
	"maps"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/elfuse/elfuse/arch/amd64"
	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// Exitless system calls. Every exit costs tens of microseconds on a host
// that emulates ring 0, so the calls a program makes most are served
// without one:
//
//   - The first time a call site traps (through `syscall` and the stub),
//     elfuse looks at the instruction bytes before it. For the forms
//     compilers and libcs emit (amd64.MatchSite) it writes a thunk into a page
//     of the process's memory near the site and rewrites the site, in the
//     process's own copy of the page, into a `jmp` to the thunk. The
//     thunk does what the replaced instruction did, loads the return
//     address and jumps to the stub's xl_entry (arch/amd64/stub.S).
//   - xl_entry posts the call in the thread's mailbox, a page of the
//     address space's private slot at the thread's GS base, and waits in
//     user mode. Host server threads (xlServers) poll the mailboxes and
//     run the call with the thread's identity, as its vCPU thread would.
//   - Whatever a server must not run (a call that may block, one that
//     changes the address space or the registers, any call while a signal
//     is pending) it hands back, and the trampoline takes the exit path
//     with the call's registers intact. So does a post no server takes in
//     time, or one made while every server sleeps (which wakes one).
//   - A vCPU stopped inside the trampoline (a signal's kick, a fault) is
//     settled first (xlSettle): the call is either done or not begun, and
//     the registers are as the `syscall` instruction would leave them.
//
// The patched bytes are the process's own: a file's page cache frame or a
// page a fork child shares is never written, and the original bytes are
// kept for readers of the guest's memory (/proc/PID/mem, the GDB stub).

// xlCheck says whether a server may run this call now (the table's x
// column); nil: never.
type xlCheck func(t *Thread, a *[6]uint64) bool

func xlAlways(*Thread, *[6]uint64) bool { return true }

// xlFd: I/O on fd a[0] that cannot block: a regular file, a memory device,
// or a stream in non-blocking mode.
func xlFd(t *Thread, a *[6]uint64) bool {
	f, e := t.fd(a[0])
	if e != 0 {
		return true // the call fails at once
	}
	if !f.mayBlock() {
		return true
	}
	fl, err := unix.FcntlInt(uintptr(f.host), unix.F_GETFL, 0)
	return err == nil && fl&unix.O_NONBLOCK != 0
}

// xlFcntl: every command but the waiting locks.
func xlFcntl(t *Thread, a *[6]uint64) bool {
	switch a[1] {
	case fSetlkw, fOfdSetlkw:
		return false
	}
	return true
}

// xlFutex: wakes only (a wait stays on the exit path).
func xlFutex(t *Thread, a *[6]uint64) bool {
	switch a[1] &^ (futexPrivate | futexClockRealtime) {
	case futexWakeOpCode, futexWakeOp, futexWakeBitset:
		return true
	}
	return false
}

// xlIoctl: the queries of terminals and streams, and the fd flags.
func xlIoctl(t *Thread, a *[6]uint64) bool {
	switch uint32(a[1]) {
	case tcgets, tiocgwinsz, tiocgpgrp, fionread, fionbio, fioclex, fionclex:
		return true
	}
	return false
}

// Thunk pages: "[exitless]" pages of the process, amd64.ThunkSize slots.
const (
	thunksInPage = mm.PageSize / amd64.ThunkSize
	// thunkReach bounds the distance from a site to its thunk (rel32,
	// with room for the page).
	thunkReach = 1<<31 - 2*mm.PageSize
	thunkName  = "[exitless]"
)

// xlSpace is the exitless state of an address space (its mm Ext): the
// patched sites, their thunk pages and the mailbox slots. Processes that
// share the address space (CLONE_VM) share it.
type xlSpace struct {
	mu    sync.Mutex
	as    *mm.AddressSpace
	pages map[uint64]int    // thunk page -> slots used
	sites map[uint64]xlSite // by patched address
	tried map[uint64]uint8  // traps seen at a return address (xlTried: looked at)
	slots []bool            // mailbox slots in use
	// spare are the mailboxes of threads that ended or left, still mapped:
	// the next thread takes one instead of a page mapped anew (a thread
	// start would otherwise change the page tables twice).
	spare []*mailbox
}

// xlSite is a patched call site.
type xlSite struct {
	orig  []byte // the bytes the jmp replaced
	patch []byte // the jmp
	thunk uint64
	ret   uint64 // the return address: after the `syscall`
}

// tookSyscall reports whether the jmp at p took the `syscall`'s place.
func (s xlSite) tookSyscall(p uint64) bool { return p+uint64(len(s.patch)) > s.ret-2 }

func newXLSpace(as *mm.AddressSpace) *xlSpace {
	return &xlSpace{as: as, pages: map[uint64]int{}, sites: map[uint64]xlSite{}, tried: map[uint64]uint8{}}
}

// xlTrack gives a new address space its exitless state (exitless mode),
// before any thread runs on it.
func (sb *Sandbox) xlTrack(as *mm.AddressSpace) {
	if sb.xl != nil {
		as.Ext = newXLSpace(as)
	}
}

// xlSpaceOf is an address space's exitless state, nil in exit mode.
func xlSpaceOf(as *mm.AddressSpace) *xlSpace {
	xs, _ := as.Ext.(*xlSpace)
	return xs
}

// fork gives a fork child's address space the same patched sites: its
// pages are copies of the parent's, thunk pages included.
func (xs *xlSpace) fork(child *mm.AddressSpace) *xlSpace {
	xs.mu.Lock()
	defer xs.mu.Unlock()
	c := newXLSpace(child)
	c.pages, c.sites, c.tried = maps.Clone(xs.pages), maps.Clone(xs.sites), maps.Clone(xs.tried)
	return c
}

// original overlays the original bytes of patched sites on buf, read from
// the guest at va: what a reader of the program's memory (a debugger, a
// /proc/PID/mem) must see.
func (xs *xlSpace) original(va uint64, buf []byte) {
	xs.mu.Lock()
	defer xs.mu.Unlock()
	end := va + uint64(len(buf))
	for p, s := range xs.sites {
		for i, b := range s.orig {
			if a := p + uint64(i); a >= va && a < end {
				buf[a-va] = b
			}
		}
	}
}

// restartRIP is where a call that returns to ret starts again: the
// `syscall` before ret, or, at a patched site whose `syscall` the jmp
// replaced, the jmp, which redoes the instruction before it.
func (t *Thread) restartRIP(ret uint64) uint64 {
	if xs := xlSpaceOf(t.proc.as); xs != nil {
		xs.mu.Lock()
		defer xs.mu.Unlock()
		for p, s := range xs.sites {
			if s.ret == ret && s.tookSyscall(p) {
				return p
			}
		}
	}
	return ret - 2
}

// siteOfThunk is the patched address a thunk serves, if rip is in one.
func (xs *xlSpace) siteOfThunk(rip uint64) (uint64, bool) {
	xs.mu.Lock()
	defer xs.mu.Unlock()
	if _, ok := xs.pages[rip&^(mm.PageSize-1)]; !ok {
		return 0, false
	}
	for p, s := range xs.sites {
		if s.thunk == rip&^(amd64.ThunkSize-1) {
			return p, true
		}
	}
	return 0, false
}

// A site is patched the xlPatchAfter-th time it traps: a process that
// makes a call once or twice (most of a short program's) is not worth a
// patch, a loop is.
const (
	xlPatchAfter = 3
	xlTried      = 255
)

// patch rewrites the call site that returns to ret (call nr) to take the
// exitless path, if it has a form elfuse knows and has trapped often
// enough. alone says whether no other vCPU runs the address space (asked
// only when a site is patched).
func (xs *xlSpace) patch(nr, ret uint64, alone func() bool) (string, error) {
	xs.mu.Lock()
	defer xs.mu.Unlock()
	if xs.tried[ret] == xlTried || ret < 32 {
		return "", nil
	}
	if xs.tried[ret]++; xs.tried[ret] < xlPatchAfter {
		return "", nil
	}
	xs.tried[ret] = xlTried
	var code [24]byte
	if err := xs.as.Read(ret-uint64(len(code)), code[:]); err != nil {
		return "", nil
	}
	f, at, ok := amd64.MatchSite(code[:], nr)
	if !ok {
		return "", nil
	}
	p := ret - uint64(len(code)-at)
	thunk, err := xs.thunkNear(p)
	if err != nil {
		return "", err
	}
	if err := xs.as.Poke(thunk, f.Thunk(code[at:], p, thunk, ret)); err != nil {
		return "", fmt.Errorf("write thunk: %w", err)
	}
	jmp := f.Jmp(p, thunk, ret)
	orig, err := xs.as.Patch(p, jmp, alone())
	if err != nil {
		return "", fmt.Errorf("patch %#x: %w", p, err)
	}
	xs.pages[thunk&^(mm.PageSize-1)]++
	xs.sites[p] = xlSite{orig: orig, patch: jmp, thunk: thunk, ret: ret}
	return f.Name, nil
}

// thunkNear returns a free thunk slot within reach of a site at p, mapping
// a new thunk page below the code's mapping when none is.
func (xs *xlSpace) thunkNear(p uint64) (uint64, error) {
	for page, used := range xs.pages {
		if used < thunksInPage && dist(page, p) < thunkReach {
			return page + uint64(used)*amd64.ThunkSize, nil
		}
	}
	page, ok := xs.freePageNear(p)
	if !ok {
		return 0, fmt.Errorf("no room for a thunk page near %#x", p)
	}
	if err := xs.as.Map(mm.VMA{Start: page, End: page + mm.PageSize, Prot: mm.ProtRead | mm.ProtExec, Name: thunkName}); err != nil {
		return 0, fmt.Errorf("map thunk page: %w", err)
	}
	// int3 everywhere a slot is not written yet.
	fill := make([]byte, mm.PageSize)
	for i := range fill {
		fill[i] = 0xcc
	}
	if err := xs.as.Poke(page, fill); err != nil {
		return 0, err
	}
	xs.pages[page] = 0
	return page, nil
}

func dist(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return b - a
}

// freePageNear picks a free page for thunks close below the run of
// mappings that holds p (clear of heap and stack growth, which go up from
// the data and down from the top), or failing that the free page nearest p.
func (xs *xlSpace) freePageNear(p uint64) (uint64, bool) {
	vmas := xs.as.VMAs()
	i := 0
	for i < len(vmas) && vmas[i].End <= p {
		i++
	}
	if i < len(vmas) && vmas[i].Start <= p {
		for i > 0 && vmas[i-1].End == vmas[i].Start {
			i--
		}
		// One page of gap under the run, then the thunk page.
		if c := vmas[i].Start - 2*mm.PageSize; vmas[i].Start >= mm.UserMin+2*mm.PageSize &&
			(i == 0 || vmas[i-1].End <= c) {
			return c, dist(c, p) < thunkReach
		}
	}
	best, found := uint64(0), false
	lo := uint64(mm.UserMin)
	for j := 0; j <= len(vmas); j++ {
		hi := uint64(mm.UserLimit)
		if j < len(vmas) {
			hi = vmas[j].Start
		}
		if hi >= lo+3*mm.PageSize {
			c := min(max(p&^(mm.PageSize-1), lo+mm.PageSize), hi-2*mm.PageSize)
			if !found || dist(c, p) < dist(best, p) {
				best, found = c, true
			}
		}
		if j < len(vmas) {
			lo = vmas[j].End
		}
	}
	return best, found && dist(best, p) < thunkReach
}

// evict undoes the patches whose thunks are in [start, end): the guest is
// about to unmap, remap or change that memory. With codeGone the memory's
// contents go too: the sites in it are forgotten (other code may come).
func (xs *xlSpace) evict(start, end uint64, codeGone bool) {
	xs.mu.Lock()
	defer xs.mu.Unlock()
	if codeGone {
		for p, s := range xs.sites {
			if p < end && s.ret > start {
				delete(xs.sites, p) // its thunk slot stays used: the page may be shared
			}
		}
		for ret := range xs.tried {
			if ret > start && ret-2 < end {
				delete(xs.tried, ret)
			}
		}
	}
	for page := range xs.pages {
		if page >= end || page+mm.PageSize <= start {
			continue
		}
		for p, s := range xs.sites {
			if s.thunk&^(mm.PageSize-1) != page {
				continue
			}
			cur := make([]byte, len(s.patch))
			if xs.as.Read(p, cur) == nil && string(cur) == string(s.patch) {
				xs.as.Patch(p, s.orig, false)
			}
			delete(xs.sites, p)
		}
		delete(xs.pages, page)
	}
}

// xlEvict undoes the patches whose thunks the guest is about to unmap,
// replace or change in [start, end), and forgets the sites there when
// codeGone (an unmap or a new mapping).
func (t *Thread) xlEvict(start, end uint64, codeGone bool) {
	if xs := xlSpaceOf(t.as()); xs != nil {
		xs.evict(start, end, codeGone)
	}
}

// mailbox is a guest thread's mailbox: a page of its address space's
// private slot, at its GS base.
type mailbox struct {
	mu    sync.Mutex // held while a server runs its call; owner changes under it
	owner *Thread
	mem   []byte
	va    uint64
	slot  int
	xs    *xlSpace
}

func (mb *mailbox) state() *uint32 { return (*uint32)(unsafe.Pointer(&mb.mem[amd64.MBState])) }
func (mb *mailbox) u64(off int) uint64 {
	return binary.LittleEndian.Uint64(mb.mem[off:])
}

// newMailbox maps a mailbox for t into the address space.
func (xs *xlSpace) newMailbox(sb *Sandbox, t *Thread) (*mailbox, error) {
	xs.mu.Lock()
	if n := len(xs.spare); n > 0 {
		mb := xs.spare[n-1]
		xs.spare = xs.spare[:n-1]
		xs.mu.Unlock()
		mb.mu.Lock()
		mb.owner = t
		atomic.StoreUint32(mb.state(), amd64.MBIdle)
		mb.mu.Unlock()
		return mb, nil
	}
	slot := -1
	for i, used := range xs.slots {
		if !used {
			slot = i
			break
		}
	}
	if slot < 0 {
		if len(xs.slots) >= amd64.MaxMailboxes {
			xs.mu.Unlock()
			return nil, fmt.Errorf("no mailbox slot")
		}
		slot = len(xs.slots)
		xs.slots = append(xs.slots, false)
	}
	xs.slots[slot] = true
	xs.mu.Unlock()
	pa, err := sb.phys.Alloc(true)
	if err != nil {
		xs.freeSlot(slot)
		return nil, err
	}
	mb := &mailbox{owner: t, mem: sb.phys.Page(pa), va: amd64.MailboxBase + uint64(slot)*mm.PageSize, slot: slot, xs: xs}
	binary.LittleEndian.PutUint64(mb.mem[amd64.MBMagic:], amd64.MBMagicValue)
	if err := xs.as.MapPrivate(mb.va, pa, true); err != nil {
		sb.phys.Unref(pa)
		xs.freeSlot(slot)
		return nil, err
	}
	return mb, nil
}

func (xs *xlSpace) freeSlot(slot int) {
	xs.mu.Lock()
	xs.slots[slot] = false
	xs.mu.Unlock()
}

// hasSites reports whether the address space has patched sites: its
// threads need mailboxes.
func (xs *xlSpace) hasSites() bool {
	xs.mu.Lock()
	defer xs.mu.Unlock()
	return len(xs.sites) > 0
}

// xlPrepare runs before each call on the exit path in exitless mode: the
// thread gets its mailbox once its address space has patched sites, and
// the site of an eligible call is counted toward its patch.
func (t *Thread) xlPrepare(nr, ret uint64) {
	xs := xlSpaceOf(t.proc.as)
	if xs == nil {
		return
	}
	if !t.viaXL && nr < uint64(len(sysTable)) && sysTable[nr].xl != nil {
		t.xlPatch(xs, nr, ret)
	}
	if t.mb == nil && xs.hasSites() {
		t.xlAttach()
	}
}

// xlAttachIfPatched gives a new thread its mailbox when its address space
// already has patched sites (a fork child, a thread).
func (t *Thread) xlAttachIfPatched() {
	if t.sb.xl == nil {
		return
	}
	if xs := xlSpaceOf(t.proc.as); xs != nil && xs.hasSites() {
		t.xlAttach()
	}
}

// xlAttach gives t a mailbox in its address space (exitless mode).
func (t *Thread) xlAttach() {
	s := t.sb.xl
	if s == nil {
		return
	}
	xs := xlSpaceOf(t.proc.as)
	if xs == nil {
		return
	}
	t.xlDetach()
	mb, err := xs.newMailbox(t.sb, t)
	if err != nil {
		t.sb.log.Debug("no exitless mailbox", "tid", t.tid, "err", err)
		return
	}
	t.mb = mb
	s.add(mb)
	t.applyGS()
}

// xlDetach takes t's mailbox away; after it no server runs a call for t.
func (t *Thread) xlDetach() {
	mb := t.mb
	if mb == nil {
		return
	}
	t.mb = nil
	t.sb.xl.remove(mb)
	mb.mu.Lock()
	mb.owner = nil
	mb.mu.Unlock()
	// Kept mapped for the address space's next thread; it goes with the
	// address space.
	mb.xs.mu.Lock()
	mb.xs.spare = append(mb.xs.spare, mb)
	mb.xs.mu.Unlock()
	t.applyGS()
}

// applyGS loads the GS base: the guest's own if it set one, else the
// mailbox's.
func (t *Thread) applyGS() {
	gs := t.guestGS
	if gs == 0 && t.mb != nil {
		gs = t.mb.va
	}
	if t.sregs != nil && t.sregs.GS.Base != gs {
		t.sregs.GS.Base = gs
		t.sregsDirty = true
	}
}

// xlPatch counts a trap at the site that returns to ret toward its patch.
func (t *Thread) xlPatch(xs *xlSpace, nr, ret uint64) {
	form, err := xs.patch(nr, ret, t.aloneOnAS)
	if err != nil {
		t.sb.log.Debug("exitless patch", "pid", t.proc.pid, "ret", fmt.Sprintf("%#x", ret), "err", err)
	} else if form != "" {
		atomic.AddUint64(&t.sb.stats.Patched, 1)
		if t.sb.cfg.Trace {
			t.sb.traceMu.Lock()
			fmt.Fprintf(t.sb.cfg.TraceOut, "[%d] exitless: patched a %s call site returning to %#x\n", t.tid, form, ret)
			t.sb.traceMu.Unlock()
		}
	}
}

// aloneOnAS reports whether t is the only thread that runs its address
// space.
func (t *Thread) aloneOnAS() bool {
	sb, as := t.sb, t.proc.as
	sb.mu.Lock()
	defer sb.mu.Unlock()
	for _, th := range sb.tids {
		if th != t && th.proc.as == as {
			return false
		}
	}
	return true
}

// xlSettle brings a thread the host stopped inside the exitless path
// (a kick, a fault) to a state the rest of elfuse knows: its call either
// done or not begun, as the `syscall` instruction would leave them. A call
// not begun is run now the exit way, unless the thread is ending.
func (t *Thread) xlSettle() {
	r := t.regs
	region, fix, r11 := amd64.XLClassify(r.RIP)
	mb := t.mb
	switch {
	case region == amd64.XLNone:
		if xs := xlSpaceOf(t.proc.as); xs != nil {
			if p, ok := xs.siteOfThunk(r.RIP); ok {
				r.RIP = p // the thunk redoes the replaced instruction
			}
		}
		return
	case region == amd64.XLBefore:
		r.RSP += fix
		if !r11 {
			r.R11 = r.RFLAGS
		}
		t.xlExitPath()
		return
	case mb == nil:
		t.sb.log.Error("thread stopped in the exitless path without a mailbox", "tid", t.tid)
		t.killed.Store(true)
		return
	case region == amd64.XLSaved:
		amd64.XLRegs(r, mb.mem)
		t.xlExitPath()
		return
	case region == amd64.XLComplete:
		r.RSP += fix
		t.xlComplete(mb)
		return
	}
	// Waiting: take the call back, or wait for the server that runs it.
	st := mb.state()
	for {
		switch atomic.LoadUint32(st) {
		case amd64.MBPosted:
			if !atomic.CompareAndSwapUint32(st, amd64.MBPosted, amd64.MBIdle) {
				continue
			}
		case amd64.MBTaken:
			// A server holds the mailbox's lock while it runs the call.
			mb.mu.Lock()
			taken := atomic.LoadUint32(st) == amd64.MBTaken
			mb.mu.Unlock()
			if !taken {
				continue
			}
			// Not a server's: the guest wrote it. The call was not run.
			atomic.StoreUint32(st, amd64.MBIdle)
		case amd64.MBDone, amd64.MBHeld:
			t.xlComplete(mb)
			return
		default: // handed back, or withdrawn by the guest
			atomic.StoreUint32(st, amd64.MBIdle)
		}
		amd64.XLRegs(r, mb.mem)
		t.xlExitPath()
		return
	}
}

// xlComplete finishes a call a server ran: the result and the registers of
// the return, as the trampoline's epilogue makes them.
func (t *Thread) xlComplete(mb *mailbox) {
	r := t.regs
	amd64.XLRegs(r, mb.mem)
	r.RAX = mb.u64(amd64.MBResult)
	r.RIP = r.RCX
	r.RFLAGS = amd64.UserFlags(r.R11)
	atomic.StoreUint32(mb.state(), amd64.MBIdle)
}

// xlExitPath runs the call in the registers (nr in RAX, return address in
// RCX, flags in R11) the exit way; a thread that is ending runs nothing.
func (t *Thread) xlExitPath() {
	if t.killed.Load() {
		return
	}
	t.viaXL = true
	t.syscall()
	t.viaXL = false
}

// xlCall runs call nr for t on a server thread; ok is false when the
// server must hand it back to the exit path.
func (t *Thread) xlCall(nr uint64, a *[6]uint64, hc *hostCreds) (ret int64, ok bool) {
	if nr >= uint64(len(sysTable)) {
		return 0, false
	}
	e := &sysTable[nr]
	if e.fn == nil || e.xl == nil || t.xlMustStop() || !e.xl(t, a) {
		return 0, false
	}
	sb := t.sb
	atomic.AddUint64(&sb.stats.Syscalls, 1)
	atomic.AddUint64(&sb.stats.Exitless, 1)
	var argText string
	if sb.cfg.Trace {
		argText = t.traceArgs(e, a)
	}
	own := t.hc
	t.hc = hc
	t.applyCreds()
	ret = t.call(e, a)
	t.hc = own
	if sb.cfg.Trace {
		t.trace(nr, e, argText, ret)
	}
	if len(t.scratch) > 0 {
		closeAll(t.scratch)
		t.scratch = t.scratch[:0]
	}
	if ret <= -ERESTARTSYS && ret >= -ERESTART_RESTARTBLOCK {
		t.restart, t.restartNr = ret, nr
		ret = -EINTR
	}
	return ret, true
}

// xlMustStop reports whether t must leave the guest: a signal to act on,
// its end, or its process stopped.
func (t *Thread) xlMustStop() bool {
	if t.killed.Load() {
		return true
	}
	t.sb.mu.Lock()
	defer t.sb.mu.Unlock()
	return t.proc.stopped || t.deliverableLocked() != 0
}

// xlServers are a sandbox's server threads and the mailboxes they poll.
type xlServers struct {
	sb     *Sandbox
	status []byte // the trampoline's status block (host view)
	boxes  atomic.Pointer[[]*mailbox]
	mu     sync.Mutex // list changes, n
	n      int        // servers started
	max    int
	cpus   int // the host's
	wake   chan struct{}
	stop   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup // the servers, which read guest memory until they end
	// served and late count the calls servers ran and those the guest
	// withdrew because none took them in time (a host short of cores):
	// when too many are late the servers back off and sleep through
	// wake-ups until backoffUntil, and the calls take the exit path.
	served, late atomic.Uint64
	backoffUntil atomic.Int64
	backoff      atomic.Int64
	// misses counts the calls that found no server awake since missWindow
	// began; enough of them in a window wake one.
	misses     atomic.Int64
	missWindow atomic.Int64
}

// Server policy. A server spins while it pays: xlQuietWindows windows in a
// row in which it serves fewer than xlMinServed calls each (each saves an
// exit of tens of microseconds) put it to sleep (one is not enough: the
// host may have run something else on the guest's core for a while), and
// the calls take the exit path until
// xlWakeMisses of them come within a window. When guests give up on posts
// (late) for more than an eighth of the calls served, the servers back off
// for a while, doubling up to xlBackoffMax: the host has no core for them.
const (
	xlWindow       = int64(time.Millisecond)
	xlMinServed    = 32
	xlQuietWindows = 2
	xlWakeMisses   = 8
	xlBackoffMin   = int64(time.Millisecond)
	xlBackoffMax   = int64(200 * time.Millisecond)
)

func newXLServers(sb *Sandbox, status []byte) *xlServers {
	s := &xlServers{sb: sb, status: status, max: min(max(runtime.NumCPU()-1, 1), 4),
		cpus: runtime.NumCPU(), stop: make(chan struct{})}
	s.wake = make(chan struct{}, s.max)
	empty := []*mailbox{}
	s.boxes.Store(&empty)
	for nr := range sysTable {
		if nr < amd64.XLMaxNr && sysTable[nr].fn != nil && sysTable[nr].xl != nil {
			status[amd64.XLBitmap+nr/8] |= 1 << (nr % 8)
		}
	}
	// The guest withdraws a post no server took in about 20 µs. One a
	// server took it waits for up to 200 µs: an exit costs tens of
	// microseconds and would wait for the server all the same; only a
	// server held up for long (a host short of cores) makes the thread
	// better off asleep in the host than spinning on its core.
	binary.LittleEndian.PutUint32(status[amd64.XLSpins:], uint32(max(20*time.Microsecond/pauseCost(), 64)))
	binary.LittleEndian.PutUint32(status[amd64.XLTakenSpins:], uint32(max(200*time.Microsecond/pauseCost(), 640)))
	return s
}

func (s *xlServers) awake() *uint32 {
	return (*uint32)(unsafe.Pointer(&s.status[amd64.XLAwake]))
}

func (s *xlServers) add(mb *mailbox) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.boxes.Load()
	n := make([]*mailbox, len(old), len(old)+1)
	copy(n, old)
	n = append(n, mb)
	s.boxes.Store(&n)
	if s.n == 0 {
		s.start()
	}
}

func (s *xlServers) remove(mb *mailbox) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.boxes.Load()
	n := make([]*mailbox, 0, len(old))
	for _, m := range old {
		if m != mb {
			n = append(n, m)
		}
	}
	s.boxes.Store(&n)
}

// start starts a server (s.mu held), unless the servers are stopping.
func (s *xlServers) start() {
	select {
	case <-s.stop:
		return
	default:
	}
	s.n++
	s.wg.Add(1)
	go s.serve()
}

// missed notes a call that took the exit path from the trampoline: none
// was awake (late false), or none took it in time.
func (s *xlServers) missed(late bool) {
	if late {
		s.late.Add(1)
	}
	now := nanotime()
	if now < s.backoffUntil.Load() {
		return
	}
	if now-s.missWindow.Load() > xlWindow {
		s.missWindow.Store(now)
		s.misses.Store(0)
	}
	if s.misses.Add(1) >= xlWakeMisses {
		s.misses.Store(0)
		if !s.crowded(1) {
			s.wakeOne()
		}
	}
}

// crowded reports whether the guest's vCPUs in KVM_RUN and the awake
// servers, with more of them, want more cores than the host has: a server
// spinning then takes a core from guest code, which costs more than the
// exits it saves.
func (s *xlServers) crowded(more int) bool {
	return int(s.sb.running.Load())+int(atomic.LoadUint32(s.awake()))+more > s.cpus
}

// wakeOne wakes a sleeping server (a call found none awake).
func (s *xlServers) wakeOne() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close stops the servers and waits for them: guest memory goes next.
func (s *xlServers) close() {
	s.once.Do(func() { close(s.stop) })
	s.wg.Wait()
	s.sb.log.Debug("exitless servers", "served", s.served.Load(), "late", s.late.Load(), "servers", s.n,
		"spins", binary.LittleEndian.Uint32(s.status[amd64.XLSpins:]), "pause", pauseCost())
}

// serve is a server thread: it polls the mailboxes while calls come, and
// sleeps when none has come for a while.
func (s *xlServers) serve() {
	// Host credentials are per OS thread: the thread takes guest
	// identities, so it is never handed back to the Go scheduler and ends
	// with the goroutine.
	runtime.LockOSThread()
	defer s.wg.Done()
	var hc hostCreds
	cpu := threadCPU()
	account := func() {
		now := threadCPU()
		s.sb.addServerCPU(now - cpu)
		cpu = now
	}
	defer account()
	awake := s.awake()
	atomic.AddUint32(awake, 1)
	window, served0, late0 := nanotime(), s.served.Load(), s.late.Load()
	idle, quiet := 0, 0
	for {
		busy := 0
		for _, mb := range *s.boxes.Load() {
			if atomic.LoadUint32(mb.state()) == amd64.MBPosted && s.run(mb, &hc) {
				busy++
			}
		}
		if busy > 0 {
			idle = 0
			s.served.Add(uint64(busy))
			if busy > 1 {
				s.more()
			}
			continue
		}
		// No sched_yield here: under PVM it delays pickups so much that
		// nearly every post is withdrawn.
		cpuPause()
		if idle++; idle%64 == 0 {
			select {
			case <-s.stop:
				return
			default:
			}
		}
		now := nanotime()
		if now-window < xlWindow {
			continue
		}
		served, late := s.served.Load()-served0, s.late.Load()-late0
		var sleep <-chan time.Time // nil: until woken
		switch {
		case late > 2 && late > served/8:
			b := min(max(2*s.backoff.Load(), xlBackoffMin), xlBackoffMax)
			s.backoff.Store(b)
			s.backoffUntil.Store(now + b)
			sleep = time.After(time.Duration(b))
		case !s.crowded(0) && (served >= xlMinServed || quiet+1 < xlQuietWindows):
			if served >= xlMinServed {
				quiet = 0
				if late == 0 {
					s.backoff.Store(0)
				}
			} else {
				quiet++
			}
			window, served0, late0 = now, s.served.Load(), s.late.Load()
			continue
		}
		quiet = 0
		// Sleep. A post made by a guest that saw this server awake is
		// looked for once more after the count drops.
		atomic.AddUint32(awake, ^uint32(0))
		if sleep == nil && s.pending() {
			atomic.AddUint32(awake, 1)
			continue
		}
		account()
		if sleep != nil {
			select {
			case <-sleep:
			case <-s.stop:
				return
			}
		} else {
			select {
			case <-s.wake:
			case <-s.stop:
				return
			}
		}
		atomic.AddUint32(awake, 1)
		window, served0, late0 = nanotime(), s.served.Load(), s.late.Load()
	}
}

// more starts another server when calls queue up and cores allow.
func (s *xlServers) more() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n < s.max {
		s.start()
	}
}

func (s *xlServers) pending() bool {
	for _, mb := range *s.boxes.Load() {
		if atomic.LoadUint32(mb.state()) == amd64.MBPosted {
			return true
		}
	}
	return false
}

// run serves the call posted in mb, if it is still there.
func (s *xlServers) run(mb *mailbox, hc *hostCreds) bool {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	t := mb.owner
	st := mb.state()
	if t == nil || !atomic.CompareAndSwapUint32(st, amd64.MBPosted, amd64.MBTaken) {
		return false
	}
	var a [6]uint64
	for i := range a {
		a[i] = mb.u64(amd64.MBArgs + 8*i)
	}
	ret, ok := t.xlCall(mb.u64(amd64.MBNr), &a, hc)
	if !ok {
		atomic.StoreUint32(st, amd64.MBRetry)
		return true
	}
	binary.LittleEndian.PutUint64(mb.mem[amd64.MBResult:], uint64(ret))
	if t.xlMustStop() || t.proc.as.Root() != t.loaded.Load() {
		// The thread must stop before it runs on: a signal the call
		// raised or unblocked, or page tables the call replaced (a
		// copy-on-write page it wrote, without a coherent Phys), which
		// the thread must load before it reads what the call wrote. Its
		// kick finds it waiting; the host completes the call, then acts.
		atomic.StoreUint32(st, amd64.MBHeld)
		t.wake()
		return true
	}
	atomic.StoreUint32(st, amd64.MBDone)
	return true
}

// threadCPU is the calling OS thread's CPU time.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func (sb *Sandbox) addServerCPU(d time.Duration) {
	atomic.AddUint64(&sb.stats.ServerCPU, uint64(d))
}

var monoStart = time.Now()

// nanotime is a monotonic clock in nanoseconds.
func nanotime() int64 { return int64(time.Since(monoStart)) }

var pauseOnce = sync.OnceValue(func() time.Duration {
	// Every sandbox start waits for this: four rounds of 250 (about 40
	// µs in all) see 10 ns from 40, and the fastest round leaves out one
	// the host preempted (20000 in one round took most of a millisecond).
	const rounds, n = 4, 250
	best := time.Duration(1<<63 - 1)
	for range rounds {
		start := time.Now()
		for range n {
			cpuPause()
		}
		best = min(best, time.Since(start))
	}
	return max(best/n, time.Nanosecond)
})

// pauseCost is the time of one PAUSE on this host.
func pauseCost() time.Duration { return pauseOnce() }

// cpuPause is the PAUSE instruction (pause_amd64.s).
func cpuPause()
