package oci

import (
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// capNames are Linux's capabilities by number.
var capNames = []string{
	"CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
	"SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
	"LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
	"WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
}

// CapSets are a process's five capability sets as bit masks.
type CapSets struct {
	Effective   uint64 `json:"effective"`
	Permitted   uint64 `json:"permitted"`
	Inheritable uint64 `json:"inheritable"`
	Bounding    uint64 `json:"bounding"`
	Ambient     uint64 `json:"ambient"`
}

// capMask turns capability names ("CAP_CHOWN") into a mask; an unknown
// name is an error, as runc gives it.
func capMask(names []string) (uint64, error) {
	var m uint64
	for _, n := range names {
		i := capIndex(n)
		if i < 0 {
			return 0, fmt.Errorf("unknown capability %q", n)
		}
		m |= 1 << uint(i)
	}
	return m, nil
}

func capIndex(name string) int {
	n := strings.TrimPrefix(strings.ToUpper(name), "CAP_")
	for i, c := range capNames {
		if c == n {
			return i
		}
	}
	return -1
}

// capSets maps a spec's capabilities to masks.
func capSets(c *specs.LinuxCapabilities) (*CapSets, error) {
	if c == nil {
		return nil, nil
	}
	var s CapSets
	for _, f := range []struct {
		names []string
		dst   *uint64
		what  string
	}{
		{c.Effective, &s.Effective, "effective"}, {c.Permitted, &s.Permitted, "permitted"},
		{c.Inheritable, &s.Inheritable, "inheritable"}, {c.Bounding, &s.Bounding, "bounding"},
		{c.Ambient, &s.Ambient, "ambient"},
	} {
		m, err := capMask(f.names)
		if err != nil {
			return nil, fmt.Errorf("process.capabilities.%s: %w", f.what, err)
		}
		*f.dst = m
	}
	return &s, nil
}
