//go:build linux && amd64

package syscall

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// statfs and fstatfs report the host file system's struct statfs, laid
// out field by field as amd64 Linux's (120 bytes). A file on a read-only
// mount of a confined root reports ST_RDONLY, as the mount would.

const stRdonly = 1 // ST_RDONLY in f_flags

// putStatfs writes the amd64 struct statfs.
func (t *Thread) putStatfs(va uint64, st *unix.Statfs_t, readOnly bool) int64 {
	var b [120]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], uint64(st.Type))
	le.PutUint64(b[8:], uint64(st.Bsize))
	le.PutUint64(b[16:], st.Blocks)
	le.PutUint64(b[24:], st.Bfree)
	le.PutUint64(b[32:], st.Bavail)
	le.PutUint64(b[40:], st.Files)
	le.PutUint64(b[48:], st.Ffree)
	le.PutUint32(b[56:], uint32(st.Fsid.Val[0]))
	le.PutUint32(b[60:], uint32(st.Fsid.Val[1]))
	le.PutUint64(b[64:], uint64(st.Namelen))
	le.PutUint64(b[72:], uint64(st.Frsize))
	flags := uint64(st.Flags)
	if readOnly {
		flags |= stRdonly
	}
	le.PutUint64(b[80:], flags)
	return t.put(va, b[:])
}

func sysStatfs(t *Thread, a *[6]uint64) int64 {
	d, hp, e := t.pathAt(cwdFD, a[0], true)
	if e != 0 {
		return e
	}
	// O_PATH opens anything (a socket, a fifo without a writer) at once,
	// and fstatfs works on it.
	fd, err := unix.Openat(d, hp, unix.O_PATH|unix.O_CLOEXEC|t.noFollow(), 0)
	if err != nil {
		return errno(err)
	}
	defer unix.Close(fd)
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return errno(err)
	}
	t.synthStatfs(t.lookedUp, &st)
	return t.putStatfs(a[1], &st, t.readOnlyHere())
}

// synthStatfs gives the file systems elfuse makes their own magic
// numbers (the host's are those of the directory they live in).
func (t *Thread) synthStatfs(guest string, st *unix.Statfs_t) {
	switch t.sb.res.SyntheticAt(guest) {
	case "proc":
		st.Type = unix.PROC_SUPER_MAGIC
	case "sysfs":
		st.Type = unix.SYSFS_MAGIC
	}
}

func sysFstatfs(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(f.host, &st); err != nil {
		return errno(err)
	}
	t.synthStatfs(f.path, &st)
	return t.putStatfs(a[1], &st, t.fdWritable(f) != 0)
}
