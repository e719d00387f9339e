//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"errors"
	"path"

	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// handler serves one system call; it returns the result or -errno.
type handler func(t *Thread, a *[6]uint64) int64

// sysEntry is one row of a syscall table.
type sysEntry struct {
	name  string
	fn    handler
	paths uint8   // bit i: argument i is a path string
	xl    xlCheck // whether a server may run the call without an exit (nil: never)
}

// errno converts a host or mm error to -errno.
func errno(err error) int64 {
	if err == nil {
		return 0
	}
	var en unix.Errno
	if errors.As(err, &en) {
		return -hostErrno(en)
	}
	if errors.Is(err, mm.ErrFault) {
		return -EFAULT
	}
	if errors.Is(err, mm.ErrNoMemory) {
		return -ENOMEM
	}
	return -EIO
}

// hostErrno maps a host errno to Linux's (the identity on a Linux host).
func hostErrno(e unix.Errno) int64 { return int64(e) }

func (t *Thread) as() *mm.AddressSpace { return t.proc.as }

// pathArg reads a guest path argument.
func (t *Thread) pathArg(va uint64) (string, int64) {
	s, err := t.as().ReadString(va, 4096)
	if err != nil {
		if errors.Is(err, mm.ErrFault) {
			return "", -EFAULT
		}
		return "", -ENAMETOOLONG
	}
	return s, 0
}

// hostAt turns a guest (dirfd, path) pair into a host one for the *at
// calls; follow says whether a symbolic link in the last component is
// followed (in a confined root elfuse follows it, elsewhere the host
// call's flags decide). Descriptors the pair needs are closed when the
// system call returns.
func (t *Thread) hostAt(dirfd uint64, p string, follow bool) (int, string, int64) {
	res := t.sb.res
	t.lookedUp, t.lookedUpMagic, t.lookedUpRO, t.lookedUpData = "", false, false, nil
	cwd := t.proc.fs.cwd
	if !path.IsAbs(p) && int32(dirfd) != atFDCWD {
		e := t.proc.fds.get(int(int32(dirfd)))
		if e == nil {
			return 0, "", -EBADF
		}
		if !res.Confined() {
			if !res.Synthetic(e.path) {
				l, ok, err := res.lookupAt(t, e.host, p, follow, &t.scratch)
				if !ok {
					return e.host, p, 0
				}
				if err != nil {
					return 0, "", errno(err)
				}
				t.lookedUp = l.guest
				return l.dir, l.name, 0
			}
			// A directory of /proc or /sys: looked up again by its guest
			// path, so that what the walk reaches is made anew.
			p = e.path + "/" + p
		} else if !path.IsAbs(e.path) {
			// Not opened by a path elfuse knows: only a directory opened
			// by path can anchor a relative lookup in a confined root.
			return 0, "", -ENOTDIR
		}
		cwd = e.path
	}
	l, err := res.Lookup(t, cwd, p, follow, &t.scratch)
	if err != nil {
		return 0, "", errno(err)
	}
	t.lookedUp, t.lookedUpMagic, t.lookedUpRO, t.lookedUpData = l.guest, l.magic, l.readOnly, l.data
	return l.dir, l.name, 0
}

// readOnlyHere reports whether the last lookup ended on a read-only mount.
func (t *Thread) readOnlyHere() bool {
	return t.sb.res.ReadOnly(t.lookedUp)
}

// writeDenied is the error of a change where the last lookup ended: EROFS
// on a read-only mount, synth on an entry of a synthetic file system the
// guest may not change (Linux's /proc answers EACCES to an open for
// writing and EPERM to unlink), 0 where the change may go ahead.
func (t *Thread) writeDenied(synth int64) int64 {
	switch {
	case t.readOnlyHere():
		return -EROFS
	case t.lookedUpRO:
		return synth
	}
	return 0
}

// atFlags is the host's AT_SYMLINK_NOFOLLOW when the call must not follow
// a last symbolic link: when the guest asked so, and always in a confined
// root, whose lookups have followed any link already.
func (t *Thread) atFlags(follow bool) int {
	if !follow || t.sb.res.Confined() && !t.lookedUpMagic {
		return unix.AT_SYMLINK_NOFOLLOW
	}
	return 0
}

// noFollow is O_NOFOLLOW in a confined root (see atFlags), else 0.
func (t *Thread) noFollow() int {
	if t.sb.res.Confined() && !t.lookedUpMagic {
		return unix.O_NOFOLLOW
	}
	return 0
}

// writableAt is pathAt for a call that changes the file system at the
// path: it fails with EROFS on a read-only mount.
func (t *Thread) writableAt(dirfd, va uint64, follow bool) (int, string, int64) {
	d, name, e := t.pathAt(dirfd, va, follow)
	if e == 0 {
		if e = t.writeDenied(-EPERM); e != 0 {
			return 0, "", e
		}
	}
	return d, name, e
}

// pathAt reads the path at va and resolves it against dirfd.
func (t *Thread) pathAt(dirfd, va uint64, follow bool) (int, string, int64) {
	p, e := t.pathArg(va)
	if e != 0 {
		return 0, "", e
	}
	if p == "" {
		return 0, "", -ENOENT
	}
	return t.hostAt(dirfd, p, follow)
}

func (t *Thread) fd(fd uint64) (*fdEntry, int64) {
	e := t.proc.fds.get(int(int32(fd)))
	if e == nil {
		return nil, -EBADF
	}
	return e, 0
}

func (t *Thread) put(va uint64, b []byte) int64 {
	if err := t.as().Write(va, b); err != nil {
		return -EFAULT
	}
	return 0
}

func (t *Thread) get(va uint64, b []byte) int64 {
	if err := t.as().Read(va, b); err != nil {
		return -EFAULT
	}
	return 0
}

func (t *Thread) putU32(va uint64, v uint32) int64 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return t.put(va, b[:])
}

func (t *Thread) putU64(va uint64, v uint64) int64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	return t.put(va, b[:])
}

func (t *Thread) getU64(va uint64) (uint64, int64) {
	var b [8]byte
	if e := t.get(va, b[:]); e != 0 {
		return 0, e
	}
	return binary.LittleEndian.Uint64(b[:]), 0
}

// putTimespec writes a struct timespec.
func (t *Thread) putTimespec(va uint64, ts unix.Timespec) int64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], uint64(ts.Sec))
	binary.LittleEndian.PutUint64(b[8:], uint64(ts.Nsec))
	return t.put(va, b[:])
}

// getTimespec reads a struct timespec, checking its range.
func (t *Thread) getTimespec(va uint64) (unix.Timespec, int64) {
	var b [16]byte
	if e := t.get(va, b[:]); e != 0 {
		return unix.Timespec{}, e
	}
	ts := unix.Timespec{Sec: int64(binary.LittleEndian.Uint64(b[0:])), Nsec: int64(binary.LittleEndian.Uint64(b[8:]))}
	if ts.Sec < 0 || ts.Nsec < 0 || ts.Nsec >= 1e9 {
		return ts, -EINVAL
	}
	return ts, 0
}

func cstr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
