//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// optKind says how a socket option's value is laid out.
type optKind uint8

const (
	optInt     optKind = iota // int (some IP options also take one byte)
	optTimeval                // struct timeval
	optLinger                 // struct linger
	optUcred                  // struct ucred, read only
	optErrno                  // int errno, read only
	optFamily                 // int address family, read only
	optType                   // int socket type, read only
	optBytes                  // a byte string or an address struct of the same layout on every Linux host
)

// sockOpt is one socket option the guest may set or get: its Linux level
// and name, and the host's.
type sockOpt struct {
	level, name   int
	hlevel, hname int
	kind          optKind
}

// Linux option levels.
const (
	solTCP     = 6
	solNetlink = 270
)

// sockOpts lists the options elfuse passes to host sockets.
var sockOpts = []sockOpt{
	{solSocket, 1, unix.SOL_SOCKET, unix.SO_DEBUG, optInt},
	{solSocket, 2, unix.SOL_SOCKET, unix.SO_REUSEADDR, optInt},
	{solSocket, 3, unix.SOL_SOCKET, unix.SO_TYPE, optType},
	{solSocket, 4, unix.SOL_SOCKET, unix.SO_ERROR, optErrno},
	{solSocket, 5, unix.SOL_SOCKET, unix.SO_DONTROUTE, optInt},
	{solSocket, 6, unix.SOL_SOCKET, unix.SO_BROADCAST, optInt},
	{solSocket, 7, unix.SOL_SOCKET, unix.SO_SNDBUF, optInt},
	{solSocket, 8, unix.SOL_SOCKET, unix.SO_RCVBUF, optInt},
	{solSocket, 9, unix.SOL_SOCKET, unix.SO_KEEPALIVE, optInt},
	{solSocket, 10, unix.SOL_SOCKET, unix.SO_OOBINLINE, optInt},
	{solSocket, 11, unix.SOL_SOCKET, unix.SO_NO_CHECK, optInt},
	{solSocket, 12, unix.SOL_SOCKET, unix.SO_PRIORITY, optInt},
	{solSocket, 13, unix.SOL_SOCKET, unix.SO_LINGER, optLinger},
	{solSocket, 15, unix.SOL_SOCKET, unix.SO_REUSEPORT, optInt},
	{solSocket, 16, unix.SOL_SOCKET, unix.SO_PASSCRED, optInt},
	{solSocket, 17, unix.SOL_SOCKET, unix.SO_PEERCRED, optUcred},
	{solSocket, 18, unix.SOL_SOCKET, unix.SO_RCVLOWAT, optInt},
	{solSocket, 19, unix.SOL_SOCKET, unix.SO_SNDLOWAT, optInt},
	{solSocket, 20, unix.SOL_SOCKET, unix.SO_RCVTIMEO, optTimeval},
	{solSocket, 21, unix.SOL_SOCKET, unix.SO_SNDTIMEO, optTimeval},
	{solSocket, 25, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, optBytes},
	{solSocket, 29, unix.SOL_SOCKET, unix.SO_TIMESTAMP, optInt},
	{solSocket, 30, unix.SOL_SOCKET, unix.SO_ACCEPTCONN, optInt},
	{solSocket, 32, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, optInt},
	{solSocket, 33, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, optInt},
	{solSocket, 35, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, optInt},
	{solSocket, 36, unix.SOL_SOCKET, unix.SO_MARK, optInt},
	{solSocket, 38, unix.SOL_SOCKET, unix.SO_PROTOCOL, optInt},
	{solSocket, 39, unix.SOL_SOCKET, unix.SO_DOMAIN, optFamily},
	{solSocket, 40, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, optInt},
	{solSocket, 46, unix.SOL_SOCKET, unix.SO_BUSY_POLL, optInt},
	{solSocket, 49, unix.SOL_SOCKET, unix.SO_INCOMING_CPU, optInt},
	{solSocket, 57, unix.SOL_SOCKET, unix.SO_COOKIE, optBytes},
	{solSocket, 60, unix.SOL_SOCKET, unix.SO_ZEROCOPY, optInt},

	{solIP, 1, unix.IPPROTO_IP, unix.IP_TOS, optInt},
	{solIP, 2, unix.IPPROTO_IP, unix.IP_TTL, optInt},
	{solIP, 3, unix.IPPROTO_IP, unix.IP_HDRINCL, optInt},
	{solIP, 4, unix.IPPROTO_IP, unix.IP_OPTIONS, optBytes},
	{solIP, 6, unix.IPPROTO_IP, unix.IP_RECVOPTS, optInt},
	{solIP, 8, unix.IPPROTO_IP, unix.IP_PKTINFO, optInt},
	{solIP, 10, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, optInt},
	{solIP, 11, unix.IPPROTO_IP, unix.IP_RECVERR, optInt},
	{solIP, 12, unix.IPPROTO_IP, unix.IP_RECVTTL, optInt},
	{solIP, 13, unix.IPPROTO_IP, unix.IP_RECVTOS, optInt},
	{solIP, 14, unix.IPPROTO_IP, unix.IP_MTU, optInt},
	{solIP, 15, unix.IPPROTO_IP, unix.IP_FREEBIND, optInt},
	{solIP, 19, unix.IPPROTO_IP, unix.IP_TRANSPARENT, optInt},
	{solIP, 24, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, optInt},
	{solIP, 32, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, optBytes},
	{solIP, 33, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, optInt},
	{solIP, 34, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, optInt},
	{solIP, 35, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, optBytes},
	{solIP, 36, unix.IPPROTO_IP, unix.IP_DROP_MEMBERSHIP, optBytes},

	{solTCP, 1, unix.IPPROTO_TCP, unix.TCP_NODELAY, optInt},
	{solTCP, 2, unix.IPPROTO_TCP, unix.TCP_MAXSEG, optInt},
	{solTCP, 3, unix.IPPROTO_TCP, unix.TCP_CORK, optInt},
	{solTCP, 4, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, optInt},
	{solTCP, 5, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, optInt},
	{solTCP, 6, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, optInt},
	{solTCP, 7, unix.IPPROTO_TCP, unix.TCP_SYNCNT, optInt},
	{solTCP, 8, unix.IPPROTO_TCP, unix.TCP_LINGER2, optInt},
	{solTCP, 9, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, optInt},
	{solTCP, 10, unix.IPPROTO_TCP, unix.TCP_WINDOW_CLAMP, optInt},
	{solTCP, 11, unix.IPPROTO_TCP, unix.TCP_INFO, optBytes},
	{solTCP, 12, unix.IPPROTO_TCP, unix.TCP_QUICKACK, optInt},
	{solTCP, 13, unix.IPPROTO_TCP, unix.TCP_CONGESTION, optBytes},
	{solTCP, 18, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, optInt},
	{solTCP, 23, unix.IPPROTO_TCP, unix.TCP_FASTOPEN, optInt},
	{solTCP, 25, unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, optInt},
	{solTCP, 30, unix.IPPROTO_TCP, unix.TCP_FASTOPEN_CONNECT, optInt},

	{solIPv6, 16, unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, optInt},
	{solIPv6, 17, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, optInt},
	{solIPv6, 18, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, optInt},
	{solIPv6, 19, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, optInt},
	{solIPv6, 20, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, optBytes},
	{solIPv6, 21, unix.IPPROTO_IPV6, unix.IPV6_LEAVE_GROUP, optBytes},
	{solIPv6, 23, unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, optInt},
	{solIPv6, 24, unix.IPPROTO_IPV6, unix.IPV6_MTU, optInt},
	{solIPv6, 25, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, optInt},
	{solIPv6, 26, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, optInt},
	{solIPv6, 49, unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, optInt},
	{solIPv6, 51, unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, optInt},
	{solIPv6, 66, unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS, optInt},
	{solIPv6, 67, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, optInt},

	{solUDP, 1, unix.IPPROTO_UDP, unix.UDP_CORK, optInt},
	{solUDP, udpSegment, unix.IPPROTO_UDP, unix.UDP_SEGMENT, optInt},
	{solUDP, udpGRO, unix.IPPROTO_UDP, unix.UDP_GRO, optInt},

	{solNetlink, 1, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, optInt},
	{solNetlink, 2, unix.SOL_NETLINK, unix.NETLINK_DROP_MEMBERSHIP, optInt},
	{solNetlink, 3, unix.SOL_NETLINK, unix.NETLINK_PKTINFO, optInt},
	{solNetlink, 4, unix.SOL_NETLINK, unix.NETLINK_BROADCAST_ERROR, optInt},
	{solNetlink, 5, unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS, optInt},
	{solNetlink, 10, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, optInt},
	{solNetlink, 11, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, optInt},
	{solNetlink, 12, unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, optInt},
}

// findSockOpt looks a Linux (level, name) up.
func findSockOpt(level, name int) *sockOpt {
	for i := range sockOpts {
		if o := &sockOpts[i]; o.level == level && o.name == name {
			return o
		}
	}
	return nil
}

// byteSized reports whether an int option of level may be passed as one
// byte, as Linux's IP and IPv6 options allow.
func byteSized(level int) bool { return level == solIP || level == solIPv6 }

func sysSetsockopt(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	level, name, va, n := int(int32(a[1])), int(int32(a[2])), a[3], int(int32(a[4]))
	if n < 0 {
		return -EINVAL
	}
	o := findSockOpt(level, name)
	if o == nil {
		return -ENOPROTOOPT
	}
	le := binary.LittleEndian
	switch o.kind {
	case optInt:
		var v int32
		switch {
		case n >= 4:
			var b [4]byte
			if e := t.get(va, b[:]); e != 0 {
				return e
			}
			v = int32(le.Uint32(b[:]))
		case n >= 1 && byteSized(level):
			var b [1]byte
			if e := t.get(va, b[:]); e != 0 {
				return e
			}
			v = int32(b[0])
		default:
			return -EINVAL
		}
		return errno(unix.SetsockoptInt(f.host, o.hlevel, o.hname, int(v)))
	case optTimeval:
		if n < 16 {
			return -EINVAL
		}
		var b [16]byte
		if e := t.get(va, b[:]); e != 0 {
			return e
		}
		tv := unix.Timeval{Sec: int64(le.Uint64(b[0:])), Usec: int64(le.Uint64(b[8:]))}
		if tv.Usec < 0 || tv.Usec >= 1e6 {
			return -EDOM
		}
		if tv.Sec < 0 {
			tv = unix.Timeval{}
		}
		return errno(unix.SetsockoptTimeval(f.host, o.hlevel, o.hname, &tv))
	case optLinger:
		if n < 8 {
			return -EINVAL
		}
		var b [8]byte
		if e := t.get(va, b[:]); e != 0 {
			return e
		}
		l := unix.Linger{Onoff: int32(le.Uint32(b[0:])), Linger: int32(le.Uint32(b[4:]))}
		return errno(unix.SetsockoptLinger(f.host, o.hlevel, o.hname, &l))
	case optBytes:
		if n > 4096 {
			return -EINVAL
		}
		b := make([]byte, n)
		if e := t.get(va, b); e != 0 {
			return e
		}
		return errno(unix.SetsockoptString(f.host, o.hlevel, o.hname, string(b)))
	}
	// Read-only options.
	return -ENOPROTOOPT
}

// EDOM is Linux's errno for an out-of-range timeout.
const EDOM = 33

// getsockoptRaw reads a socket option as bytes.
func getsockoptRaw(fd, level, name int, b []byte) (int, error) {
	n := uint32(len(b))
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	_, _, en := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(name), uintptr(p), uintptr(unsafe.Pointer(&n)), 0)
	if en != 0 {
		return 0, en
	}
	return int(n), nil
}

func sysGetsockopt(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	level, name, va, lenVA := int(int32(a[1])), int(int32(a[2])), a[3], a[4]
	var lb [4]byte
	if e := t.get(lenVA, lb[:]); e != 0 {
		return e
	}
	room := int(int32(binary.LittleEndian.Uint32(lb[:])))
	if room < 0 {
		return -EINVAL
	}
	o := findSockOpt(level, name)
	if o == nil {
		return -ENOPROTOOPT
	}
	le := binary.LittleEndian
	var out []byte
	intOut := func(v int) {
		out = make([]byte, 4)
		le.PutUint32(out, uint32(int32(v)))
		if room < 4 && room > 0 && byteSized(level) && v >= 0 && v <= 255 {
			out = []byte{byte(v)}
		}
	}
	switch o.kind {
	case optInt, optErrno, optFamily, optType:
		v, err := unix.GetsockoptInt(f.host, o.hlevel, o.hname)
		if err != nil {
			return errno(err)
		}
		switch o.kind {
		case optErrno:
			v = int(hostErrno(unix.Errno(v)))
		case optFamily:
			v = linuxFamily(v)
		case optType:
			v = linuxSockType(v)
		}
		intOut(v)
	case optTimeval:
		tv, err := unix.GetsockoptTimeval(f.host, o.hlevel, o.hname)
		if err != nil {
			return errno(err)
		}
		out = make([]byte, 16)
		le.PutUint64(out[0:], uint64(tv.Sec))
		le.PutUint64(out[8:], uint64(tv.Usec))
	case optLinger:
		l, err := unix.GetsockoptLinger(f.host, o.hlevel, o.hname)
		if err != nil {
			return errno(err)
		}
		out = make([]byte, 8)
		le.PutUint32(out[0:], uint32(l.Onoff))
		le.PutUint32(out[4:], uint32(l.Linger))
	case optUcred:
		uc, err := unix.GetsockoptUcred(f.host, o.hlevel, o.hname)
		if err != nil {
			return errno(err)
		}
		out = make([]byte, 12)
		le.PutUint32(out[0:], uint32(t.guestPID(uc.Pid)))
		le.PutUint32(out[4:], uc.Uid)
		le.PutUint32(out[8:], uc.Gid)
	case optBytes:
		b := make([]byte, min(room, 4096))
		n, err := getsockoptRaw(f.host, o.hlevel, o.hname, b)
		if err != nil {
			return errno(err)
		}
		out = b[:min(n, len(b))]
	}
	n := min(room, len(out))
	if n > 0 {
		if e := t.put(va, out[:n]); e != 0 {
			return e
		}
	}
	return t.putU32(lenVA, uint32(n))
}
