//go:build linux && amd64

package syscall

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// Linux terminal and file ioctl requests.
const (
	tcgets     = 0x5401
	tcsets     = 0x5402
	tcsetsw    = 0x5403
	tcsetsf    = 0x5404
	tiocgpgrp  = 0x540f
	tiocspgrp  = 0x5410
	tiocgwinsz = 0x5413
	tiocswinsz = 0x5414
	fionread   = 0x541b
	tiocsctty  = 0x540e
	tiocnotty  = 0x5422
	tiocgsid   = 0x5429
	fionbio    = 0x5421
	fionclex   = 0x5450
	fioclex    = 0x5451
)

func sysIoctl(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	req, arg := a[1], a[2]
	switch req {
	case fioclex:
		f.cloexec = true
		return 0
	case fionclex:
		f.cloexec = false
		return 0
	case fionbio:
		var b [4]byte
		if e := t.get(arg, b[:]); e != 0 {
			return e
		}
		return errno(unix.SetNonblock(f.host, binary.LittleEndian.Uint32(b[:]) != 0))
	case fionread:
		n, err := unix.IoctlGetInt(f.host, unix.TIOCINQ)
		if err != nil {
			return errno(err)
		}
		return t.putU32(arg, uint32(n))
	case tcgets:
		tio, err := unix.IoctlGetTermios(f.host, unix.TCGETS)
		if err != nil {
			return errno(err)
		}
		var b [36]byte
		le := binary.LittleEndian
		le.PutUint32(b[0:], tio.Iflag)
		le.PutUint32(b[4:], tio.Oflag)
		le.PutUint32(b[8:], tio.Cflag)
		le.PutUint32(b[12:], tio.Lflag)
		b[16] = tio.Line
		copy(b[17:], tio.Cc[:19])
		return t.put(arg, b[:])
	case tcsets, tcsetsw, tcsetsf:
		var b [36]byte
		if e := t.get(arg, b[:]); e != 0 {
			return e
		}
		tio, err := unix.IoctlGetTermios(f.host, unix.TCGETS)
		if err != nil {
			return errno(err)
		}
		le := binary.LittleEndian
		tio.Iflag, tio.Oflag, tio.Cflag, tio.Lflag = le.Uint32(b[0:]), le.Uint32(b[4:]), le.Uint32(b[8:]), le.Uint32(b[12:])
		tio.Line = b[16]
		copy(tio.Cc[:19], b[17:36])
		host := map[uint64]uint{tcsets: unix.TCSETS, tcsetsw: unix.TCSETSW, tcsetsf: unix.TCSETSF}[req]
		return errno(unix.IoctlSetTermios(f.host, host, tio))
	case tiocgwinsz:
		ws, err := unix.IoctlGetWinsize(f.host, unix.TIOCGWINSZ)
		if err != nil {
			return errno(err)
		}
		var b [8]byte
		le := binary.LittleEndian
		le.PutUint16(b[0:], ws.Row)
		le.PutUint16(b[2:], ws.Col)
		le.PutUint16(b[4:], ws.Xpixel)
		le.PutUint16(b[6:], ws.Ypixel)
		return t.put(arg, b[:])
	case tiocswinsz:
		var b [8]byte
		if e := t.get(arg, b[:]); e != 0 {
			return e
		}
		le := binary.LittleEndian
		return errno(unix.IoctlSetWinsize(f.host, unix.TIOCSWINSZ, &unix.Winsize{Row: le.Uint16(b[0:]), Col: le.Uint16(b[2:]), Xpixel: le.Uint16(b[4:]), Ypixel: le.Uint16(b[6:])}))
	case tiocgpgrp, tiocspgrp, tiocgsid, tiocsctty, tiocnotty:
		// The host terminal's process groups are the host's; the guest's
		// live in the sandbox (see forwardSignals).
		if _, err := unix.IoctlGetTermios(f.host, unix.TCGETS); err != nil {
			return errno(err)
		}
		return t.ttyIoctl(req, arg)
	}
	return -ENOTTY
}

// ttyIoctl serves the job-control requests on a terminal: the foreground
// process group and the session are the sandbox's own.
func (t *Thread) ttyIoctl(req, arg uint64) int64 {
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	switch req {
	case tiocgpgrp:
		return t.putU32(arg, uint32(sb.ttyForegroundLocked()))
	case tiocgsid:
		if sb.ttySID == 0 {
			return t.putU32(arg, 1)
		}
		return t.putU32(arg, uint32(sb.ttySID))
	case tiocsctty:
		if t.proc.sid != t.proc.pid {
			return -EPERM
		}
		sb.ttySID, sb.ttyFg = t.proc.sid, t.proc.pgid
		return 0
	case tiocnotty:
		return 0
	}
	var b [4]byte
	if e := t.get(arg, b[:]); e != 0 {
		return e
	}
	pgid := int(int32(binary.LittleEndian.Uint32(b[:])))
	if pgid < 0 {
		return -EINVAL
	}
	for _, q := range sb.procs {
		if q.pgid == pgid && !q.zombie {
			if q.sid != t.proc.sid {
				return -EPERM
			}
			sb.ttyFg = pgid
			return 0
		}
	}
	return -ESRCH
}

// ttyForegroundLocked is the guest's foreground process group: the one
// set with TIOCSPGRP, else the first process's.
func (sb *Sandbox) ttyForegroundLocked() int {
	if sb.ttyFg != 0 {
		return sb.ttyFg
	}
	if sb.init != nil {
		return sb.init.pgid
	}
	return 1
}

// signalGroupLocked sends sig to every live process of process group pgid.
func (sb *Sandbox) signalGroupLocked(pgid, sig int) {
	for _, p := range sb.procs {
		if p.pgid == pgid && !p.zombie {
			sb.sendLocked(p, nil, sig, sigInfo{code: siKernel})
		}
	}
}

// hangupLocked is the terminal's hang-up when the session leader that
// holds it exits: its foreground group gets SIGHUP and SIGCONT, and the
// session loses the terminal.
func (sb *Sandbox) hangupLocked(p *Process) {
	if sb.ttySID == 0 || p.pid != sb.ttySID {
		return
	}
	if fg := sb.ttyFg; fg != 0 {
		sb.signalGroupLocked(fg, SIGHUP)
		sb.signalGroupLocked(fg, SIGCONT)
	}
	sb.ttySID, sb.ttyFg = 0, 0
}

// backgroundRead applies job control to a read of the terminal: a process
// outside the foreground group gets SIGTTIN (its group does) and the read
// waits for it, unless the process ignores or blocks SIGTTIN or its group
// is orphaned, when the read fails with EIO. It returns 0 when the read
// may go on.
func (t *Thread) backgroundRead(f *fdEntry) int64 {
	sb := t.sb
	sb.mu.Lock()
	fg := sb.ttyFg
	sb.mu.Unlock()
	if fg == 0 || t.proc.pgid == fg || !f.mayBlock() {
		return 0
	}
	if _, err := unix.IoctlGetTermios(f.host, unix.TCGETS); err != nil {
		return 0 // not a terminal
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if t.proc.sid != sb.ttySID && sb.ttySID != 0 {
		return 0
	}
	if t.sigmask&sigBit(SIGTTIN) != 0 || t.proc.sig.get(SIGTTIN).handler == sigIgn {
		return -EIO
	}
	sb.signalGroupLocked(t.proc.pgid, SIGTTIN)
	return -ERESTARTSYS
}
