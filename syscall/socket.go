//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"os"
	"path"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sockets are host sockets. Every Linux ABI value the guest hands in
// (families, types, flags, option levels and names, sockaddr and cmsg
// layouts) is decoded here and encoded again for the host through
// x/sys/unix; on a Linux host most of that is the identity.

// Linux socket errno values.
const (
	ENOTSOCK        = 88
	EDESTADDRREQ    = 89
	EMSGSIZE        = 90
	ENOPROTOOPT     = 92
	EPROTONOSUPPORT = 93
	ESOCKTNOSUPPORT = 94
	EAFNOSUPPORT    = 97
	EISCONN         = 106
	ENOTCONN        = 107
	EALREADY        = 114
	EINPROGRESS     = 115
)

// Linux address families, socket types and socket flags.
const (
	afUnspec  = 0
	afUnix    = 1
	afInet    = 2
	afInet6   = 10
	afNetlink = 16

	sockStream    = 1
	sockDgram     = 2
	sockRaw       = 3
	sockSeqpacket = 5
	sockTypeMask  = 0xf
	sockNonblock  = oNonblock
	sockCloexec   = oCloexec

	netlinkRoute = 0

	shutRd   = 0
	shutWr   = 1
	shutRdwr = 2
)

// Linux MSG_* flags.
const (
	msgOob          = 0x1
	msgPeek         = 0x2
	msgDontroute    = 0x4
	msgCtrunc       = 0x8
	msgTrunc        = 0x20
	msgDontwait     = 0x40
	msgEor          = 0x80
	msgWaitall      = 0x100
	msgConfirm      = 0x800
	msgErrqueue     = 0x2000
	msgNosignal     = 0x4000
	msgMore         = 0x8000
	msgWaitforone   = 0x10000
	msgFastopen     = 0x20000000
	msgCmsgCloexec  = 0x40000000
	sockaddrMaxSize = 128
)

// msgFlagMap pairs each Linux MSG_* flag with the host's.
var msgFlagMap = []struct{ linux, host int }{
	{msgOob, unix.MSG_OOB}, {msgPeek, unix.MSG_PEEK}, {msgDontroute, unix.MSG_DONTROUTE},
	{msgCtrunc, unix.MSG_CTRUNC}, {msgTrunc, unix.MSG_TRUNC}, {msgDontwait, unix.MSG_DONTWAIT},
	{msgEor, unix.MSG_EOR}, {msgWaitall, unix.MSG_WAITALL}, {msgConfirm, unix.MSG_CONFIRM},
	{msgErrqueue, unix.MSG_ERRQUEUE}, {msgNosignal, unix.MSG_NOSIGNAL}, {msgMore, unix.MSG_MORE},
	{msgWaitforone, unix.MSG_WAITFORONE}, {msgFastopen, unix.MSG_FASTOPEN},
	{msgCmsgCloexec, unix.MSG_CMSG_CLOEXEC},
}

// decodeMsgFlags turns Linux MSG_* flags into the host's; unknown bits
// fail with EINVAL.
func decodeMsgFlags(f int) (int, int64) {
	h := 0
	for _, m := range msgFlagMap {
		if f&m.linux != 0 {
			h |= m.host
			f &^= m.linux
		}
	}
	if f != 0 {
		return 0, -EINVAL
	}
	return h, 0
}

// encodeMsgFlags turns the host's msg_flags into Linux's.
func encodeMsgFlags(h int) int {
	f := 0
	for _, m := range msgFlagMap {
		if h&m.host != 0 {
			f |= m.linux
		}
	}
	return f
}

// valueMap pairs Linux's values of an enumeration with the host's.
type valueMap []struct{ linux, host int }

// toHost maps a Linux value to the host's; false when it has none.
func (m valueMap) toHost(v int) (int, bool) {
	for _, p := range m {
		if p.linux == v {
			return p.host, true
		}
	}
	return 0, false
}

// toLinux maps a host value back to Linux's, or def.
func (m valueMap) toLinux(h, def int) int {
	for _, p := range m {
		if p.host == h {
			return p.linux
		}
	}
	return def
}

// socketFamilies are the address families the guest may use.
var socketFamilies = valueMap{
	{afUnix, unix.AF_UNIX}, {afInet, unix.AF_INET}, {afInet6, unix.AF_INET6}, {afNetlink, unix.AF_NETLINK},
}

// socketTypes are the socket types (without flags).
var socketTypes = valueMap{
	{sockStream, unix.SOCK_STREAM}, {sockDgram, unix.SOCK_DGRAM}, {sockRaw, unix.SOCK_RAW}, {sockSeqpacket, unix.SOCK_SEQPACKET},
}

// hostFamily maps a Linux address family to the host's.
func hostFamily(f int) (int, bool) { return socketFamilies.toHost(f) }

// linuxFamily maps a host address family back to Linux's.
func linuxFamily(h int) int { return socketFamilies.toLinux(h, afUnspec) }

// hostSockType maps a Linux socket type (without flags) to the host's.
func hostSockType(t int) (int, bool) { return socketTypes.toHost(t) }

// linuxSockType maps a host socket type back to Linux's.
func linuxSockType(h int) int { return socketTypes.toLinux(h, 0) }

// decodeSocketArgs checks socket(2)'s domain, type and protocol and
// returns the host's, with the guest's SOCK_NONBLOCK and SOCK_CLOEXEC.
func decodeSocketArgs(domain, typ, proto int) (hd, ht, hp int, nonblock, cloexec bool, e int64) {
	if typ&^(sockTypeMask|sockNonblock|sockCloexec) != 0 {
		return 0, 0, 0, false, false, -EINVAL
	}
	hd, ok := hostFamily(domain)
	if !ok {
		return 0, 0, 0, false, false, -EAFNOSUPPORT
	}
	ht, ok = hostSockType(typ & sockTypeMask)
	if !ok {
		return 0, 0, 0, false, false, -EINVAL
	}
	if proto < 0 || proto > 255 {
		return 0, 0, 0, false, false, -EPROTONOSUPPORT
	}
	if domain == afNetlink && proto != netlinkRoute {
		// NETLINK_ROUTE is what getifaddrs and net.Interfaces read;
		// the other netlink families reach into the host.
		return 0, 0, 0, false, false, -EPROTONOSUPPORT
	}
	// IPPROTO_* numbers are IANA's on every host.
	return hd, ht, proto, typ&sockNonblock != 0, typ&sockCloexec != 0, 0
}

// sockEntry makes the fd table entry of a new host socket.
func sockEntry(host int, cloexec bool) *fdEntry {
	name := "socket:"
	var st unix.Stat_t
	if unix.Fstat(host, &st) == nil {
		name = "socket:[" + itoa(int(st.Ino)) + "]"
	}
	return &fdEntry{host: host, cloexec: cloexec, path: name, kind: kindStream}
}

func sysSocket(t *Thread, a *[6]uint64) int64 {
	hd, ht, hp, nb, ce, e := decodeSocketArgs(int(int32(a[0])), int(int32(a[1])), int(int32(a[2])))
	if e != 0 {
		return e
	}
	if nb {
		ht |= unix.SOCK_NONBLOCK
	}
	fd, err := unix.Socket(hd, ht|unix.SOCK_CLOEXEC, hp)
	if err != nil {
		return errno(err)
	}
	return t.proc.addFD(sockEntry(fd, ce), 0)
}

func sysSocketpair(t *Thread, a *[6]uint64) int64 {
	hd, ht, hp, nb, ce, e := decodeSocketArgs(int(int32(a[0])), int(int32(a[1])), int(int32(a[2])))
	if e != 0 {
		return e
	}
	if hd != unix.AF_UNIX {
		return -EOPNOTSUPP
	}
	if nb {
		ht |= unix.SOCK_NONBLOCK
	}
	// Check the result pointer before making anything to close.
	var probe [8]byte
	if e := t.get(a[3], probe[:]); e != 0 {
		return e
	}
	fds, err := unix.Socketpair(hd, ht|unix.SOCK_CLOEXEC, hp)
	if err != nil {
		return errno(err)
	}
	g0 := t.proc.addFD(sockEntry(fds[0], ce), 0)
	if g0 < 0 {
		unix.Close(fds[1])
		return g0
	}
	g1 := t.proc.addFD(sockEntry(fds[1], ce), 0)
	if g1 < 0 {
		t.closeGuestFD(int(g0))
		return g1
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], uint32(g0))
	binary.LittleEndian.PutUint32(b[4:], uint32(g1))
	if e := t.put(a[3], b[:]); e != 0 {
		t.closeGuestFD(int(g0))
		t.closeGuestFD(int(g1))
		return e
	}
	return 0
}

// closeGuestFD undoes an fd installed by a call that then failed.
func (t *Thread) closeGuestFD(fd int) {
	if e := t.proc.fds.remove(fd); e != nil {
		unix.Close(e.host)
	}
}

// unixNames maps the host name of every AF_UNIX socket a guest bound to
// the name the guest gave, so getsockname and getpeername answer in guest
// terms.
var unixNames sync.Map // host name -> guest name

// sockaddrArg is a decoded guest sockaddr; release frees what the host
// name needed (a directory fd for long paths).
type sockaddrArg struct {
	sa      unix.Sockaddr
	unspec  bool // AF_UNSPEC (connect: dissolve the association)
	guest   string
	release func()
	// abstract is an AF_UNIX abstract name's bytes (leading NUL
	// included), for the raw bind and connect.
	abstract []byte
}

// rawUnixCall runs bind or connect (nr) on host fd with an abstract
// AF_UNIX name laid out by hand.
func rawUnixCall(nr uintptr, fd int, name []byte) error {
	var raw unix.RawSockaddrUnix
	raw.Family = unix.AF_UNIX
	for i, c := range name {
		raw.Path[i] = int8(c)
	}
	_, _, en := unix.Syscall(nr, uintptr(fd), uintptr(unsafe.Pointer(&raw)), uintptr(2+len(name)))
	if en != 0 {
		return en
	}
	return nil
}

// sendmsgRaw is sendmsg(2) to an abstract AF_UNIX name laid out by hand.
func sendmsgRaw(fd int, bufs [][]byte, oob, name []byte, flags int) (int, error) {
	var raw unix.RawSockaddrUnix
	raw.Family = unix.AF_UNIX
	for i, c := range name {
		raw.Path[i] = int8(c)
	}
	var msg unix.Msghdr
	msg.Name = (*byte)(unsafe.Pointer(&raw))
	msg.Namelen = uint32(2 + len(name))
	iov := make([]unix.Iovec, 0, len(bufs))
	for _, b := range bufs {
		if len(b) > 0 {
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
		}
	}
	if len(iov) > 0 {
		msg.Iov = &iov[0]
		msg.SetIovlen(len(iov))
	}
	if len(oob) > 0 {
		msg.Control = &oob[0]
		msg.SetControllen(len(oob))
	}
	n, _, en := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	if en != 0 {
		return 0, en
	}
	return int(n), nil
}

// bind binds host fd to s.
func (s *sockaddrArg) bind(fd int) error {
	if len(s.abstract) >= sunPathMax {
		return rawUnixCall(unix.SYS_BIND, fd, s.abstract)
	}
	return unix.Bind(fd, s.sa)
}

// connect connects host fd to s.
func (s *sockaddrArg) connect(fd int) error {
	if len(s.abstract) >= sunPathMax {
		return rawUnixCall(unix.SYS_CONNECT, fd, s.abstract)
	}
	return unix.Connect(fd, s.sa)
}

func (s *sockaddrArg) done() {
	if s.release != nil {
		s.release()
	}
}

// sunPathMax is the size of sockaddr_un.sun_path.
const sunPathMax = 108

// readSockaddr decodes the Linux sockaddr of n bytes at va; an AF_UNIX
// path follows a last symbolic link when follow (connect, not bind).
func (t *Thread) readSockaddr(va, n uint64, follow bool) (*sockaddrArg, int64) {
	if int32(n) < 0 || n > sockaddrMaxSize {
		return nil, -EINVAL
	}
	if n < 2 {
		return nil, -EINVAL
	}
	b := make([]byte, n)
	if e := t.get(va, b); e != 0 {
		return nil, e
	}
	le := binary.LittleEndian
	switch fam := int(le.Uint16(b)); fam {
	case afUnspec:
		return &sockaddrArg{unspec: true}, 0
	case afUnix:
		p := b[2:]
		if len(p) > sunPathMax {
			p = p[:sunPathMax]
		}
		if len(p) == 0 {
			return &sockaddrArg{sa: &unix.SockaddrUnix{}}, 0
		}
		if p[0] == 0 {
			// Abstract names are not paths: they pass through.
			// x/sys cannot lay out a name that fills sun_path: bind and
			// connect pass such a name raw.
			return &sockaddrArg{sa: &unix.SockaddrUnix{Name: "@" + string(p[1:])}, abstract: append([]byte(nil), p...)}, 0
		}
		gp := cstr(p)
		return t.unixPath(gp, follow)
	case afInet:
		if n < 16 {
			return nil, -EINVAL
		}
		sa := &unix.SockaddrInet4{Port: int(binary.BigEndian.Uint16(b[2:]))}
		copy(sa.Addr[:], b[4:8])
		return &sockaddrArg{sa: sa}, 0
	case afInet6:
		if n < 24 {
			return nil, -EINVAL
		}
		sa := &unix.SockaddrInet6{Port: int(binary.BigEndian.Uint16(b[2:]))}
		copy(sa.Addr[:], b[8:24])
		if n >= 28 {
			sa.ZoneId = le.Uint32(b[24:])
		}
		return &sockaddrArg{sa: sa}, 0
	case afNetlink:
		if n < 12 {
			return nil, -EINVAL
		}
		return &sockaddrArg{sa: &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: le.Uint32(b[4:]), Groups: le.Uint32(b[8:])}}, 0
	default:
		return nil, -EAFNOSUPPORT
	}
}

// unixPath resolves a guest AF_UNIX path to a host name (following a
// last symbolic link when follow). A name too long for sun_path is
// reached through its directory's fd.
func (t *Thread) unixPath(gp string, follow bool) (*sockaddrArg, int64) {
	d, hp, e := t.hostAt(cwdFD, gp, follow)
	if e != 0 {
		return nil, e
	}
	arg := &sockaddrArg{guest: gp}
	dfd := -1
	if d != unix.AT_FDCWD {
		// The resolver handed a directory fd (held until the call
		// returns) and a name in it: prefer the directory's host path,
		// which stays meaningful after the call.
		if dir, err := readlinkFD(d); err == nil && len(dir)+1+len(hp) < sunPathMax && path.IsAbs(dir) {
			hp = path.Join(dir, hp)
		} else {
			dfd = d
		}
	} else if len(hp) >= sunPathMax || hp == "" || hp[0] == '@' {
		dir, base := path.Split(hp)
		if dir == "" {
			dir = "."
		}
		fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, errno(err)
		}
		arg.release = func() { unix.Close(fd) }
		dfd, hp = fd, base
	}
	if dfd >= 0 {
		hp = "/proc/self/fd/" + itoa(dfd) + "/" + hp
	}
	if len(hp) >= sunPathMax {
		arg.done()
		return nil, -ENAMETOOLONG
	}
	arg.sa = &unix.SockaddrUnix{Name: hp}
	return arg, 0
}

// encodeSockaddr lays a host sockaddr out as Linux's.
func encodeSockaddr(sa unix.Sockaddr) []byte {
	le := binary.LittleEndian
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		b := make([]byte, 16)
		le.PutUint16(b, afInet)
		binary.BigEndian.PutUint16(b[2:], uint16(s.Port))
		copy(b[4:], s.Addr[:])
		return b
	case *unix.SockaddrInet6:
		b := make([]byte, 28)
		le.PutUint16(b, afInet6)
		binary.BigEndian.PutUint16(b[2:], uint16(s.Port))
		copy(b[8:], s.Addr[:])
		le.PutUint32(b[24:], s.ZoneId)
		return b
	case *unix.SockaddrNetlink:
		b := make([]byte, 12)
		le.PutUint16(b, afNetlink)
		le.PutUint32(b[4:], s.Pid)
		le.PutUint32(b[8:], s.Groups)
		return b
	case *unix.SockaddrUnix:
		name := s.Name
		// x/sys reads an unnamed socket's address (family only) as an
		// abstract name of no bytes, "@".
		if name == "" || name == "@" {
			b := make([]byte, 2)
			le.PutUint16(b, afUnix)
			return b
		}
		if name[0] == '@' {
			b := make([]byte, 2+len(name))
			le.PutUint16(b, afUnix)
			copy(b[3:], name[1:])
			return b
		}
		if g, ok := unixNames.Load(name); ok {
			name = g.(string)
		}
		b := make([]byte, 2+len(name)+1)
		le.PutUint16(b, afUnix)
		copy(b[2:], name)
		return b
	}
	return nil
}

// putSockaddr writes sa to the guest buffer va whose size is the int at
// lenVA, truncating as Linux does, and stores the full size at lenVA.
// A nil sa (no address, as for a connected stream) stores 0.
func (t *Thread) putSockaddr(va, lenVA uint64, sa unix.Sockaddr) int64 {
	if lenVA == 0 {
		return 0
	}
	var lb [4]byte
	if e := t.get(lenVA, lb[:]); e != 0 {
		return e
	}
	room := int32(binary.LittleEndian.Uint32(lb[:]))
	if room < 0 {
		return -EINVAL
	}
	var b []byte
	if sa != nil {
		b = encodeSockaddr(sa)
	}
	if n := min(int(room), len(b)); n > 0 {
		if e := t.put(va, b[:n]); e != 0 {
			return e
		}
	}
	return t.putU32(lenVA, uint32(len(b)))
}

// sockWait runs op, a host call that never blocks (MSG_DONTWAIT, or a
// socket made non-blocking for the call), again each time it fails with
// EAGAIN, waiting in between for events the way a read on a pipe waits: a
// signal to act on ends the wait with -ERESTARTSYS (-EINTR when the
// socket has a timeout, which ends it with -EAGAIN). It returns at once
// when the guest asked not to block.
func (t *Thread) sockWait(f *fdEntry, events int16, dontwait bool, op func() int64) int64 {
	var deadline time.Time
	timed := false
	for {
		r := op()
		if r != -EAGAIN || dontwait {
			return r
		}
		if !timed {
			timed = true
			if fl, err := unix.FcntlInt(uintptr(f.host), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK != 0 {
				return r
			}
			deadline = sockDeadline(f.host, events)
		}
		if e := t.waitHost(f.host, events, deadline); e != 0 {
			if e == -ERESTARTSYS && !deadline.IsZero() {
				return -EINTR
			}
			return e
		}
	}
}

// sockDeadline is when a wait for events on host socket fd ends under its
// SO_RCVTIMEO or SO_SNDTIMEO; zero for never.
func sockDeadline(fd int, events int16) time.Time {
	opt := unix.SO_RCVTIMEO
	if events == pollOut {
		opt = unix.SO_SNDTIMEO
	}
	tv, err := unix.GetsockoptTimeval(fd, unix.SOL_SOCKET, opt)
	if err != nil || tv.Sec == 0 && tv.Usec == 0 {
		return time.Time{}
	}
	return time.Now().Add(time.Duration(tv.Nano()))
}

func sysBind(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	sa, e := t.readSockaddr(a[1], a[2], false)
	if e != 0 {
		return e
	}
	defer sa.done()
	if sa.unspec {
		return -EAFNOSUPPORT
	}
	if err := sa.bind(f.host); err != nil {
		return errno(err)
	}
	if u, ok := sa.sa.(*unix.SockaddrUnix); ok && sa.guest != "" {
		unixNames.Store(u.Name, sa.guest)
	}
	return 0
}

func sysListen(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	return errno(unix.Listen(f.host, int(int32(a[1]))))
}

func (t *Thread) accept(fdArg, addrVA, lenVA uint64, flags int) int64 {
	if flags&^(sockNonblock|sockCloexec) != 0 {
		return -EINVAL
	}
	f, e := t.fd(fdArg)
	if e != 0 {
		return e
	}
	hf := unix.SOCK_CLOEXEC
	if flags&sockNonblock != 0 {
		hf |= unix.SOCK_NONBLOCK
	}
	var nfd int
	var from unix.Sockaddr
	// The listening socket blocks in the host only after poll says a
	// connection is there: the wait itself is interruptible.
	r := t.sockWait(f, pollIn, false, func() int64 {
		var pfd = []unix.PollFd{{Fd: int32(f.host), Events: pollIn}}
		if n, err := unix.Poll(pfd, 0); err == nil && n == 0 {
			return -EAGAIN
		}
		var err error
		nfd, from, err = unix.Accept4(f.host, hf)
		return errno(err)
	})
	if r != 0 {
		return r
	}
	if addrVA != 0 {
		if e := t.putSockaddr(addrVA, lenVA, from); e != 0 {
			unix.Close(nfd)
			return e
		}
	}
	return t.proc.addFD(sockEntry(nfd, flags&sockCloexec != 0), 0)
}

func sysAccept(t *Thread, a *[6]uint64) int64  { return t.accept(a[0], a[1], a[2], 0) }
func sysAccept4(t *Thread, a *[6]uint64) int64 { return t.accept(a[0], a[1], a[2], int(int32(a[3]))) }

func sysConnect(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	sa, e := t.readSockaddr(a[1], a[2], true)
	if e != 0 {
		return e
	}
	defer sa.done()
	if sa.unspec {
		// Dissolve a datagram socket's association.
		var raw unix.RawSockaddrAny
		raw.Addr.Family = unix.AF_UNSPEC
		_, _, en := unix.Syscall(unix.SYS_CONNECT, uintptr(f.host), uintptr(unsafe.Pointer(&raw)), unsafe.Sizeof(raw.Addr))
		if en != 0 {
			return errno(en)
		}
		return 0
	}
	fl, err := unix.FcntlInt(uintptr(f.host), unix.F_GETFL, 0)
	if err != nil {
		return errno(err)
	}
	if fl&unix.O_NONBLOCK != 0 {
		return errno(sa.connect(f.host))
	}
	// A blocking connect: start it non-blocking so that the wait for it
	// can be interrupted.
	if _, err := unix.FcntlInt(uintptr(f.host), unix.F_SETFL, fl|unix.O_NONBLOCK); err != nil {
		return errno(err)
	}
	err = sa.connect(f.host)
	unix.FcntlInt(uintptr(f.host), unix.F_SETFL, fl)
	switch err {
	case nil:
		return 0
	case unix.EINPROGRESS, unix.EALREADY:
	case unix.EAGAIN:
		// A unix socket whose listener's backlog is full: Linux waits
		// for room, which no poll event announces. Wait in the host.
		return errno(sa.connect(f.host))
	default:
		return errno(err)
	}
	deadline := sockDeadline(f.host, pollOut)
	if e := t.waitHost(f.host, pollOut, deadline); e != 0 {
		if e == -EAGAIN {
			return -EINPROGRESS
		}
		if e == -ERESTARTSYS && !deadline.IsZero() {
			return -EINTR
		}
		return e
	}
	soerr, err := unix.GetsockoptInt(f.host, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return errno(err)
	}
	return -hostErrno(unix.Errno(soerr))
}

func sysGetsockname(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	sa, err := sockName(f.host, unix.SYS_GETSOCKNAME)
	if err != nil {
		return errno(err)
	}
	return t.putSockaddr(a[1], a[2], sa)
}

// sockName is getsockname or getpeername (nr). An abstract AF_UNIX name
// keeps every byte the kernel gives, NULs inside it too (x/sys would stop
// at the first).
func sockName(fd int, nr uintptr) (unix.Sockaddr, error) {
	var raw unix.RawSockaddrAny
	n := uint32(unsafe.Sizeof(raw))
	if _, _, en := unix.Syscall(nr, uintptr(fd), uintptr(unsafe.Pointer(&raw)), uintptr(unsafe.Pointer(&n))); en != 0 {
		return nil, en
	}
	if raw.Addr.Family == unix.AF_UNIX && n > 3 {
		u := (*unix.RawSockaddrUnix)(unsafe.Pointer(&raw))
		if u.Path[0] == 0 {
			name := make([]byte, n-3)
			for i := range name {
				name[i] = byte(u.Path[1+i])
			}
			return &unix.SockaddrUnix{Name: "@" + string(name)}, nil
		}
	}
	if nr == unix.SYS_GETPEERNAME {
		return unix.Getpeername(fd)
	}
	return unix.Getsockname(fd)
}

func sysGetpeername(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	sa, err := sockName(f.host, unix.SYS_GETPEERNAME)
	if err != nil {
		return errno(err)
	}
	return t.putSockaddr(a[1], a[2], sa)
}

func sysShutdown(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	var how int
	switch a[1] {
	case shutRd:
		how = unix.SHUT_RD
	case shutWr:
		how = unix.SHUT_WR
	case shutRdwr:
		how = unix.SHUT_RDWR
	default:
		return -EINVAL
	}
	return errno(unix.Shutdown(f.host, how))
}

// sockMsg is one message to send or a place to receive one.
type sockMsg struct {
	bufs    [][]byte
	to      *sockaddrArg // send: the destination, or nil
	oob     []byte       // send: host control messages; receive: room for them
	flags   int          // host MSG_* flags
	nosig   bool         // send: the guest passed MSG_NOSIGNAL
	dontwt  bool         // the guest passed MSG_DONTWAIT
	waitall bool         // receive: the guest passed MSG_WAITALL
	stream  bool         // the socket is SOCK_STREAM
}

func iovLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// advance drops the first n bytes of bufs.
func advance(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		bufs = append([][]byte{bufs[0][n:]}, bufs[1:]...)
	}
	return bufs
}

// uioMaxIov is the host's limit on the buffers of one call (UIO_MAXIOV).
const uioMaxIov = 1024

// streamChunk is as much of bufs as one host call takes. A guest buffer
// is one slice per page of guest memory, so a large one is more slices
// than the host accepts; on a stream socket a short transfer is legal and
// the caller carries on, elsewhere the call gets the host's answer.
func streamChunk(bufs [][]byte, stream bool) [][]byte {
	if stream && len(bufs) > uioMaxIov {
		return bufs[:uioMaxIov]
	}
	return bufs
}

// isStream reports whether host socket fd is SOCK_STREAM.
func isStream(fd int) bool {
	ty, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	return err == nil && ty == unix.SOCK_STREAM
}

// send sends m on f. A blocking stream socket sends everything unless a
// signal or an error stops it part way, which then counts what went.
func (t *Thread) send(f *fdEntry, m *sockMsg) int64 {
	var to unix.Sockaddr
	if m.to != nil {
		to = m.to.sa
	}
	total := int64(0)
	bufs, oob := m.bufs, m.oob
	want := iovLen(bufs)
	for {
		r := t.sockWait(f, pollOut, m.dontwt, func() int64 {
			fl := m.flags | unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL
			var n int
			var err error
			chunk := streamChunk(bufs, m.stream)
			if m.to != nil && len(m.to.abstract) >= sunPathMax {
				n, err = sendmsgRaw(f.host, chunk, oob, m.to.abstract, fl)
			} else {
				n, err = unix.SendmsgBuffers(f.host, chunk, oob, to, fl)
			}
			if err != nil {
				return errno(err)
			}
			return int64(n)
		})
		if r < 0 {
			if r == -EPIPE && !m.nosig {
				t.sb.mu.Lock()
				t.sb.sendLocked(t.proc, t, SIGPIPE, sigInfo{code: siUser, pid: int32(t.proc.pid), uid: int32(t.proc.cred.uid)})
				t.sb.mu.Unlock()
			}
			if total > 0 {
				return total
			}
			return r
		}
		total += r
		oob = nil // control data goes with the first byte
		if !m.stream || m.dontwt || int(total) >= want || r == 0 {
			return total
		}
		if fl, err := unix.FcntlInt(uintptr(f.host), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK != 0 {
			return total
		}
		bufs = advance(bufs, int(r))
	}
}

// recvResult is what one receive got.
type recvResult struct {
	n     int64
	oobn  int
	flags int // host msg_flags
	from  unix.Sockaddr
}

// recv receives one message into m on f. MSG_WAITALL on a blocking stream
// socket gathers until the buffers are full, the peer shuts down, or a
// signal or an error comes after some data.
func (t *Thread) recv(f *fdEntry, m *sockMsg) (recvResult, int64) {
	var res recvResult
	bufs := m.bufs
	want := iovLen(bufs)
	flags := m.flags &^ unix.MSG_WAITALL
	for {
		var got recvResult
		r := t.sockWait(f, pollIn, m.dontwt, func() int64 {
			oob := m.oob
			if res.n > 0 {
				oob = nil
			}
			n, oobn, rf, from, err := unix.RecvmsgBuffers(f.host, streamChunk(bufs, m.stream), oob, flags|unix.MSG_DONTWAIT|unix.MSG_CMSG_CLOEXEC)
			if err != nil {
				return errno(err)
			}
			got = recvResult{n: int64(n), oobn: oobn, flags: rf, from: from}
			return int64(n)
		})
		if r < 0 {
			if res.n > 0 {
				return res, 0
			}
			return res, r
		}
		if res.n == 0 {
			res = got
		} else {
			res.n += got.n
		}
		if !m.waitall || !m.stream || m.dontwt || got.n == 0 || int(res.n) >= want || flags&unix.MSG_PEEK != 0 {
			return res, 0
		}
		if fl, err := unix.FcntlInt(uintptr(f.host), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK != 0 {
			return res, 0
		}
		bufs = advance(bufs, int(got.n))
	}
}

// setFlags decodes a send or receive call's flags into m.
func (m *sockMsg) setFlags(f int, fd int) int64 {
	hf, e := decodeMsgFlags(f)
	if e != 0 {
		return e
	}
	m.flags = hf &^ (unix.MSG_CMSG_CLOEXEC | unix.MSG_WAITFORONE)
	m.nosig = f&msgNosignal != 0
	m.dontwt = f&msgDontwait != 0
	m.waitall = f&msgWaitall != 0
	m.stream = isStream(fd)
	return 0
}

func sysSendto(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	var m sockMsg
	if e := m.setFlags(int(int32(a[3])), f.host); e != 0 {
		return e
	}
	if m.bufs, e = t.ioBufs(a[1], a[2], false); e != 0 {
		return e
	}
	if a[4] != 0 {
		if m.to, e = t.readSockaddr(a[4], a[5], true); e != 0 {
			return e
		}
		defer m.to.done()
		if m.to.unspec {
			m.to = nil
		}
	}
	return t.send(f, &m)
}

func sysRecvfrom(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	var m sockMsg
	if e := m.setFlags(int(int32(a[3])), f.host); e != 0 {
		return e
	}
	if m.bufs, e = t.ioBufs(a[1], a[2], true); e != 0 {
		return e
	}
	res, e := t.recv(f, &m)
	if e != 0 {
		return e
	}
	if a[4] != 0 {
		if e := t.putSockaddr(a[4], a[5], res.from); e != 0 {
			return e
		}
	}
	return res.n
}

// msghdr offsets (struct msghdr on amd64).
const (
	msgName       = 0
	msgNamelen    = 8
	msgIov        = 16
	msgIovlen     = 24
	msgControl    = 32
	msgControllen = 40
	msgFlagsOff   = 48
	msghdrSize    = 56
	mmsghdrSize   = 64
)

// Control message levels and types (Linux).
const (
	solSocket        = 1
	solIP            = 0
	solIPv6          = 41
	solUDP           = 17
	scmRights        = 1
	scmCredentials   = 2
	scmTimestamp     = 29
	scmTimestampns   = 35
	ipTOS            = 1
	ipTTL            = 2
	ipPktinfo        = 8
	ipRecverr        = 11
	ipv6Pktinfo      = 50
	ipv6Hoplimit     = 52
	ipv6Tclass       = 67
	ipv6Recverr      = 25
	udpSegment       = 103
	udpGRO           = 104
	cmsgHdrSize      = 16
	maxControlLength = 1 << 16
)

// cmsgPass lists the control messages whose data is a plain value or
// address struct with the same layout on every Linux host: they pass
// through with their level and type decoded.
var cmsgPass = []struct{ level, typ, hlevel, htyp int }{
	{solSocket, scmTimestamp, unix.SOL_SOCKET, unix.SCM_TIMESTAMP},
	{solSocket, scmTimestampns, unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS},
	{solIP, ipTOS, unix.IPPROTO_IP, unix.IP_TOS},
	{solIP, ipTTL, unix.IPPROTO_IP, unix.IP_TTL},
	{solIP, ipPktinfo, unix.IPPROTO_IP, unix.IP_PKTINFO},
	{solIP, ipRecverr, unix.IPPROTO_IP, unix.IP_RECVERR},
	{solIPv6, ipv6Pktinfo, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO},
	{solIPv6, ipv6Hoplimit, unix.IPPROTO_IPV6, unix.IPV6_HOPLIMIT},
	{solIPv6, ipv6Tclass, unix.IPPROTO_IPV6, unix.IPV6_TCLASS},
	{solIPv6, ipv6Recverr, unix.IPPROTO_IPV6, unix.IPV6_RECVERR},
	{solUDP, udpSegment, unix.IPPROTO_UDP, unix.UDP_SEGMENT},
	{solUDP, udpGRO, unix.IPPROTO_UDP, unix.UDP_GRO},
}

func cmsgAlign(n int) int { return (n + 7) &^ 7 }

// hostCmsg appends one host control message.
func hostCmsg(out []byte, level, typ int, data []byte) []byte {
	b := make([]byte, unix.CmsgSpace(len(data)))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = int32(level)
	h.Type = int32(typ)
	h.SetLen(unix.CmsgLen(len(data)))
	copy(b[unix.CmsgLen(0):], data)
	return append(out, b...)
}

// sandboxPID is the host pid every guest process shares.
var sandboxPID = os.Getpid()

// hostCreds turns a guest ucred into the host's: the guest's own pid is
// the sandbox's host pid.
func (t *Thread) hostCreds(b []byte) []byte {
	le := binary.LittleEndian
	pid := int32(le.Uint32(b[0:]))
	if int(pid) == t.proc.pid {
		pid = int32(sandboxPID)
	}
	return unix.UnixCredentials(&unix.Ucred{Pid: pid, Uid: le.Uint32(b[4:]), Gid: le.Uint32(b[8:])})
}

// guestPID names a host pid a peer reported in guest terms: every guest
// process is the sandbox's host pid, shown as the caller's process (the
// host cannot tell guest processes apart); other host processes are
// outside the container's pid namespace and show as 0.
func (t *Thread) guestPID(pid int32) int32 {
	if int(pid) == sandboxPID {
		return int32(t.proc.pid)
	}
	return 0
}

// hostControl translates a guest control buffer for sendmsg: SCM_RIGHTS
// guest fds become host fds, SCM_CREDENTIALS pids the host's.
func (t *Thread) hostControl(va, n uint64) ([]byte, int64) {
	if n == 0 {
		return nil, 0
	}
	if n > maxControlLength {
		return nil, -ENOBUFS
	}
	raw := make([]byte, n)
	if e := t.get(va, raw); e != 0 {
		return nil, e
	}
	le := binary.LittleEndian
	var out []byte
	for off := 0; off+cmsgHdrSize <= len(raw); {
		clen := int(le.Uint64(raw[off:]))
		if clen < cmsgHdrSize || off+clen > len(raw) {
			return nil, -EINVAL
		}
		level, typ := int(int32(le.Uint32(raw[off+8:]))), int(int32(le.Uint32(raw[off+12:])))
		data := raw[off+cmsgHdrSize : off+clen]
		switch {
		case level == solSocket && typ == scmRights:
			if len(data)%4 != 0 || len(data)/4 > 253 {
				return nil, -EINVAL
			}
			fds := make([]int, len(data)/4)
			for i := range fds {
				e := t.proc.fds.get(int(int32(le.Uint32(data[4*i:]))))
				if e == nil {
					return nil, -EBADF
				}
				fds[i] = e.host
			}
			out = append(out, unix.UnixRights(fds...)...)
		case level == solSocket && typ == scmCredentials:
			if len(data) != 12 {
				return nil, -EINVAL
			}
			out = append(out, t.hostCreds(data)...)
		default:
			found := false
			for _, p := range cmsgPass {
				if p.level == level && p.typ == typ {
					out = hostCmsg(out, p.hlevel, p.htyp, data)
					found = true
					break
				}
			}
			if !found {
				return nil, -EINVAL
			}
		}
		off += cmsgAlign(clen)
	}
	return out, 0
}

// ENOBUFS is Linux's errno for a control buffer over the limit.
const ENOBUFS = 105

// guestControl translates received host control messages into Linux's
// layout in room bytes: received host fds become guest fds (close-on-exec
// with cloexec). It returns the bytes and whether any were cut off.
func (t *Thread) guestControl(oob []byte, room int, cloexec bool) ([]byte, bool, int64) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, false, -EINVAL
	}
	le := binary.LittleEndian
	var out []byte
	trunc := false
	put := func(level, typ int, data []byte) {
		space := cmsgHdrSize + len(data)
		if len(out)+space > room {
			trunc = true
			return
		}
		b := make([]byte, cmsgAlign(space))
		le.PutUint64(b[0:], uint64(space))
		le.PutUint32(b[8:], uint32(level))
		le.PutUint32(b[12:], uint32(typ))
		copy(b[cmsgHdrSize:], data)
		if len(out)+len(b) > room {
			b = b[:room-len(out)]
		}
		out = append(out, b...)
	}
	for i := range msgs {
		m := &msgs[i]
		switch {
		case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_RIGHTS:
			hfds, err := unix.ParseUnixRights(m)
			if err != nil {
				return nil, false, -EINVAL
			}
			// As many fds as the room left holds; the rest are closed.
			fit := max((room-len(out)-cmsgHdrSize)/4, 0)
			if fit < len(hfds) {
				for _, h := range hfds[fit:] {
					unix.Close(h)
				}
				hfds, trunc = hfds[:fit], true
			}
			if len(hfds) == 0 {
				continue
			}
			data := make([]byte, 4*len(hfds))
			n := 0
			for j, h := range hfds {
				g := t.proc.addFD(&fdEntry{host: h, cloexec: cloexec}, 0)
				if g < 0 {
					// No room in the table: the rest are dropped.
					for _, rest := range hfds[j+1:] {
						unix.Close(rest)
					}
					trunc = true
					break
				}
				// No path: the sender's name for it is not known here, and
				// a host path is not a guest one.
				le.PutUint32(data[4*n:], uint32(g))
				n++
			}
			put(solSocket, scmRights, data[:4*n])
		case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_CREDENTIALS:
			uc, err := unix.ParseUnixCredentials(m)
			if err != nil {
				return nil, false, -EINVAL
			}
			var d [12]byte
			le.PutUint32(d[0:], uint32(t.guestPID(uc.Pid)))
			le.PutUint32(d[4:], uc.Uid)
			le.PutUint32(d[8:], uc.Gid)
			put(solSocket, scmCredentials, d[:])
		default:
			found := false
			for _, p := range cmsgPass {
				if p.hlevel == int(m.Header.Level) && p.htyp == int(m.Header.Type) {
					put(p.level, p.typ, m.Data)
					found = true
					break
				}
			}
			if !found {
				trunc = true
			}
		}
	}
	return out, trunc, 0
}

// readMsghdr reads a guest struct msghdr.
func (t *Thread) readMsghdr(va uint64) ([msghdrSize]byte, int64) {
	var h [msghdrSize]byte
	return h, t.get(va, h[:])
}

// sendmsg sends the message described by the guest msghdr at va.
func (t *Thread) sendmsg(f *fdEntry, va uint64, flags int) int64 {
	h, e := t.readMsghdr(va)
	if e != 0 {
		return e
	}
	le := binary.LittleEndian
	var m sockMsg
	if e := m.setFlags(flags, f.host); e != 0 {
		return e
	}
	if iovlen := le.Uint64(h[msgIovlen:]); iovlen > 1024 {
		return -EMSGSIZE
	} else if m.bufs, e = t.iovecs(le.Uint64(h[msgIov:]), iovlen, false); e != 0 {
		return e
	}
	if name := le.Uint64(h[msgName:]); name != 0 {
		if m.to, e = t.readSockaddr(name, uint64(le.Uint32(h[msgNamelen:])), true); e != 0 {
			return e
		}
		defer m.to.done()
		if m.to.unspec {
			m.to = nil
		}
	}
	if m.oob, e = t.hostControl(le.Uint64(h[msgControl:]), le.Uint64(h[msgControllen:])); e != 0 {
		return e
	}
	return t.send(f, &m)
}

// recvmsg receives into the guest msghdr at va and fills in its name,
// control and flags.
func (t *Thread) recvmsg(f *fdEntry, va uint64, flags int) int64 {
	h, e := t.readMsghdr(va)
	if e != 0 {
		return e
	}
	le := binary.LittleEndian
	var m sockMsg
	if e := m.setFlags(flags, f.host); e != 0 {
		return e
	}
	if iovlen := le.Uint64(h[msgIovlen:]); iovlen > 1024 {
		return -EMSGSIZE
	} else if m.bufs, e = t.iovecs(le.Uint64(h[msgIov:]), iovlen, true); e != 0 {
		return e
	}
	ctl, clen := le.Uint64(h[msgControl:]), le.Uint64(h[msgControllen:])
	if ctl != 0 && clen > 0 {
		// Host control messages have Linux's sizes: with the guest's
		// room the host truncates (and flags MSG_CTRUNC) as Linux would.
		m.oob = make([]byte, min(clen, maxControlLength))
	}
	res, e := t.recv(f, &m)
	if e != 0 {
		return e
	}
	// Linux echoes the caller's MSG_CMSG_CLOEXEC, which elfuse always
	// passes to the host.
	rflags := encodeMsgFlags(res.flags)&^msgCmsgCloexec | flags&msgCmsgCloexec
	var out []byte
	if res.oobn > 0 {
		o, trunc, e := t.guestControl(m.oob[:res.oobn], int(min(clen, maxControlLength)), flags&msgCmsgCloexec != 0)
		if e != 0 {
			return e
		}
		if trunc {
			rflags |= msgCtrunc
		}
		out = o
		if len(out) > 0 {
			if e := t.put(ctl, out); e != 0 {
				return e
			}
		}
	}
	if name := le.Uint64(h[msgName:]); name != 0 {
		b := []byte(nil)
		if res.from != nil {
			b = encodeSockaddr(res.from)
		}
		room := int(le.Uint32(h[msgNamelen:]))
		if n := min(room, len(b)); n > 0 {
			if e := t.put(name, b[:n]); e != 0 {
				return e
			}
		}
		if e := t.putU32(va+msgNamelen, uint32(len(b))); e != 0 {
			return e
		}
	} else if e := t.putU32(va+msgNamelen, 0); e != 0 {
		return e
	}
	if e := t.putU64(va+msgControllen, uint64(len(out))); e != 0 {
		return e
	}
	if e := t.putU32(va+msgFlagsOff, uint32(rflags)); e != 0 {
		return e
	}
	return res.n
}

func sysSendmsg(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	return t.sendmsg(f, a[1], int(int32(a[2])))
}

func sysRecvmsg(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	return t.recvmsg(f, a[1], int(int32(a[2])))
}

// maxMmsg is UIO_MAXIOV, the most messages one call moves.
const maxMmsg = 1024

func sysSendmmsg(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	vec, vlen, flags := a[1], min(uint64(uint32(a[2])), maxMmsg), int(int32(a[3]))
	sent := int64(0)
	for i := uint64(0); i < vlen; i++ {
		r := t.sendmsg(f, vec+i*mmsghdrSize, flags)
		if r < 0 {
			if sent > 0 {
				return sent
			}
			return r
		}
		if e := t.putU32(vec+i*mmsghdrSize+msghdrSize, uint32(r)); e != 0 {
			return e
		}
		sent++
	}
	return sent
}

func sysRecvmmsg(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	vec, vlen, flags := a[1], min(uint64(uint32(a[2])), maxMmsg), int(int32(a[3]))
	var deadline time.Time
	if a[4] != 0 {
		ts, e := t.getTimespec(a[4])
		if e != 0 {
			return e
		}
		deadline = time.Now().Add(time.Duration(ts.Nano()))
	}
	got := int64(0)
	for i := uint64(0); i < vlen; i++ {
		fl := flags
		if got > 0 && flags&msgWaitforone != 0 {
			fl |= msgDontwait
		}
		r := t.recvmsg(f, vec+i*mmsghdrSize, fl&^msgWaitforone)
		if r < 0 {
			if got > 0 {
				return got
			}
			return r
		}
		if e := t.putU32(vec+i*mmsghdrSize+msghdrSize, uint32(r)); e != 0 {
			return e
		}
		got++
		if !deadline.IsZero() && time.Now().After(deadline) {
			break
		}
	}
	if a[4] != 0 && !deadline.IsZero() {
		left := max(time.Until(deadline), 0)
		if e := t.putTimespec(a[4], unix.NsecToTimespec(left.Nanoseconds())); e != 0 {
			return e
		}
	}
	return got
}
