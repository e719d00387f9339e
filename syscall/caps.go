//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"sync"

	"golang.org/x/sys/unix"
)

// Capabilities are per guest process (in its credentials): a container's
// come from its configuration, a program run directly starts with the
// elfuse process's own. capget and capset read and change them with
// Linux's rules, and execve transforms them as Linux does for a file
// without file capabilities.

const (
	capVersion1 = 0x19980330 // one 32-bit set
	capVersion2 = 0x20071026 // two (deprecated, same layout as 3)
	capVersion3 = 0x20080522
)

// Caps are the five capability sets of a process, one bit per capability
// number (Linux's numbering).
type Caps struct {
	Effective, Permitted, Inheritable, Bounding, Ambient uint64
}

// hostCaps are the elfuse process's own sets, read once.
var hostCaps = sync.OnceValue(readHostCaps)

func readHostCaps() Caps {
	h := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var d [2]unix.CapUserData
	if unix.Capget(&h, &d[0]) != nil {
		return Caps{}
	}
	join := func(lo, hi uint32) uint64 { return uint64(lo) | uint64(hi)<<32 }
	c := Caps{Effective: join(d[0].Effective, d[1].Effective), Permitted: join(d[0].Permitted, d[1].Permitted),
		Inheritable: join(d[0].Inheritable, d[1].Inheritable)}
	for i := 0; i < 64; i++ {
		// PR_CAPBSET_READ answers in the call's value; past the last
		// capability it fails.
		if r, _, e := unix.Syscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_READ, uintptr(i), 0, 0, 0, 0); e == 0 && r == 1 {
			c.Bounding |= 1 << uint(i)
		}
	}
	return c
}

// afterSetuid is Linux's capability rule for a change of uids (without
// SECBIT_KEEP_CAPS): leaving uid 0 in all three ids drops the permitted,
// effective and ambient sets; an effective uid leaving 0 drops the
// effective set, one becoming 0 raises it to the permitted set.
func (c Caps) afterSetuid(old, new [3]uint32) Caps {
	hadRoot := old[0] == 0 || old[1] == 0 || old[2] == 0
	if hadRoot && new[0] != 0 && new[1] != 0 && new[2] != 0 {
		c.Permitted, c.Effective, c.Ambient = 0, 0, 0
	}
	switch {
	case old[1] == 0 && new[1] != 0:
		c.Effective = 0
	case old[1] != 0 && new[1] == 0:
		c.Effective = c.Permitted
	}
	return c
}

// capsWords decodes the header's version into the number of 32-bit words
// of each set, writing Linux's preferred version back for an unknown one.
func (t *Thread) capsWords(hdrVA uint64) (words, pid int, e int64) {
	var hdr [8]byte
	if e := t.get(hdrVA, hdr[:]); e != 0 {
		return 0, 0, e
	}
	le := binary.LittleEndian
	switch le.Uint32(hdr[0:]) {
	case capVersion1:
		words = 1
	case capVersion2, capVersion3:
		words = 2
	default:
		le.PutUint32(hdr[0:], capVersion3)
		if e := t.put(hdrVA, hdr[:4]); e != 0 {
			return 0, 0, e
		}
		return 0, 0, -EINVAL
	}
	return words, int(int32(le.Uint32(hdr[4:]))), 0
}

func sysCapget(t *Thread, a *[6]uint64) int64 {
	words, pid, e := t.capsWords(a[0])
	if e == -EINVAL && a[1] == 0 {
		return 0 // a probe of the version with no data
	}
	if e != 0 {
		return e
	}
	if a[1] == 0 {
		return 0
	}
	if pid < 0 {
		return -EINVAL
	}
	t.sb.mu.Lock()
	p := t.proc
	if pid != 0 && pid != t.proc.pid {
		p = t.sb.procs[pid]
		if th := t.sb.tids[pid]; p == nil && th != nil {
			p = th.proc
		}
	}
	if p == nil || p.zombie {
		t.sb.mu.Unlock()
		return -ESRCH
	}
	c := p.cred.caps
	t.sb.mu.Unlock()
	le := binary.LittleEndian
	out := make([]byte, 12*words)
	for i := 0; i < words; i++ {
		sh := uint(32 * i)
		le.PutUint32(out[12*i:], uint32(c.Effective>>sh))
		le.PutUint32(out[12*i+4:], uint32(c.Permitted>>sh))
		le.PutUint32(out[12*i+8:], uint32(c.Inheritable>>sh))
	}
	return t.put(a[1], out)
}

const capSetpcap = 8

func sysCapset(t *Thread, a *[6]uint64) int64 {
	words, pid, e := t.capsWords(a[0])
	if e != 0 {
		return e
	}
	if pid != 0 && pid != t.proc.pid {
		return -EPERM // only one's own, as since Linux 2.6.24
	}
	b := make([]byte, 12*words)
	if e := t.get(a[1], b); e != 0 {
		return e
	}
	le := binary.LittleEndian
	var n Caps
	for i := 0; i < words; i++ {
		sh := uint(32 * i)
		n.Effective |= uint64(le.Uint32(b[12*i:])) << sh
		n.Permitted |= uint64(le.Uint32(b[12*i+4:])) << sh
		n.Inheritable |= uint64(le.Uint32(b[12*i+8:])) << sh
	}
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	old := t.proc.cred.caps
	if words == 1 {
		// Version 1 leaves the upper capabilities as they were.
		n.Effective |= old.Effective &^ 0xffffffff
		n.Permitted |= old.Permitted &^ 0xffffffff
		n.Inheritable |= old.Inheritable &^ 0xffffffff
	}
	// Linux's rules: no new permitted capability, effective within
	// permitted, inheritable within the old inheritable and permitted
	// (with CAP_SETPCAP: within the bounding set).
	if n.Permitted&^old.Permitted != 0 || n.Effective&^n.Permitted != 0 {
		return -EPERM
	}
	limit := old.Inheritable | old.Permitted
	if old.Effective&(1<<capSetpcap) != 0 {
		limit = old.Inheritable | old.Bounding
	}
	if n.Inheritable&^limit != 0 {
		return -EPERM
	}
	n.Bounding = old.Bounding
	n.Ambient = old.Ambient & n.Permitted & n.Inheritable
	t.proc.cred.caps = n
	return 0
}

// execCaps is the capability transformation of execve for a program with
// no file capabilities: root (by real or effective uid) gains the bounding
// set, others keep only their ambient capabilities.
func (c Caps) execCaps(ruid, euid uint32) Caps {
	n := Caps{Inheritable: c.Inheritable, Bounding: c.Bounding, Ambient: c.Ambient}
	if ruid == 0 || euid == 0 {
		n.Permitted = (c.Inheritable | c.Bounding) & c.Bounding
		n.Ambient = 0
	} else {
		n.Permitted = c.Ambient
	}
	if euid == 0 {
		n.Effective = n.Permitted
	} else {
		n.Effective = n.Ambient
	}
	return n
}

// capPrctl serves prctl's capability options: the bounding set (read,
// drop) and the ambient set (is-set, raise, lower, clear).
func (t *Thread) capPrctl(a *[6]uint64) int64 {
	const lastCap = 63
	sb := t.sb
	sb.mu.Lock()
	defer sb.mu.Unlock()
	c := &t.proc.cred.caps
	bit := func(n uint64) (uint64, int64) {
		if n > lastCap {
			return 0, -EINVAL
		}
		return 1 << n, 0
	}
	switch a[0] {
	case 23: // PR_CAPBSET_READ
		b, e := bit(a[1])
		if e != 0 {
			return e
		}
		return b2i(c.Bounding&b != 0)
	case 24: // PR_CAPBSET_DROP
		b, e := bit(a[1])
		if e != 0 {
			return e
		}
		if c.Effective&(1<<capSetpcap) == 0 {
			return -EPERM
		}
		c.Bounding &^= b
		return 0
	}
	// PR_CAP_AMBIENT
	switch a[1] {
	case 1: // PR_CAP_AMBIENT_IS_SET
		b, e := bit(a[2])
		if e != 0 {
			return e
		}
		return b2i(c.Ambient&b != 0)
	case 2: // PR_CAP_AMBIENT_RAISE
		b, e := bit(a[2])
		if e != 0 {
			return e
		}
		if c.Permitted&b == 0 || c.Inheritable&b == 0 {
			return -EPERM
		}
		c.Ambient |= b
		return 0
	case 3: // PR_CAP_AMBIENT_LOWER
		b, e := bit(a[2])
		if e != 0 {
			return e
		}
		c.Ambient &^= b
		return 0
	case 4: // PR_CAP_AMBIENT_CLEAR_ALL
		c.Ambient = 0
		return 0
	}
	return -EINVAL
}
