//go:build linux && amd64

package syscall

import (
	"bytes"
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux terminal and file ioctl requests.
const (
	tcgets      = 0x5401
	tcsets      = 0x5402
	tcsetsw     = 0x5403
	tcsetsf     = 0x5404
	tiocgpgrp   = 0x540f
	tiocspgrp   = 0x5410
	tiocgwinsz  = 0x5413
	tiocswinsz  = 0x5414
	fionread    = 0x541b
	tiocsctty   = 0x540e
	tiocnotty   = 0x5422
	tiocgsid    = 0x5429
	fionbio     = 0x5421
	fionclex    = 0x5450
	fioclex     = 0x5451
	tiocgptn    = 0x80045430
	tiocsptlck  = 0x40045431
	tiocgptlck  = 0x80045439
	tiocgptpeer = 0x5441
)

func sysIoctl(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	// The request is an unsigned int: musl passes it sign-extended.
	req, arg := uint64(uint32(a[1])), a[2]
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
	case tiocgptn, tiocgptlck:
		// A pseudo-terminal master's number, or whether it is locked.
		host := map[uint64]uint{tiocgptn: unix.TIOCGPTN, tiocgptlck: unix.TIOCGPTLCK}[req]
		n, err := unix.IoctlGetUint32(f.host, host)
		if err != nil {
			return errno(err)
		}
		return t.putU32(arg, n)
	case tiocsptlck:
		var b [4]byte
		if e := t.get(arg, b[:]); e != 0 {
			return e
		}
		return errno(unix.IoctlSetPointerInt(f.host, unix.TIOCSPTLCK, int(int32(binary.LittleEndian.Uint32(b[:])))))
	case tiocgptpeer:
		return t.ptyPeer(f, arg)
	case tiocgpgrp, tiocspgrp, tiocgsid, tiocsctty, tiocnotty:
		// The host terminal's process groups are the host's; the guest's
		// live in the sandbox (see forwardSignals).
		if _, err := unix.IoctlGetTermios(f.host, unix.TCGETS); err != nil {
			return errno(err)
		}
		return t.ttyIoctl(f, req, arg)
	}
	if ifreqGets[req] {
		return t.ifreqGet(f, req, arg)
	}
	return -ENOTTY
}

// ifreqGets are the socket ioctls that read one interface's settings
// through a struct ifreq (40 bytes on amd64, the same on the host), as
// ip, ifconfig and getifaddrs' fallbacks use them.
var ifreqGets = map[uint64]bool{
	0x8910: true, // SIOCGIFNAME
	0x8913: true, // SIOCGIFFLAGS
	0x8915: true, // SIOCGIFADDR
	0x8917: true, // SIOCGIFDSTADDR
	0x8919: true, // SIOCGIFBRDADDR
	0x891b: true, // SIOCGIFNETMASK
	0x891d: true, // SIOCGIFMETRIC
	0x8921: true, // SIOCGIFMTU
	0x8927: true, // SIOCGIFHWADDR
	0x8933: true, // SIOCGIFINDEX
	0x8942: true, // SIOCGIFTXQLEN
}

// ifreqGet runs one of ifreqGets on the host socket.
func (t *Thread) ifreqGet(f *fdEntry, req, arg uint64) int64 {
	var ifr [40]byte
	if e := t.get(arg, ifr[:]); e != 0 {
		return e
	}
	if req != 0x8910 && bytes.IndexByte(ifr[:16], 0) < 0 {
		return -EINVAL // the name must end within IFNAMSIZ
	}
	if _, _, en := unix.Syscall(unix.SYS_IOCTL, uintptr(f.host), uintptr(req), uintptr(unsafe.Pointer(&ifr[0]))); en != 0 {
		return errno(en)
	}
	return t.put(arg, ifr[:])
}

// ttyState is the guest's view of one terminal: the session it is the
// controlling terminal of and its foreground process group.
type ttyState struct{ sid, fg int }

// ttyKey identifies a host terminal by its device number; /dev/tty (the
// opener's controlling terminal) is the terminal elfuse started on.
func (sb *Sandbox) ttyKey(hostFD int) (uint64, bool) {
	var st unix.Stat_t
	if unix.Fstat(hostFD, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return 0, false
	}
	if st.Rdev == unix.Mkdev(5, 0) && sb.startTTY != 0 {
		return sb.startTTY, true
	}
	return st.Rdev, true
}

// ttyIoctl serves the job-control requests on a terminal: the foreground
// process group and the session are the sandbox's own, per terminal.
func (t *Thread) ttyIoctl(f *fdEntry, req, arg uint64) int64 {
	sb := t.sb
	key, ok := sb.ttyKey(f.host)
	if !ok {
		return -ENOTTY
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	st := sb.ttys[key]
	switch req {
	case tiocgpgrp:
		if st == nil || st.fg == 0 {
			// No session holds it yet: the first process's group, as the
			// terminal a container starts on.
			return t.putU32(arg, uint32(sb.ttyDefaultLocked()))
		}
		return t.putU32(arg, uint32(st.fg))
	case tiocgsid:
		if st == nil {
			return t.putU32(arg, uint32(sb.ttyDefaultLocked()))
		}
		return t.putU32(arg, uint32(st.sid))
	case tiocsctty:
		if t.proc.sid != t.proc.pid {
			return -EPERM
		}
		sb.ttys[key] = &ttyState{sid: t.proc.sid, fg: t.proc.pgid}
		return 0
	case tiocnotty:
		if st != nil && st.sid == t.proc.sid {
			delete(sb.ttys, key)
		}
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
			if st == nil {
				st = &ttyState{sid: t.proc.sid}
				sb.ttys[key] = st
			}
			st.fg = pgid
			return 0
		}
	}
	return -ESRCH
}

// ttyDefaultLocked is the first process's group (and session).
func (sb *Sandbox) ttyDefaultLocked() int {
	if sb.init != nil {
		return sb.init.pgid
	}
	return 1
}

// claimTerminalLocked makes hostFD, when it is a terminal, the controlling
// terminal of session leader p, with p's group in the foreground.
func (sb *Sandbox) claimTerminalLocked(p *Process, hostFD int) {
	if key, ok := sb.ttyKey(hostFD); ok {
		sb.ttys[key] = &ttyState{sid: p.sid, fg: p.pgid}
	}
}

// keyboardGroupLocked is the foreground group of the first process's
// terminal once its session has set one, else 0.
func (sb *Sandbox) keyboardGroupLocked() int {
	if sb.init == nil {
		return 0
	}
	for _, st := range sb.ttys {
		if st.sid == sb.init.sid && st.fg != 0 {
			return st.fg
		}
	}
	return 0
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
	for key, st := range sb.ttys {
		if st.sid != p.pid {
			continue
		}
		if st.fg != 0 {
			sb.signalGroupLocked(st.fg, SIGHUP)
			sb.signalGroupLocked(st.fg, SIGCONT)
		}
		delete(sb.ttys, key)
	}
}

// backgroundRead applies job control to a read of the terminal: a process
// of the terminal's session outside its foreground group gets SIGTTIN
// (its group does) and the read waits for it, unless the process ignores
// or blocks SIGTTIN, when the read fails with EIO. It returns 0 when the
// read may go on.
func (t *Thread) backgroundRead(f *fdEntry) int64 {
	sb := t.sb
	sb.mu.Lock()
	none := len(sb.ttys) == 0
	sb.mu.Unlock()
	if none || !f.mayBlock() {
		return 0
	}
	key, ok := sb.ttyKey(f.host)
	if !ok {
		return 0
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	st := sb.ttys[key]
	if st == nil || st.fg == 0 || t.proc.pgid == st.fg || t.proc.sid != st.sid {
		return 0
	}
	if t.sigmask&sigBit(SIGTTIN) != 0 || t.proc.sig.get(SIGTTIN).handler == sigIgn {
		return -EIO
	}
	sb.signalGroupLocked(t.proc.pgid, SIGTTIN)
	return -ERESTARTSYS
}

// ptyPeer is TIOCGPTPEER: the slave side of a pseudo-terminal master,
// opened with the open flags in arg.
func (t *Thread) ptyPeer(f *fdEntry, arg uint64) int64 {
	hflags := decodeOpenFlags(int(arg&^oCloexec)) | unix.O_CLOEXEC | unix.O_NOCTTY
	fd, _, en := unix.Syscall(unix.SYS_IOCTL, uintptr(f.host), unix.TIOCGPTPEER, uintptr(hflags))
	if en != 0 {
		return errno(en)
	}
	name := "/dev/pts/"
	if n, err := unix.IoctlGetUint32(f.host, unix.TIOCGPTN); err == nil {
		name += itoa(int(n))
	}
	return t.proc.addFD(&fdEntry{host: int(fd), cloexec: arg&oCloexec != 0, path: name, kind: kindStream}, 0)
}
