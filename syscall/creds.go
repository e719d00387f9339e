//go:build linux && amd64

package syscall

import (
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// Host calls run with the guest's file-system identity. Linux keeps
// credentials per thread, and each guest thread's calls run on the OS
// thread of its vCPU, so before a call that thread takes the process's
// fsuid, fsgid, supplementary groups and effective capabilities. The host
// kernel then makes the permission checks a Linux kernel would, and files
// the guest creates get the guest's ownership. Only an elfuse that runs as
// root can take on another identity; otherwise every guest call runs as
// elfuse's own user.

// hostCreds is the identity an OS thread last took (a worker's).
type hostCreds struct {
	set          bool
	fsuid, fsgid uint32
	groups       []uint32
	eff          uint64
}

// elfuseCaps are elfuse's own capability sets, and whether it can take
// on guest identities.
var (
	elfuseRoot = os.Geteuid() == 0
	elfuseCaps = hostCaps()
)

// applyCreds gives the OS thread the identity of the thread's process.
func (t *Thread) applyCreds() {
	if !elfuseRoot || t.hc == nil {
		return
	}
	c := &t.proc.cred
	eff := c.caps.Effective & elfuseCaps.Permitted
	hc := t.hc
	if hc.set && hc.fsuid == c.fsuid && hc.fsgid == c.fsgid && hc.eff == eff && slices.Equal(hc.groups, c.groups) {
		return
	}
	groups := make([]int, len(c.groups))
	for i, g := range c.groups {
		groups[i] = int(g)
	}
	// Groups and gid first: they need CAP_SETGID, which a change of fsuid
	// does not take away but capset may.
	unix.Setgroups(groups)
	unix.SetfsgidRetGid(int(c.fsgid))
	unix.SetfsuidRetUid(int(c.fsuid))
	setEffectiveCaps(eff)
	*hc = hostCreds{set: true, fsuid: c.fsuid, fsgid: c.fsgid, groups: slices.Clone(c.groups), eff: eff}
}

// asElfuse runs f with elfuse's own identity (for the synthetic file
// systems' private directory), then gives the thread the guest's back.
func (t *Thread) asElfuse(f func() error) error {
	if t == nil || !elfuseRoot || t.hc == nil || !t.hc.set {
		return f()
	}
	hc := t.hc
	if hc.fsuid == 0 && hc.fsgid == 0 && hc.eff == elfuseCaps.Effective {
		return f()
	}
	setEffectiveCaps(elfuseCaps.Effective)
	unix.SetfsuidRetUid(0)
	unix.SetfsgidRetGid(0)
	hc.set = false
	err := f()
	t.applyCreds()
	return err
}

// setEffectiveCaps sets the calling thread's effective capabilities,
// keeping its permitted set.
func setEffectiveCaps(eff uint64) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(eff), Permitted: uint32(elfuseCaps.Permitted), Inheritable: uint32(elfuseCaps.Inheritable)},
		{Effective: uint32(eff >> 32), Permitted: uint32(elfuseCaps.Permitted >> 32), Inheritable: uint32(elfuseCaps.Inheritable >> 32)},
	}
	unix.Capset(&hdr, &data[0])
}
