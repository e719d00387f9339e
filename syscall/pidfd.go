//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"path"
	"strconv"

	"golang.org/x/sys/unix"
)

// pidfds: a descriptor that refers to a guest process (pidfd_open). Its
// host side is an eventfd that becomes readable when the process ends, so
// poll, select and epoll see a pidfd as Linux makes them see it; reading
// it is EINVAL, pidfd_send_signal signals the process and waitid(P_PIDFD)
// waits for it.

const (
	pidfdNonblock = 0o4000 // PIDFD_NONBLOCK (O_NONBLOCK)
	pPIDFD        = 3      // waitid's P_PIDFD
)

func sysPidfdOpen(t *Thread, a *[6]uint64) int64 {
	pid, flags := int(int32(a[0])), a[1]
	if flags&^pidfdNonblock != 0 || pid <= 0 {
		return -EINVAL
	}
	sb := t.sb
	sb.mu.Lock()
	p := sb.procs[pid]
	if p == nil {
		sb.mu.Unlock()
		if sb.tids[pid] != nil {
			return -EINVAL // a thread, not a thread-group leader
		}
		return -ESRCH
	}
	hf := unix.EFD_CLOEXEC | unix.EFD_NONBLOCK
	fd, err := unix.Eventfd(0, hf)
	if err != nil {
		sb.mu.Unlock()
		return errno(err)
	}
	if p.zombie {
		signalPidfd(fd)
	} else if own, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0); err == nil {
		// The process keeps its own descriptor of the eventfd: the guest's
		// may be closed (and its number reused) before the end.
		p.pidfds = append(p.pidfds, own)
	}
	sb.mu.Unlock()
	return t.proc.addFD(&fdEntry{host: fd, cloexec: true, path: "anon_inode:[pidfd]", kind: kindStream, pidfd: p}, 0)
}

// signalPidfd makes a pidfd's eventfd readable.
func signalPidfd(fd int) {
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	unix.Write(fd, one[:])
}

// endPidfdsLocked makes the pidfds of p readable: it has ended (sb.mu).
func (p *Process) endPidfdsLocked() {
	for _, fd := range p.pidfds {
		signalPidfd(fd)
		unix.Close(fd)
	}
	p.pidfds = nil
}

func sysPidfdSendSignal(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	sig, info, flags := int(a[1]), a[2], a[3]
	target := f.pidfd
	if target == nil {
		target = t.procDirProcess(f.path)
	}
	if target == nil {
		return -EBADF
	}
	if flags != 0 || sig < 0 || sig > NSIG {
		return -EINVAL
	}
	si := sigInfo{code: siUser, pid: int32(t.proc.pid), uid: int32(t.proc.cred.uid)}
	if info != 0 {
		raw := make([]byte, 128)
		if e := t.get(info, raw); e != 0 {
			return e
		}
		code := int32(binary.LittleEndian.Uint32(raw[8:]))
		if (code >= 0 || code == siTkill) && target != t.proc {
			return -EPERM
		}
		si = sigInfo{code: code, raw: raw}
	}
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	p := target
	if p.zombie || sb.procs[p.pid] != p {
		return -ESRCH
	}
	if sig != 0 {
		sb.sendLocked(p, nil, sig, si)
	}
	return 0
}

// procDirProcess is the process whose /proc/PID directory the guest path g
// is (Linux takes such a directory's fd as a pidfd), or nil.
func (t *Thread) procDirProcess(g string) *Process {
	res := t.sb.res
	parent := path.Dir(g)
	if res.SyntheticAt(g) != "proc" || res.SyntheticAt(parent) != "proc" || res.SyntheticAt(path.Dir(parent)) == "proc" {
		return nil
	}
	pid, err := strconv.Atoi(path.Base(g))
	if err != nil || itoa(pid) != path.Base(g) {
		return nil
	}
	t.sb.mu.Lock()
	defer t.sb.mu.Unlock()
	return t.sb.procs[pid]
}
