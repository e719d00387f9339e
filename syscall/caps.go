//go:build linux && amd64

package syscall

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// capget(2). Every guest process runs with the capabilities of the elfuse
// process itself (nothing can change them: capset is not implemented), so
// capget reports the host's own sets for any live guest pid, in the
// layout of the version the caller asked for.

const (
	capVersion1 = 0x19980330 // one 32-bit set
	capVersion2 = 0x20071026 // two (deprecated, same layout as 3)
	capVersion3 = 0x20080522
)

func sysCapget(t *Thread, a *[6]uint64) int64 {
	var hdr [8]byte
	if e := t.get(a[0], hdr[:]); e != 0 {
		return e
	}
	le := binary.LittleEndian
	words := 0
	switch le.Uint32(hdr[0:]) {
	case capVersion1:
		words = 1
	case capVersion2, capVersion3:
		words = 2
	default:
		// Unknown version: Linux writes its preferred one back; a caller
		// probing with a NULL data pointer gets success.
		le.PutUint32(hdr[0:], capVersion3)
		if e := t.put(a[0], hdr[:4]); e != 0 {
			return e
		}
		if a[1] == 0 {
			return 0
		}
		return -EINVAL
	}
	if a[1] == 0 {
		return 0
	}
	pid := int(int32(le.Uint32(hdr[4:])))
	if pid < 0 {
		return -EINVAL
	}
	if pid != 0 && pid != t.proc.pid {
		t.sb.mu.Lock()
		p := t.sb.procs[pid]
		t.sb.mu.Unlock()
		if p == nil || p.zombie {
			return -ESRCH
		}
	}
	h := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var d [2]unix.CapUserData
	if err := unix.Capget(&h, &d[0]); err != nil {
		return errno(err)
	}
	out := make([]byte, 12*words)
	for i := 0; i < words; i++ {
		le.PutUint32(out[12*i:], d[i].Effective)
		le.PutUint32(out[12*i+4:], d[i].Permitted)
		le.PutUint32(out[12*i+8:], d[i].Inheritable)
	}
	return t.put(a[1], out)
}
