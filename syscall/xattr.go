//go:build linux && amd64

package syscall

import (
	"errors"
	"strings"

	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// Extended attributes, over the host file's own. A path is resolved as
// the other path calls do; the host's xattr calls take a path rather than
// a directory fd, so a pair (dirfd, name) is named through the dirfd's
// /proc/self/fd link. In a confined root the lookup has already followed
// any link, so the l* host call is used there (see atFlags). Names and
// sizes are checked first, as Linux checks them.

// Linux limits and flags of the xattr calls.
const (
	xattrNameMax = 255
	xattrSizeMax = 65536
	xattrCreate  = 1
	xattrReplace = 2
)

// xattrPath is the host path (and whether to use the l* call) for the
// guest path at va, resolved against dirfd.
func (t *Thread) xattrPath(va uint64, follow, write bool) (string, bool, int64) {
	var d int
	var name string
	var e int64
	if write {
		d, name, e = t.writableAt(cwdFD, va, follow)
	} else {
		d, name, e = t.pathAt(cwdFD, va, follow)
	}
	if e != 0 {
		return "", false, e
	}
	nofollow := t.atFlags(follow) == unix.AT_SYMLINK_NOFOLLOW
	if d == unix.AT_FDCWD || len(name) > 0 && name[0] == '/' {
		return name, nofollow, 0
	}
	return "/proc/self/fd/" + itoa(d) + "/" + name, nofollow, 0
}

// xattrName reads an attribute name: empty or longer than XATTR_NAME_MAX
// is ERANGE.
func (t *Thread) xattrName(va uint64) (string, int64) {
	s, err := t.as().ReadString(va, xattrNameMax+1)
	if errors.Is(err, mm.ErrFault) {
		return "", -EFAULT
	}
	if err != nil {
		return "", -ERANGE
	}
	if s == "" || len(s) > xattrNameMax {
		return "", -ERANGE
	}
	return s, 0
}

// getxattr serves the three getxattr forms; call does the host's.
func (t *Thread) getxattr(nameVA, valVA, size uint64, call func(name string, b []byte) (int, error)) int64 {
	name, e := t.xattrName(nameVA)
	if e != 0 {
		return e
	}
	return t.listxattr(valVA, size, func(b []byte) (int, error) { return call(name, b) })
}

func (t *Thread) pathGetxattr(a *[6]uint64, follow bool) int64 {
	// Linux reads the name after resolving the path.
	hp, nofollow, e := t.xattrPath(a[0], follow, false)
	if e != 0 {
		return e
	}
	return t.getxattr(a[1], a[2], a[3], func(name string, b []byte) (int, error) {
		if nofollow {
			return unix.Lgetxattr(hp, name, b)
		}
		return unix.Getxattr(hp, name, b)
	})
}

func sysGetxattr(t *Thread, a *[6]uint64) int64  { return t.pathGetxattr(a, true) }
func sysLgetxattr(t *Thread, a *[6]uint64) int64 { return t.pathGetxattr(a, false) }
func sysFgetxattr(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	return t.getxattr(a[1], a[2], a[3], func(name string, b []byte) (int, error) {
		return unix.Fgetxattr(f.host, name, b)
	})
}

// setxattr serves the three setxattr forms.
func (t *Thread) setxattr(nameVA, valVA, size, flags uint64, call func(name string, b []byte, flags int) error) int64 {
	if flags&^(xattrCreate|xattrReplace) != 0 {
		return -EINVAL
	}
	name, e := t.xattrName(nameVA)
	if e != 0 {
		return e
	}
	if size > xattrSizeMax {
		return -E2BIG
	}
	b := make([]byte, size)
	if size > 0 {
		if e := t.get(valVA, b); e != 0 {
			return e
		}
	}
	hf := 0
	if flags&xattrCreate != 0 {
		hf |= unix.XATTR_CREATE
	}
	if flags&xattrReplace != 0 {
		hf |= unix.XATTR_REPLACE
	}
	return errno(call(name, b, hf))
}

func (t *Thread) pathSetxattr(a *[6]uint64, follow bool) int64 {
	hp, nofollow, e := t.xattrPath(a[0], follow, true)
	if e != 0 {
		return e
	}
	return t.setxattr(a[1], a[2], a[3], a[4], func(name string, b []byte, fl int) error {
		if nofollow {
			return unix.Lsetxattr(hp, name, b, fl)
		}
		return unix.Setxattr(hp, name, b, fl)
	})
}

func sysSetxattr(t *Thread, a *[6]uint64) int64  { return t.pathSetxattr(a, true) }
func sysLsetxattr(t *Thread, a *[6]uint64) int64 { return t.pathSetxattr(a, false) }
func sysFsetxattr(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	if e := t.fdWritable(f); e != 0 {
		return e
	}
	return t.setxattr(a[1], a[2], a[3], a[4], func(name string, b []byte, fl int) error {
		return unix.Fsetxattr(f.host, name, b, fl)
	})
}

// fdWritable fails with EROFS when f was opened by a path on a read-only
// mount.
func (t *Thread) fdWritable(f *fdEntry) int64 {
	if strings.HasPrefix(f.path, "/") && !strings.HasPrefix(f.path, "/memfd:") && t.sb.res.ReadOnly(f.path) {
		return -EROFS
	}
	return 0
}

// listxattr serves the three listxattr forms.
// listxattr runs call with a buffer of size bytes (at most XATTR_SIZE_MAX;
// 0 asks for the size only) and copies what it got to valVA: the shape of
// listxattr and getxattr alike.
func (t *Thread) listxattr(valVA, size uint64, call func(b []byte) (int, error)) int64 {
	if size > xattrSizeMax {
		size = xattrSizeMax
	}
	var b []byte
	if size > 0 {
		b = make([]byte, size)
	}
	n, err := call(b)
	if err != nil {
		return errno(err)
	}
	if size > 0 {
		if e := t.put(valVA, b[:n]); e != 0 {
			return e
		}
	}
	return int64(n)
}

func (t *Thread) pathListxattr(a *[6]uint64, follow bool) int64 {
	hp, nofollow, e := t.xattrPath(a[0], follow, false)
	if e != 0 {
		return e
	}
	return t.listxattr(a[1], a[2], func(b []byte) (int, error) {
		if nofollow {
			return unix.Llistxattr(hp, b)
		}
		return unix.Listxattr(hp, b)
	})
}

func sysListxattr(t *Thread, a *[6]uint64) int64  { return t.pathListxattr(a, true) }
func sysLlistxattr(t *Thread, a *[6]uint64) int64 { return t.pathListxattr(a, false) }
func sysFlistxattr(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	return t.listxattr(a[1], a[2], func(b []byte) (int, error) { return unix.Flistxattr(f.host, b) })
}

func (t *Thread) pathRemovexattr(a *[6]uint64, follow bool) int64 {
	hp, nofollow, e := t.xattrPath(a[0], follow, true)
	if e != 0 {
		return e
	}
	name, e := t.xattrName(a[1])
	if e != 0 {
		return e
	}
	if nofollow {
		return errno(unix.Lremovexattr(hp, name))
	}
	return errno(unix.Removexattr(hp, name))
}

func sysRemovexattr(t *Thread, a *[6]uint64) int64  { return t.pathRemovexattr(a, true) }
func sysLremovexattr(t *Thread, a *[6]uint64) int64 { return t.pathRemovexattr(a, false) }
func sysFremovexattr(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	if e := t.fdWritable(f); e != 0 {
		return e
	}
	name, e := t.xattrName(a[1])
	if e != 0 {
		return e
	}
	return errno(unix.Fremovexattr(f.host, name))
}
