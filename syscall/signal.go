//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"time"

	"github.com/elfuse/elfuse/arch/amd64"
	"github.com/elfuse/elfuse/hv"
	"golang.org/x/sys/unix"
)

// Signal action values and flags (Linux amd64).
const (
	sigDfl = 0
	sigIgn = 1

	saNocldstop = 0x1
	saNocldwait = 0x2
	saSiginfo   = 0x4
	saRestorer  = 0x04000000
	saOnstack   = 0x08000000
	saRestart   = 0x10000000
	saNodefer   = 0x40000000
	saResethand = 0x80000000

	ssOnstack    = 1
	ssDisable    = 2
	ssAutodisarm = 1 << 31
)

// si_code values.
const (
	siUser     = 0
	siKernel   = 0x80
	siQueue    = -1
	siTimer    = -2
	siTkill    = -6
	segvMaperr = 1
	segvAccerr = 2

	cldExited    = 1
	cldKilled    = 2
	cldDumped    = 3
	cldStopped   = 5
	cldContinued = 6
)

// sigInfo is a pending signal's siginfo.
type sigInfo struct {
	signo, errno, code int32
	pid, uid           int32
	status             int32
	addr               uint64
	value              uint64
	timerID, overrun   int32
	raw                []byte // rt_sigqueueinfo's own bytes
}

// encode lays the siginfo out as Linux does (128 bytes).
func (i *sigInfo) encode() []byte {
	b := make([]byte, 128)
	if i.raw != nil {
		copy(b, i.raw)
	}
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(i.signo))
	le.PutUint32(b[4:], uint32(i.errno))
	le.PutUint32(b[8:], uint32(i.code))
	if i.raw != nil {
		return b
	}
	switch {
	case i.signo == SIGCHLD:
		le.PutUint32(b[16:], uint32(i.pid))
		le.PutUint32(b[20:], uint32(i.uid))
		le.PutUint32(b[24:], uint32(i.status))
	case i.code == siTimer:
		le.PutUint32(b[16:], uint32(i.timerID))
		le.PutUint32(b[20:], uint32(i.overrun))
		le.PutUint64(b[24:], i.value)
	case i.code == siKernel || i.code > 0 && (i.signo == SIGSEGV || i.signo == SIGBUS || i.signo == SIGILL || i.signo == SIGFPE || i.signo == SIGTRAP):
		le.PutUint64(b[16:], i.addr)
	default:
		le.PutUint32(b[16:], uint32(i.pid))
		le.PutUint32(b[20:], uint32(i.uid))
		le.PutUint64(b[24:], i.value)
	}
	return b
}

// sigQueue holds pending signals: one of each standard signal, all of
// each real-time one.
type sigQueue struct {
	set   uint64
	infos []sigInfo
}

func sigBit(sig int) uint64 { return 1 << (sig - 1) }

func (q *sigQueue) add(sig int, info sigInfo) {
	if sig < 32 && q.set&sigBit(sig) != 0 {
		return
	}
	q.set |= sigBit(sig)
	q.infos = append(q.infos, info)
}

// take removes one instance of sig.
func (q *sigQueue) take(sig int) (sigInfo, bool) {
	for i, in := range q.infos {
		if int(in.signo) == sig {
			q.infos = append(q.infos[:i], q.infos[i+1:]...)
			still := false
			for _, o := range q.infos {
				if int(o.signo) == sig {
					still = true
				}
			}
			if !still {
				q.set &^= sigBit(sig)
			}
			return in, true
		}
	}
	return sigInfo{}, false
}

func (q *sigQueue) drop(sig int) {
	for {
		if _, ok := q.take(sig); !ok {
			return
		}
	}
}

// Default actions.
const (
	actTerm = iota
	actIgnore
	actCore
	actStop
	actCont
)

func defaultAction(sig int) int {
	switch sig {
	case SIGCHLD, SIGURG, 28: // SIGWINCH
		return actIgnore
	case SIGCONT:
		return actCont
	case SIGSTOP, 20, 21, 22: // SIGTSTP, SIGTTIN, SIGTTOU
		return actStop
	case SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, 24, 25, 31: // XCPU XFSZ SYS
		return actCore
	}
	return actTerm
}

// ignored reports whether sig would be discarded on arrival.
func (p *Process) ignored(sig int) bool {
	a := p.sig.get(sig)
	return a.handler == sigIgn || a.handler == sigDfl && defaultAction(sig) == actIgnore
}

// sendLocked posts sig to process p (to thread t when not nil); sb.mu is
// held.
func (sb *Sandbox) sendLocked(p *Process, t *Thread, sig int, info sigInfo) {
	if p.zombie || p.exiting.Load() || sig == 0 {
		return
	}
	info.signo = int32(sig)
	switch {
	case sig == SIGKILL:
		p.exitGroupLocked(waitSignaled(SIGKILL, false))
		return
	case sig == SIGCONT:
		p.pending.drop(SIGSTOP)
		for _, s := range []int{20, 21, 22} {
			p.pending.drop(s)
		}
		if p.stopped {
			p.stopped = false
			close(p.cont)
			p.event = 0xffff
			sb.notifyStopLocked(p, cldContinued, SIGCONT)
		}
	case defaultAction(sig) == actStop:
		p.pending.drop(SIGCONT)
	}
	// A signal aimed at a thread (tgkill, rt_tgsigqueueinfo, SIGPIPE) waits
	// on that thread's own queue, whatever its si_code.
	directed := t != nil
	if t == nil {
		// Process-directed: a thread that does not block it takes it.
		for _, th := range p.threads {
			if t == nil || th.sigmask&sigBit(sig) == 0 {
				t = th
			}
			if th.sigmask&sigBit(sig) == 0 {
				break
			}
		}
	}
	if t == nil {
		return
	}
	blocked := t.sigmask&sigBit(sig) != 0
	if !blocked && p.ignored(sig) {
		return
	}
	if directed {
		t.pending.add(sig, info)
	} else {
		p.pending.add(sig, info)
	}
	if !blocked {
		t.wake()
	} else {
		sb.signalfdQueueLocked(p) // a signalfd may be waiting for it
	}
}

// notifyStopLocked sends the parent SIGCHLD for a stop or continue.
func (sb *Sandbox) notifyStopLocked(p *Process, code int32, sig int) {
	parent := p.parent
	if parent == nil || parent.zombie {
		return
	}
	if parent.sig.get(SIGCHLD).flags&saNocldstop == 0 {
		sb.sendLocked(parent, nil, SIGCHLD, sigInfo{code: code, pid: int32(p.pid), uid: int32(p.cred.uid), status: int32(sig)})
	}
	sb.broadcastLocked()
}

// forceSignal delivers a synchronous fault signal to t: if it is blocked
// or ignored, it takes its default action, as Linux does.
func (t *Thread) forceSignal(sig int, info sigInfo) {
	sb := t.sb
	p := t.proc
	sb.mu.Lock()
	defer sb.mu.Unlock()
	a := p.sig.get(sig)
	if t.sigmask&sigBit(sig) != 0 || a.handler == sigIgn {
		p.sig.mu.Lock()
		p.sig.actions[sig-1].handler = sigDfl
		p.sig.mu.Unlock()
		t.sigmask &^= sigBit(sig)
	}
	info.signo = int32(sig)
	t.pending.add(sig, info)
}

// deliverable returns the next signal t would act on, or 0; sb.mu is held.
func (t *Thread) deliverableLocked() int {
	p := t.proc
	ready := (t.pending.set | p.pending.set) &^ t.sigmask
	if ready == 0 {
		return 0
	}
	for _, s := range []int{SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP} {
		if ready&sigBit(s) != 0 {
			return s
		}
	}
	for s := 1; s <= NSIG; s++ {
		if ready&sigBit(s) != 0 {
			return s
		}
	}
	return 0
}

// interrupted reports whether a wait of t should end: a signal to act on
// or the thread's end.
func (t *Thread) interrupted() bool {
	if t.killed.Load() {
		return true
	}
	t.sb.mu.Lock()
	defer t.sb.mu.Unlock()
	return t.deliverableLocked() != 0
}

// handleSignals acts on pending signals before t returns to user mode:
// default actions, or a handler frame per signal.
func (t *Thread) handleSignals() {
	sb, p := t.sb, t.proc
	for {
		if t.killed.Load() {
			t.done = true
			return
		}
		sb.mu.Lock()
		if p.stopped {
			cont := p.cont
			sb.mu.Unlock()
			t.block()
			select {
			case <-cont:
			case <-t.intr:
			}
			t.unblock()
			continue
		}
		sig := t.deliverableLocked()
		if sig == 0 {
			sb.mu.Unlock()
			break
		}
		info, ok := t.pending.take(sig)
		if !ok {
			info, _ = p.pending.take(sig)
		}
		act := p.sig.get(sig)
		if act.handler == sigDfl || act.handler == sigIgn && sig == SIGKILL {
			switch defaultAction(sig) {
			case actIgnore, actCont:
				sb.mu.Unlock()
				continue
			case actStop:
				if p.pid != 1 && !p.stopped {
					p.stopped = true
					p.cont = make(chan struct{})
					p.event = 0x7f | sig<<8
					sb.notifyStopLocked(p, cldStopped, sig)
				}
				sb.mu.Unlock()
				continue
			case actCore:
				sb.mu.Unlock()
				p.exitGroup(waitSignaled(sig, true))
				t.done = true
				return
			default:
				sb.mu.Unlock()
				p.exitGroup(waitSignaled(sig, false))
				t.done = true
				return
			}
		}
		if act.handler == sigIgn {
			sb.mu.Unlock()
			continue
		}
		sb.mu.Unlock()
		if !t.setupFrame(sig, &info, act) {
			p.exitGroup(waitSignaled(SIGSEGV, true))
			t.done = true
			return
		}
	}
	if t.restart != 0 {
		// No handler ran: the interrupted call starts again.
		t.regs.RIP = t.restartRIP(t.regs.RIP)
		t.regs.RAX = t.restartNr
		t.restart = 0
	}
	if t.hasSaved {
		t.setMask(t.savedMask)
		t.hasSaved = false
	}
}

// setMask replaces the blocked set (SIGKILL and SIGSTOP never block).
func (t *Thread) setMask(m uint64) {
	t.sb.mu.Lock()
	t.sigmask = m &^ (sigBit(SIGKILL) | sigBit(SIGSTOP))
	t.sb.mu.Unlock()
}

// Layout of the amd64 rt_sigframe.
const (
	ucFlagsOff   = 8
	ucStackOff   = 24
	mctxOff      = 48
	ucSigmaskOff = 8 + 296          // uc_sigmask follows the 256-byte sigcontext
	siginfoOff   = ucSigmaskOff + 8 // the kernel's ucontext ends with an 8-byte sigset
	frameSize    = siginfoOff + 128
)

// setupFrame builds a Linux rt_sigframe for sig on the user (or
// alternate) stack and points the thread at the handler.
func (t *Thread) setupFrame(sig int, info *sigInfo, act sigAction) bool {
	r := t.regs
	if t.restart != 0 {
		restart := false
		switch t.restart {
		case -ERESTARTSYS:
			restart = act.flags&saRestart != 0
		case -ERESTARTNOINTR:
			restart = true
		}
		if restart {
			r.RIP = t.restartRIP(r.RIP)
			r.RAX = t.restartNr
		} else {
			r.RAX = ^uint64(EINTR - 1) // -EINTR
		}
		t.restart = 0
	}
	xs, err := t.cpu.GetXSAVE()
	if err != nil {
		return false
	}
	xsize := uint64(t.sb.xsaveSize)
	sp := r.RSP
	onAlt := t.altstack[2] != 0 && t.altstack[1]&ssDisable == 0 && sp-t.altstack[0] < t.altstack[2]
	if act.flags&saOnstack != 0 && t.altstack[2] != 0 && t.altstack[1]&ssDisable == 0 && !onAlt {
		sp = t.altstack[0] + t.altstack[2]
	} else {
		sp -= 128 // the red zone
	}
	sp = (sp - xsize) &^ 63
	fpstate := sp
	sp -= frameSize
	sp = sp&^15 - 8
	frame := make([]byte, frameSize)
	le := binary.LittleEndian
	le.PutUint64(frame[0:], act.restorer)
	le.PutUint64(frame[ucFlagsOff:], 0x1|0x2|0x4) // UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS
	le.PutUint64(frame[ucStackOff:], t.altstack[0])
	ssFlags := uint64(0)
	if t.altstack[2] == 0 || t.altstack[1]&ssDisable != 0 {
		ssFlags = ssDisable
	} else if onAlt {
		ssFlags = ssOnstack
	}
	le.PutUint32(frame[ucStackOff+8:], uint32(ssFlags|t.altstack[1]&ssAutodisarm))
	le.PutUint64(frame[ucStackOff+16:], t.altstack[2])
	m := frame[mctxOff:]
	for i, v := range []uint64{r.R8, r.R9, r.R10, r.R11, r.R12, r.R13, r.R14, r.R15, r.RDI, r.RSI, r.RBP, r.RBX, r.RDX, r.RAX, r.RCX, r.RSP, r.RIP, r.RFLAGS} {
		le.PutUint64(m[8*i:], v)
	}
	le.PutUint16(m[144:], amd64.SelUserCS)
	le.PutUint16(m[150:], amd64.SelUserDS) // ss, in __pad0
	trapno, errc := uint64(0), uint64(0)
	if info.signo == SIGSEGV && info.code > 0 {
		trapno, errc = 14, 4
	}
	le.PutUint64(m[152:], errc)
	le.PutUint64(m[160:], trapno)
	mask := t.sigmask
	if t.hasSaved {
		mask = t.savedMask
		t.hasSaved = false
	}
	le.PutUint64(m[168:], mask) // oldmask
	le.PutUint64(m[176:], info.addr)
	le.PutUint64(m[184:], fpstate)
	le.PutUint64(frame[ucSigmaskOff:], mask)
	copy(frame[siginfoOff:], info.encode())
	// The FPU state, as XSAVE writes it, with the software bytes that
	// mark it as extended state.
	fx := append([]byte(nil), xs[:xsize]...)
	le.PutUint32(fx[464:], 0x46505853) // FP_XSTATE_MAGIC1
	le.PutUint32(fx[468:], uint32(xsize+4))
	le.PutUint64(fx[472:], le.Uint64(xs[512:])) // xfeatures in use
	le.PutUint32(fx[480:], uint32(xsize))
	as := t.proc.as
	if as.Write(fpstate, fx) != nil || as.WriteU32(fpstate+xsize, 0x46505845) != nil || as.Write(sp, frame) != nil {
		return false
	}
	r.RSP = sp
	r.RIP = act.handler
	r.RDI = uint64(sig)
	r.RSI = sp + siginfoOff
	r.RDX = sp + ucFlagsOff
	r.RAX = 0
	r.RFLAGS &^= amd64.FlagDF | amd64.FlagTF | amd64.FlagRF | amd64.FlagAC
	if act.flags&saOnstack != 0 && t.altstack[1]&ssAutodisarm != 0 {
		t.altstack = [3]uint64{0, ssDisable, 0}
	}
	newMask := mask | act.mask
	if act.flags&saNodefer == 0 {
		newMask |= sigBit(sig)
	}
	t.setMask(newMask)
	if act.flags&saResethand != 0 {
		p := t.proc
		p.sig.mu.Lock()
		p.sig.actions[sig-1] = sigAction{}
		p.sig.mu.Unlock()
	}
	// FPU state for the handler: as after a fresh exec, MXCSR at its default.
	if err := t.cpu.SetXSAVE(t.sb.initXSAVE); err != nil {
		return false
	}
	return true
}

func sysRtSigreturn(t *Thread, a *[6]uint64) int64 {
	r := t.regs
	sp := r.RSP - 8 // the handler's ret popped pretcode
	frame := make([]byte, frameSize)
	if t.proc.as.Read(sp, frame) != nil {
		t.forceSignal(SIGSEGV, sigInfo{code: siKernel})
		return justReturn
	}
	le := binary.LittleEndian
	m := frame[mctxOff:]
	g := func(i int) uint64 { return le.Uint64(m[8*i:]) }
	*r = hv.AMD64Regs{R8: g(0), R9: g(1), R10: g(2), R11: g(3), R12: g(4), R13: g(5), R14: g(6), R15: g(7),
		RDI: g(8), RSI: g(9), RBP: g(10), RBX: g(11), RDX: g(12), RAX: g(13), RCX: g(14), RSP: g(15), RIP: g(16),
		RFLAGS: amd64.UserFlags(g(17))}
	t.setMask(le.Uint64(frame[ucSigmaskOff:]))
	// uc_stack restores the alternate stack settings.
	ss := [3]uint64{le.Uint64(frame[ucStackOff:]), uint64(le.Uint32(frame[ucStackOff+8:])), le.Uint64(frame[ucStackOff+16:])}
	if ss[1]&ssDisable == 0 && ss[2] >= 2048 {
		t.altstack = [3]uint64{ss[0], ss[1] &^ ssOnstack, ss[2]}
	}
	if fp := le.Uint64(m[184:]); fp != 0 {
		xs := make([]byte, t.sb.xsaveSize)
		if t.proc.as.Read(fp, xs) == nil {
			// Only user-controllable features; reserved header bits zero.
			clear(xs[464:512])
			le.PutUint64(xs[512:], le.Uint64(xs[512:])&t.sb.xcr0)
			clear(xs[520:576])
			le.PutUint32(xs[24:], le.Uint32(xs[24:])&0xffbf) // MXCSR reserved bits
			if t.cpu.SetXSAVE(xs) != nil {
				t.forceSignal(SIGSEGV, sigInfo{code: siKernel})
			}
		}
	}
	if amd64.SetUserMode(t.sregs) {
		t.sregsDirty = true
	}
	return justReturn
}

func sysRtSigaction(t *Thread, a *[6]uint64) int64 {
	sig := int(a[0])
	if sig < 1 || sig > NSIG || a[3] != 8 {
		return -EINVAL
	}
	p := t.proc
	p.sig.mu.Lock()
	old := p.sig.actions[sig-1]
	p.sig.mu.Unlock()
	if a[1] != 0 {
		if sig == SIGKILL || sig == SIGSTOP {
			return -EINVAL
		}
		var b [32]byte
		if e := t.get(a[1], b[:]); e != 0 {
			return e
		}
		le := binary.LittleEndian
		na := sigAction{handler: le.Uint64(b[0:]), flags: le.Uint64(b[8:]),
			restorer: le.Uint64(b[16:]), mask: le.Uint64(b[24:]) &^ (sigBit(SIGKILL) | sigBit(SIGSTOP))}
		p.sig.mu.Lock()
		p.sig.actions[sig-1] = na
		p.sig.mu.Unlock()
		if p.ignored(sig) {
			// Setting a signal to be ignored discards it when pending.
			t.sb.mu.Lock()
			p.pending.drop(sig)
			for _, th := range p.threads {
				th.pending.drop(sig)
			}
			t.sb.mu.Unlock()
		}
	}
	if a[2] != 0 {
		var b [32]byte
		le := binary.LittleEndian
		le.PutUint64(b[0:], old.handler)
		le.PutUint64(b[8:], old.flags)
		le.PutUint64(b[16:], old.restorer)
		le.PutUint64(b[24:], old.mask)
		if e := t.put(a[2], b[:]); e != 0 {
			return e
		}
	}
	return 0
}

func sysRtSigprocmask(t *Thread, a *[6]uint64) int64 {
	if a[3] != 8 {
		return -EINVAL
	}
	t.sb.mu.Lock()
	old := t.sigmask
	t.sb.mu.Unlock()
	if a[1] != 0 {
		set, e := t.getU64(a[1])
		if e != 0 {
			return e
		}
		switch a[0] {
		case 0:
			t.setMask(old | set)
		case 1:
			t.setMask(old &^ set)
		case 2:
			t.setMask(set)
		default:
			return -EINVAL
		}
	}
	if a[2] != 0 {
		return t.putU64(a[2], old)
	}
	return 0
}

func sysSigaltstack(t *Thread, a *[6]uint64) int64 {
	old := t.altstack
	onAlt := old[2] != 0 && old[1]&ssDisable == 0 && t.regs.RSP-old[0] < old[2]
	if a[0] != 0 {
		var b [24]byte
		if e := t.get(a[0], b[:]); e != 0 {
			return e
		}
		if onAlt {
			return -EPERM
		}
		le := binary.LittleEndian
		ns := [3]uint64{le.Uint64(b[0:]), uint64(le.Uint32(b[8:])), le.Uint64(b[16:])}
		if ns[1]&^(ssDisable|ssAutodisarm) != 0 {
			return -EINVAL
		}
		if ns[1]&ssDisable != 0 {
			ns = [3]uint64{0, ssDisable, 0}
		} else if ns[2] < 2048 {
			return -ENOMEM
		}
		t.altstack = ns
	}
	if a[1] != 0 {
		var b [24]byte
		le := binary.LittleEndian
		flags := old[1]
		switch {
		case old[2] == 0 || old[1]&ssDisable != 0:
			flags = ssDisable
		case onAlt:
			flags = ssOnstack | old[1]&ssAutodisarm
		}
		le.PutUint64(b[0:], old[0])
		le.PutUint32(b[8:], uint32(flags))
		le.PutUint64(b[16:], old[2])
		if e := t.put(a[1], b[:]); e != 0 {
			return e
		}
	}
	return 0
}

func sysRtSigpending(t *Thread, a *[6]uint64) int64 {
	if a[1] > 8 {
		return -EINVAL
	}
	t.sb.mu.Lock()
	set := (t.pending.set | t.proc.pending.set) & t.sigmask
	t.sb.mu.Unlock()
	return t.putU64(a[0], set)
}

// sigsuspend waits with mask until a signal is acted on.
func (t *Thread) sigsuspend(mask uint64) int64 {
	t.sb.mu.Lock()
	old := t.sigmask
	t.sb.mu.Unlock()
	t.setMask(mask)
	for !t.interrupted() {
		t.block()
		<-t.intr
		t.unblock()
	}
	t.savedMask, t.hasSaved = old, true
	return -ERESTARTNOHAND
}

func sysRtSigsuspend(t *Thread, a *[6]uint64) int64 {
	if a[1] != 8 {
		return -EINVAL
	}
	m, e := t.getU64(a[0])
	if e != 0 {
		return e
	}
	return t.sigsuspend(m)
}

func sysPause(t *Thread, a *[6]uint64) int64 {
	for !t.interrupted() {
		t.block()
		<-t.intr
		t.unblock()
	}
	return -ERESTARTNOHAND
}

func sysRtSigtimedwait(t *Thread, a *[6]uint64) int64 {
	if a[3] != 8 {
		return -EINVAL
	}
	set, e := t.getU64(a[0])
	if e != 0 {
		return e
	}
	set &^= sigBit(SIGKILL) | sigBit(SIGSTOP)
	var deadline <-chan time.Time
	if a[2] != 0 {
		ts, e := t.getTimespec(a[2])
		if e != 0 {
			return e
		}
		tm := time.NewTimer(time.Duration(ts.Nano()))
		defer tm.Stop()
		deadline = tm.C
	}
	sb, p := t.sb, t.proc
	// The waited-for signals are unblocked for the wait's duration.
	sb.mu.Lock()
	old := t.sigmask
	t.sigmask &^= set
	sb.mu.Unlock()
	defer t.setMask(old)
	for {
		sb.mu.Lock()
		ready := (t.pending.set | p.pending.set) & set
		if ready != 0 {
			sig := 0
			for s := 1; s <= NSIG; s++ {
				if ready&sigBit(s) != 0 {
					sig = s
					break
				}
			}
			info, ok := t.pending.take(sig)
			if !ok {
				info, _ = p.pending.take(sig)
			}
			sb.mu.Unlock()
			if a[1] != 0 {
				if e := t.put(a[1], info.encode()); e != 0 {
					return e
				}
			}
			return int64(sig)
		}
		other := t.deliverableLocked() != 0
		sb.mu.Unlock()
		if other || t.killed.Load() {
			return -ERESTARTSYS
		}
		t.block()
		select {
		case <-t.intr:
		case <-deadline:
			t.unblock()
			return -EAGAIN
		}
		t.unblock()
	}
}

// findProcs returns the processes a kill(2) pid names; sb.mu is held.
func (t *Thread) findProcsLocked(pid int) []*Process {
	sb := t.sb
	var out []*Process
	switch {
	case pid > 0:
		// A zombie still exists for kill(pid, 0); signals to it do nothing.
		if p := sb.procs[pid]; p != nil {
			out = append(out, p)
		} else if th := sb.tids[pid]; th != nil {
			out = append(out, th.proc)
		}
	case pid == 0 || pid < -1:
		g := -pid
		if pid == 0 {
			g = t.proc.pgid
		}
		for _, p := range sb.procs {
			if p.pgid == g && !p.zombie {
				out = append(out, p)
			}
		}
	default: // -1: every process but init and the caller
		for _, p := range sb.procs {
			if p.pid != 1 && p != t.proc && !p.zombie {
				out = append(out, p)
			}
		}
	}
	return out
}

func sysKill(t *Thread, a *[6]uint64) int64 {
	pid, sig := int(int32(a[0])), int(a[1])
	if sig < 0 || sig > NSIG {
		return -EINVAL
	}
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	ps := t.findProcsLocked(pid)
	if len(ps) == 0 {
		return -ESRCH
	}
	for _, p := range ps {
		sb.sendLocked(p, nil, sig, sigInfo{code: siUser, pid: int32(t.proc.pid), uid: int32(t.proc.cred.uid)})
	}
	return 0
}

func (t *Thread) tkill(tgid, tid, sig int) int64 {
	if sig < 0 || sig > NSIG || tid <= 0 {
		return -EINVAL
	}
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	th := sb.tids[tid]
	if th == nil || tgid > 0 && th.proc.pid != tgid {
		return -ESRCH
	}
	sb.sendLocked(th.proc, th, sig, sigInfo{code: siTkill, pid: int32(t.proc.pid), uid: int32(t.proc.cred.uid)})
	return 0
}

func sysTgkill(t *Thread, a *[6]uint64) int64 {
	if int32(a[0]) <= 0 {
		return -EINVAL
	}
	return t.tkill(int(int32(a[0])), int(int32(a[1])), int(a[2]))
}

func sysTkill(t *Thread, a *[6]uint64) int64 { return t.tkill(0, int(int32(a[0])), int(a[1])) }

func sysRtSigqueueinfo(t *Thread, a *[6]uint64) int64 {
	pid, sig := int(int32(a[0])), int(a[1])
	if sig <= 0 || sig > NSIG {
		return -EINVAL
	}
	raw := make([]byte, 128)
	if e := t.get(a[2], raw); e != 0 {
		return e
	}
	code := int32(binary.LittleEndian.Uint32(raw[8:]))
	if code >= 0 || code == siTkill {
		if pid != t.proc.pid {
			return -EPERM
		}
	}
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	p := sb.procs[pid]
	if p == nil || p.zombie {
		return -ESRCH
	}
	sb.sendLocked(p, nil, sig, sigInfo{code: code, raw: raw})
	return 0
}

// rt_tgsigqueueinfo(tgid, tid, sig, info): rt_sigqueueinfo aimed at one
// thread (glibc's pthread_sigqueue). As in Linux, a caller may forge only
// negative codes other than SI_TKILL unless it signals itself; signal 0
// checks that the thread exists.
func sysRtTgsigqueueinfo(t *Thread, a *[6]uint64) int64 {
	tgid, tid, sig := int(int32(a[0])), int(int32(a[1])), int(a[2])
	if tgid <= 0 || tid <= 0 || sig < 0 || sig > NSIG {
		return -EINVAL
	}
	raw := make([]byte, 128)
	if e := t.get(a[3], raw); e != 0 {
		return e
	}
	code := int32(binary.LittleEndian.Uint32(raw[8:]))
	if (code >= 0 || code == siTkill) && tid != t.tid {
		return -EPERM
	}
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	th := sb.tids[tid]
	if th == nil || th.proc.pid != tgid || th.proc.zombie {
		return -ESRCH
	}
	sb.sendLocked(th.proc, th, sig, sigInfo{code: code, raw: raw})
	return 0
}

// ITIMER_REAL and alarm(2): one timer per process that sends SIGALRM.
func (t *Thread) setAlarm(d, interval time.Duration) (left, oldInterval time.Duration) {
	sb, p := t.sb, t.proc
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if p.alarm != nil && p.alarm.Stop() {
		left = time.Until(p.alarmAt)
		if left <= 0 {
			left = time.Microsecond
		}
	}
	oldInterval = p.alarmEvery
	p.alarm = nil
	p.alarmEvery = interval
	if d <= 0 {
		return left, oldInterval
	}
	var fire func()
	fire = func() {
		sb.mu.Lock()
		defer sb.mu.Unlock()
		sb.sendLocked(p, nil, SIGALRM, sigInfo{code: siKernel})
		if p.alarmEvery > 0 && !p.zombie {
			p.alarmAt = time.Now().Add(p.alarmEvery)
			p.alarm = time.AfterFunc(p.alarmEvery, fire)
		}
	}
	p.alarmAt = time.Now().Add(d)
	p.alarm = time.AfterFunc(d, fire)
	return left, oldInterval
}

func sysAlarm(t *Thread, a *[6]uint64) int64 {
	left, _ := t.setAlarm(time.Duration(uint32(a[0]))*time.Second, 0)
	s := int64((left + time.Second/2) / time.Second)
	if left > 0 && s == 0 {
		s = 1
	}
	return s
}

func putTimevalPair(b []byte, interval, value time.Duration) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(interval/time.Second))
	le.PutUint64(b[8:], uint64(interval%time.Second/time.Microsecond))
	le.PutUint64(b[16:], uint64(value/time.Second))
	le.PutUint64(b[24:], uint64(value%time.Second/time.Microsecond))
}

func sysSetitimer(t *Thread, a *[6]uint64) int64 {
	if a[0] > 2 {
		return -EINVAL
	}
	var b [32]byte
	if a[1] != 0 {
		if e := t.get(a[1], b[:]); e != 0 {
			return e
		}
	}
	le := binary.LittleEndian
	iv := time.Duration(le.Uint64(b[0:]))*time.Second + time.Duration(le.Uint64(b[8:]))*time.Microsecond
	v := time.Duration(le.Uint64(b[16:]))*time.Second + time.Duration(le.Uint64(b[24:]))*time.Microsecond
	if int64(le.Uint64(b[8:])) < 0 || le.Uint64(b[8:]) >= 1e6 || int64(le.Uint64(b[24:])) < 0 || le.Uint64(b[24:]) >= 1e6 {
		return -EINVAL
	}
	var left, oldIv time.Duration
	if a[0] == 0 {
		left, oldIv = t.setAlarm(v, iv)
	} else {
		left, oldIv = t.setCPUTimer(int(a[0]), v, iv)
	}
	if a[2] != 0 {
		var o [32]byte
		putTimevalPair(o[:], oldIv, left)
		return t.put(a[2], o[:])
	}
	return 0
}

func sysGetitimer(t *Thread, a *[6]uint64) int64 {
	if a[0] > 2 {
		return -EINVAL
	}
	var o [32]byte
	if a[0] == 0 {
		sb, p := t.sb, t.proc
		sb.mu.Lock()
		var left time.Duration
		if p.alarm != nil {
			left = max(time.Until(p.alarmAt), time.Microsecond)
		}
		putTimevalPair(o[:], p.alarmEvery, left)
		sb.mu.Unlock()
	} else {
		left, iv := t.cpuTimerLeft(int(a[0]))
		putTimevalPair(o[:], iv, left)
	}
	return t.put(a[1], o[:])
}

var _ = unix.SIGCHLD
