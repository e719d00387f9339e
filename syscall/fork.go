//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"maps"
	"time"

	"github.com/elfuse/elfuse/arch/amd64"
	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// clone(2) flags.
const (
	cloneVM            = 0x100
	cloneFS            = 0x200
	cloneFiles         = 0x400
	cloneSighand       = 0x800
	clonePidfd         = 0x1000
	clonePtrace        = 0x2000
	cloneVfork         = 0x4000
	cloneParent        = 0x8000
	cloneThread        = 0x10000
	cloneNewns         = 0x20000
	cloneSysvsem       = 0x40000
	cloneSettls        = 0x80000
	cloneParentSettid  = 0x100000
	cloneChildCleartid = 0x200000
	cloneDetached      = 0x400000
	cloneUntraced      = 0x800000
	cloneChildSettid   = 0x1000000
	cloneNewFlags      = 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | cloneNewns
)

func sysFork(t *Thread, a *[6]uint64) int64 { return t.clone(SIGCHLD, 0, 0, 0, 0) }
func sysVfork(t *Thread, a *[6]uint64) int64 {
	return t.clone(cloneVM|cloneVfork|SIGCHLD, 0, 0, 0, 0)
}

// clone(flags, newsp, parent_tid, child_tid, tls) on amd64.
func sysClone(t *Thread, a *[6]uint64) int64 { return t.clone(a[0], a[1], a[2], a[3], a[4]) }

func sysClone3(t *Thread, a *[6]uint64) int64 {
	size := a[1]
	if size < 64 || size > 4096 {
		return -EINVAL
	}
	b := make([]byte, size)
	if e := t.get(a[0], b); e != 0 {
		return e
	}
	for _, c := range b[88:] {
		if c != 0 && size > 88 {
			return -E2BIG
		}
	}
	le := binary.LittleEndian
	flags, childTID, parentTID := le.Uint64(b[0:]), le.Uint64(b[16:]), le.Uint64(b[24:])
	exitSig, stack, stackSize, tls := le.Uint64(b[32:]), le.Uint64(b[40:]), le.Uint64(b[48:]), le.Uint64(b[56:])
	if flags&0xff != 0 || exitSig > NSIG || size >= 72 && le.Uint64(b[64:]) != 0 {
		return -EINVAL // exit signal goes in its own field; set_tid needs privileges we do not model
	}
	sp := uint64(0)
	if stack != 0 {
		sp = stack + stackSize
	}
	return t.clone(flags|exitSig, sp, parentTID, childTID, tls)
}

func (t *Thread) clone(flags, newsp, ptid, ctid, tls uint64) int64 {
	if flags&cloneThread != 0 {
		if flags&cloneSighand == 0 || flags&cloneVM == 0 {
			return -EINVAL
		}
		return t.cloneThread(flags, newsp, ptid, ctid, tls)
	}
	if flags&cloneSighand != 0 && flags&cloneVM == 0 || flags&cloneFS != 0 && flags&cloneNewns != 0 {
		return -EINVAL
	}
	if flags&cloneNewFlags != 0 {
		return -EPERM // a sandbox makes no namespaces inside itself
	}
	sb, p := t.sb, t.proc
	xs, err := t.cpu.GetXSAVE()
	if err != nil {
		return -ENOMEM
	}
	c := &Process{sb: sb, cred: p.cred, comm: p.comm, argv: p.argv, exePath: p.exePath, flags: p.flags, strs: p.strs, born: time.Now(),
		children: map[int]*Process{}, threads: map[int]*Thread{}, exitSignal: int(flags & 0xff)}
	c.cred.groups = append([]uint32(nil), p.cred.groups...)
	c.rlimits = maps.Clone(p.rlimits)
	c.flags.pdeathsig = 0
	if flags&cloneVM != 0 {
		// The child runs on the parent's memory, and holds a reference
		// to it: the parent may exit or exec before the child does.
		c.as, c.asOwned = p.as.Share(), true
	} else {
		// The pages around the stack pointer and the thread's TLS block
		// (glibc's child writes its tid there): both processes write them
		// as soon as the call returns.
		sp, tls := t.regs.RSP&^(mm.PageSize-1), t.sregs.FS.Base&^(mm.PageSize-1)
		if c.as, err = p.as.Fork(sp-mm.PageSize, sp, sp+mm.PageSize, tls); err != nil {
			return -ENOMEM
		}
		if xs := xlSpaceOf(p.as); xs != nil {
			c.as.Ext = xs.fork(c.as)
		}
		c.asOwned = true
	}
	if flags&cloneFiles != 0 {
		c.fds = p.fds.retain()
	} else if c.fds, err = p.fds.clone(); err != nil {
		if c.asOwned {
			c.as.Release()
		}
		return errno(err)
	}
	if flags&cloneFS != 0 {
		c.fs = p.fs
	} else {
		fs := *p.fs
		c.fs = &fs
	}
	if flags&cloneSighand != 0 {
		c.sig = p.sig
		p.sig.mu.Lock()
		p.sig.users++
		p.sig.mu.Unlock()
	} else {
		c.sig = &sigHand{}
		p.sig.mu.Lock()
		c.sig.actions = p.sig.actions
		p.sig.mu.Unlock()
	}
	sb.mu.Lock()
	pid := sb.allocPID()
	c.pid = pid
	c.pgid, c.sid = p.pgid, p.sid
	c.parent = p
	if flags&cloneParent != 0 && p.parent != nil {
		c.parent = p.parent
	}
	sb.mu.Unlock()
	th, err := sb.newThread(c, pid)
	if err != nil {
		c.fds.release()
		if c.asOwned {
			c.as.Release()
		}
		return errno(err)
	}
	inheritSched(t, th)
	th.sigmask = t.sigmask
	th.altstack = t.altstack
	if flags&cloneVM != 0 && flags&cloneVfork == 0 {
		th.altstack = [3]uint64{0, ssDisable, 0}
	}
	st := t.childStart(th, c.as, flags, newsp, ptid, ctid, tls, xs)
	var vforkDone chan struct{}
	if flags&cloneVfork != 0 {
		vforkDone = make(chan struct{})
		c.vforkDone = vforkDone
	}
	sb.mu.Lock()
	sb.procs[pid] = c
	sb.tids[pid] = th
	c.threads[pid] = th
	c.parent.children[pid] = c
	sb.mu.Unlock()
	th.start(st)
	if vforkDone != nil {
		// The parent sleeps until the child execs or exits (only SIGKILL
		// ends the wait, as on Linux).
		t.block()
		defer t.unblock()
		for {
			select {
			case <-vforkDone:
				return int64(pid)
			case <-t.intr:
				if t.killed.Load() {
					return int64(pid)
				}
			}
		}
	}
	return int64(pid)
}

// cloneThread starts a thread in the caller's process, on a vCPU of its
// own, sharing everything CLONE_THREAD shares.
func (t *Thread) cloneThread(flags, newsp, ptid, ctid, tls uint64) int64 {
	sb, p := t.sb, t.proc
	if p.exiting.Load() {
		return -EAGAIN
	}
	xs, err := t.cpu.GetXSAVE()
	if err != nil {
		return -ENOMEM
	}
	sb.mu.Lock()
	tid := sb.allocPID()
	sb.mu.Unlock()
	th, err := sb.newThread(p, tid)
	if err != nil {
		return errno(err)
	}
	inheritSched(t, th)
	th.sigmask = t.sigmask
	th.altstack = [3]uint64{0, ssDisable, 0}
	st := t.childStart(th, p.as, flags, newsp, ptid, ctid, tls, xs)
	sb.mu.Lock()
	if sb.vcpus() >= sb.maxThreads() {
		sb.mu.Unlock()
		unix.Close(th.wakeFD)
		return -EAGAIN
	}
	p.threads[tid] = th
	sb.tids[tid] = th
	sb.mu.Unlock()
	th.start(st)
	return int64(tid)
}

// childStart is the state clone's new thread th starts in, with the tid
// words CLONE_PARENT_SETTID and CLONE_CHILD_SETTID ask for written (as on
// Linux, a bad address there is not an error of clone).
func (t *Thread) childStart(th *Thread, childAS *mm.AddressSpace, flags, newsp, ptid, ctid, tls uint64, xs []byte) startState {
	st := startState{regs: *t.regs, fs: t.sregs.FS.Base, gs: t.guestGS, xsave: xs}
	st.regs.RAX = 0
	if newsp != 0 {
		st.regs.RSP = newsp
	}
	if flags&cloneSettls != 0 {
		st.fs = tls
	}
	if flags&cloneParentSettid != 0 {
		t.proc.as.WriteU32(ptid, uint32(th.tid))
	}
	if flags&cloneChildSettid != 0 {
		childAS.WriteU32(ctid, uint32(th.tid))
	}
	if flags&cloneChildCleartid != 0 {
		th.clearTID = ctid
	}
	return st
}

// vcpus is the number of guest threads; sb.mu is held.
func (sb *Sandbox) vcpus() int { return len(sb.tids) }

// maxThreads is how many guest threads may run at once: KVM's vCPU limit.
func (sb *Sandbox) maxThreads() int {
	if n := sb.sys.MaxVCPUs(); n > 0 {
		return min(n, amd64.MaxVCPUAreas)
	}
	return amd64.MaxVCPUAreas
}

func sysGetppid(t *Thread, a *[6]uint64) int64 {
	t.sb.mu.Lock()
	defer t.sb.mu.Unlock()
	if t.proc.parent == nil {
		return 0
	}
	return int64(t.proc.parent.pid)
}

func (t *Thread) procByPID(pid int) *Process {
	if pid == 0 {
		return t.proc
	}
	if p := t.sb.procs[pid]; p != nil && !p.zombie {
		return p
	}
	return nil
}

func sysGetpgid(t *Thread, a *[6]uint64) int64 {
	t.sb.mu.Lock()
	defer t.sb.mu.Unlock()
	p := t.procByPID(int(int32(a[0])))
	if p == nil {
		return -ESRCH
	}
	return int64(p.pgid)
}

func sysGetpgrp(t *Thread, a *[6]uint64) int64 { return sysGetpgid(t, &[6]uint64{}) }

func sysGetsid(t *Thread, a *[6]uint64) int64 {
	t.sb.mu.Lock()
	defer t.sb.mu.Unlock()
	p := t.procByPID(int(int32(a[0])))
	if p == nil {
		return -ESRCH
	}
	return int64(p.sid)
}

func sysSetpgid(t *Thread, a *[6]uint64) int64 {
	pid, pgid := int(int32(a[0])), int(int32(a[1]))
	if pgid < 0 {
		return -EINVAL
	}
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	p := t.procByPID(pid)
	if p == nil || p != t.proc && p.parent != t.proc {
		return -ESRCH
	}
	if p != t.proc {
		if p.sid != t.proc.sid {
			return -EPERM
		}
		if p.execed {
			return -EACCES
		}
	}
	if p.sid == p.pid {
		return -EPERM // a session leader keeps its group
	}
	if pgid == 0 {
		pgid = p.pid
	}
	if pgid != p.pid {
		found := false
		for _, q := range sb.procs {
			if q.pgid == pgid && q.sid == t.proc.sid && !q.zombie {
				found = true
				break
			}
		}
		if !found {
			return -EPERM
		}
	}
	p.pgid = pgid
	return 0
}

func sysSetsid(t *Thread, a *[6]uint64) int64 {
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	p := t.proc
	for _, q := range sb.procs {
		if q.pgid == p.pid && !q.zombie {
			return -EPERM
		}
	}
	p.sid, p.pgid = p.pid, p.pid
	return int64(p.pid)
}

var _ = unix.EAGAIN
