//go:build linux && amd64

package syscall

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// procFlags is per-process state set by prctl.
type procFlags struct {
	dumpable, noNewPrivs, keepCaps, subreaper bool
	pdeathsig                                 int
}

type cred struct {
	uid, euid, suid, fsuid uint32
	gid, egid, sgid, fsgid uint32
	groups                 []uint32
	caps                   Caps
}

// sigAction is a guest's rt_sigaction record.
type sigAction struct {
	handler, flags, restorer, mask uint64
}

// fsState is what CLONE_FS shares: the working directory and umask.
type fsState struct {
	cwd   string     // a host path in sysroot mode, a guest path in a confined root
	dir   *cwdDir    // sysroot mode: cwd held open
	root  *chrootDir // set by chroot, nil for the sandbox's root
	umask uint32
}

// sigHand is what CLONE_SIGHAND shares: the signal actions.
type sigHand struct {
	mu      sync.Mutex
	actions [NSIG]sigAction
	users   int // processes sharing it beyond the first (CLONE_SIGHAND)
}

func (h *sigHand) get(sig int) sigAction {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.actions[sig-1]
}

// Process is one guest process: an address space and Linux process state.
type Process struct {
	sb      *Sandbox
	pid     int
	as      *mm.AddressSpace
	asOwned bool // holds a reference to as (a CLONE_VM child shares its parent's)
	fds     *fdTable
	fs      *fsState
	sig     *sigHand
	cred    cred
	comm    string
	argv    []string // as the last execve gave it
	strs    stackStrings
	born    time.Time
	exePath string
	rlimits map[int]unix.Rlimit
	flags   procFlags

	// Guarded by sb.mu.
	parent     *Process
	children   map[int]*Process
	threads    map[int]*Thread
	pgid, sid  int
	pending    sigQueue
	exitSignal int  // sent to the parent at exit (SIGCHLD for fork)
	zombie     bool // exited, not yet reaped
	status     int  // wait status once a zombie
	stopped    bool // stopped by a signal
	event      int  // unreported stop (0x7f|sig<<8) or continue (0xffff)
	vforkDone  chan struct{}
	pidfds     []int // host eventfds of pidfds for it, signalled at its end
	alarm      *time.Timer
	alarmAt    time.Time
	alarmEvery time.Duration
	cpuTimers  [2]*cpuTimer // ITIMER_VIRTUAL, ITIMER_PROF
	exiting    atomic.Bool
	exitStatus int           // wait status decided by exit_group or a fatal signal
	execed     bool          // has called execve (the parent may no longer setpgid it)
	cont       chan struct{} // closed when a stopped process continues
	external   chan struct{} // an Exec'd process's: closed at its exit
}

// Wait-status encodings.
func waitExited(code int) int { return (code & 0xff) << 8 }
func waitSignaled(sig int, core bool) int {
	if core {
		return sig | 0x80
	}
	return sig
}

// Status converts a wait status for the CLI.
func statusOf(ws int) ExitStatus {
	if ws&0x7f == 0 {
		return ExitStatus{Code: ws >> 8 & 0xff}
	}
	return ExitStatus{Signal: ws & 0x7f}
}

// newProcess makes a process with no parent: the first one (pid 1) or
// one started by Exec. cwd is in the resolver's form; cred nil is the
// host's identity.
func (sb *Sandbox) newProcess(pid int, cwd string, c *Cred) (*Process, error) {
	as, err := mm.NewAddressSpace(sb.phys, sb.kernel)
	if err != nil {
		return nil, err
	}
	sb.xlTrack(as)
	var uid, gid uint32
	var groups []uint32
	if c != nil {
		uid, gid, groups = c.UID, c.GID, append([]uint32(nil), c.Groups...)
	} else {
		uid, gid = uint32(unix.Getuid()), uint32(unix.Getgid())
		if gs, err := unix.Getgroups(); err == nil {
			for _, g := range gs {
				groups = append(groups, uint32(g))
			}
		}
	}
	umask := uint32(0o022)
	if sb.cfg.Umask != nil {
		umask = *sb.cfg.Umask & 0o777
	}
	var dir *cwdDir
	if !sb.res.Confined() {
		dir = openCwdDir(cwd)
	}
	p := &Process{sb: sb, pid: pid, pgid: pid, sid: pid, as: as, asOwned: true, fds: newFDTable(), born: time.Now(),
		fs: &fsState{cwd: cwd, dir: dir, umask: umask}, sig: &sigHand{},
		flags:    procFlags{dumpable: true},
		cred:     cred{uid: uid, euid: uid, suid: uid, fsuid: uid, gid: gid, egid: gid, sgid: gid, fsgid: gid, groups: groups, caps: hostCaps()},
		rlimits:  map[int]unix.Rlimit{},
		children: map[int]*Process{}, threads: map[int]*Thread{}, exitSignal: SIGCHLD}
	if sb.cfg.Caps != nil {
		p.cred.caps = *sb.cfg.Caps
	}
	for _, r := range sb.cfg.Rlimits {
		p.rlimits[r.Resource] = unix.Rlimit{Cur: r.Cur, Max: r.Max}
	}
	sb.mu.Lock()
	sb.procs[pid] = p
	if pid == 1 {
		sb.lastPID = 1
		sb.init = p
	}
	sb.mu.Unlock()
	return p, nil
}

// allocPID returns a free pid; sb.mu is held.
func (sb *Sandbox) allocPID() int {
	for {
		sb.lastPID++
		if sb.lastPID >= pidMax {
			sb.lastPID = 2
		}
		if sb.procs[sb.lastPID] == nil && sb.tids[sb.lastPID] == nil {
			return sb.lastPID
		}
	}
}

const pidMax = 4194304

// removeThread takes t out of its process and reports whether it was the
// last thread.
func (p *Process) removeThread(t *Thread) bool {
	sb := p.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	delete(p.threads, t.tid)
	delete(sb.tids, t.tid)
	return len(p.threads) == 0
}

// exitGroup ends every thread of the process with wait status ws; the
// first caller decides the status.
func (p *Process) exitGroup(ws int) {
	p.sb.mu.Lock()
	defer p.sb.mu.Unlock()
	p.exitGroupLocked(ws)
}

// exitGroupLocked is exitGroup with sb.mu held.
func (p *Process) exitGroupLocked(ws int) {
	if !p.exiting.CompareAndSwap(false, true) {
		return
	}
	p.exitStatus = ws
	if p.sb.paused {
		p.sb.resume.Broadcast() // paused threads must see that they end
	}
	for _, t := range p.threads {
		t.killed.Store(true)
		t.wake()
	}
	if p.stopped {
		p.stopped = false
		close(p.cont)
	}
}

// finish turns an exited process into a zombie for its parent (or reaps
// it at once when the parent does not wait), reparents its children and
// releases its resources. The first process's end ends the sandbox.
func (p *Process) finish() {
	sb := p.sb
	if !p.exiting.Load() {
		p.exiting.Store(true)
	}
	p.fds.release()
	// When the sandbox ends, guest RAM goes back to the host in one piece;
	// freeing each frame first would only cost time.
	ending := p == sb.init
	select {
	case <-sb.done:
		ending = true
	default:
	}
	if p.asOwned && !ending {
		p.as.Release()
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if p.alarm != nil {
		p.alarm.Stop()
	}
	if p.vforkDone != nil {
		close(p.vforkDone)
		p.vforkDone = nil
	}
	p.zombie = true
	p.status = p.exitStatus
	p.endPidfdsLocked()
	sb.hangupLocked(p)
	// Orphans go to the nearest living ancestor that is a subreaper, else
	// to the first process.
	reaper := sb.init
	for a := p.parent; a != nil; a = a.parent {
		if a.flags.subreaper && !a.zombie && !a.exiting.Load() {
			reaper = a
			break
		}
	}
	for _, c := range p.children {
		c.parent = reaper
		if reaper != nil && reaper != p {
			reaper.children[c.pid] = c
			if c.zombie {
				sb.notifyParentLocked(c)
			}
		}
		if pd := c.flags.pdeathsig; pd != 0 && !c.zombie {
			sb.sendLocked(c, nil, pd, sigInfo{signo: int32(pd), code: siUser})
		}
	}
	p.children = map[int]*Process{}
	if p == sb.init {
		sb.initStatus = p.status
		delete(sb.procs, p.pid)
		// As in a pid namespace: when the first process ends, all do.
		for _, q := range sb.procs {
			if !q.zombie {
				q.exitGroupLocked(waitSignaled(SIGKILL, false))
			}
		}
		close(sb.done)
		sb.broadcastLocked()
		return
	}
	sb.notifyParentLocked(p)
	if p.external != nil {
		close(p.external)
		p.external = nil
	}
	sb.broadcastLocked()
}

// notifyParentLocked tells p's parent that p exited: SIGCHLD, or an
// immediate reap when the parent ignores SIGCHLD or set SA_NOCLDWAIT.
func (sb *Sandbox) notifyParentLocked(p *Process) {
	parent := p.parent
	if parent == nil || parent.zombie {
		delete(sb.procs, p.pid)
		return
	}
	act := parent.sig.get(SIGCHLD)
	if p.exitSignal == SIGCHLD && (act.handler == sigIgn || act.flags&saNocldwait != 0) {
		delete(sb.procs, p.pid)
		delete(parent.children, p.pid)
		if act.handler == sigIgn {
			return
		}
		// SA_NOCLDWAIT reaps at once, yet a handler still hears of it.
	}
	if p.exitSignal > 0 {
		code, status := childCode(p.status)
		sb.sendLocked(parent, nil, p.exitSignal, sigInfo{signo: int32(p.exitSignal), code: code,
			pid: int32(p.pid), uid: int32(p.cred.uid), status: int32(status)})
	}
}

// childCode gives the si_code and si_status of a wait status.
func childCode(ws int) (code int32, status int) {
	switch {
	case ws&0x7f == 0:
		return cldExited, ws >> 8 & 0xff
	case ws == 0xffff:
		return cldContinued, SIGCONT
	case ws&0xff == 0x7f:
		return cldStopped, ws >> 8 & 0xff
	case ws&0x80 != 0:
		return cldDumped, ws & 0x7f
	}
	return cldKilled, ws & 0x7f
}

// broadcastLocked wakes every thread waiting for a process state change
// (Thread.notify: its OS thread directly; through a channel the Go
// scheduler took two or three thread wake-ups, tens of microseconds each on
// a nested host, on every fork+exec+wait).
func (sb *Sandbox) broadcastLocked() {
	for t := range sb.waiters {
		t.notify()
	}
}

// fdTable users for CLONE_FILES sharing.
func (ft *fdTable) retain() *fdTable {
	ft.mu.Lock()
	ft.users++
	ft.mu.Unlock()
	return ft
}

// release drops one user and closes every fd with the last one.
func (ft *fdTable) release() {
	ft.mu.Lock()
	ft.users--
	last := ft.users <= 0
	ft.mu.Unlock()
	if last {
		ft.closeAll()
	}
}

// clone copies the table for a child (dup of every host fd, as the
// child's fds share the open files).
func (ft *fdTable) clone() (*fdTable, error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	n := &fdTable{users: 1, fds: make([]*fdEntry, len(ft.fds))}
	for i, e := range ft.fds {
		if e == nil {
			continue
		}
		h, err := unix.FcntlInt(uintptr(e.host), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			n.closeAll()
			return nil, err
		}
		ne := *e
		ne.host = h
		n.fds[i] = &ne
	}
	return n, nil
}

// closeOnExec closes the fds marked close-on-exec.
func (ft *fdTable) closeOnExec() {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for i, e := range ft.fds {
		if e != nil && e.cloexec {
			ft.closeHost(e)
			ft.fds[i] = nil
		}
	}
}
