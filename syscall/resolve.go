//go:build linux && amd64

package syscall

import (
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Resolver maps guest paths to host ones, in one of two modes the caller
// chooses:
//
//   - sysroot (the seed CLI's --sysroot, or none): a guest absolute path
//     resolves under the sysroot first and falls back to the host, except
//     under the guest's system directories, which never fall back. The
//     host resolves symbolic links. A process's working directory is kept
//     as a host path.
//   - confined root (containers): guest "/" is a host directory and
//     nothing outside it and its bind mounts is reachable. elfuse walks
//     each path a component at a time with O_PATH file descriptors, so
//     that symbolic links and ".." are resolved inside the root, never by
//     the host, and a concurrent rename cannot move a lookup out of it. A
//     process's working directory is kept as a canonical guest path.
type Resolver struct {
	sysroot string
	root    *confined
}

// Mount makes the host file or directory Source visible at the guest path
// Dest of a confined root, as a bind mount does.
type Mount struct {
	Dest, Source string
	// ReadOnly is recorded for the guest's view of the mount table.
	ReadOnly bool
}

// confined is the state of a confined root: its directory and its mounts,
// each held open.
type confined struct {
	fd       int
	mounts   map[string]mountPoint // by canonical guest path
	readOnly bool                  // the root itself
}

type mountPoint struct {
	dir      int    // the source directory, or the parent of a source file
	name     string // "" for a directory; the file's name in dir
	readOnly bool
}

// maxSymlinks is Linux's limit on the links followed in one lookup.
const maxSymlinks = 40

// NewResolver returns a sysroot-mode resolver; sysroot may be empty.
func NewResolver(sysroot string) *Resolver {
	if sysroot != "" {
		sysroot = path.Clean(sysroot)
	}
	return &Resolver{sysroot: sysroot}
}

// NewConfinedResolver returns a resolver confined to the host directory
// root, with mounts laid over it (later mounts over earlier ones at the
// same place). It holds file descriptors until Close.
func NewConfinedResolver(root string, mounts []Mount) (*Resolver, error) {
	return newConfined(root, false, mounts)
}

func newConfined(root string, readOnly bool, mounts []Mount) (*Resolver, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", root, err)
	}
	c := &confined{fd: fd, mounts: map[string]mountPoint{}, readOnly: readOnly}
	r := &Resolver{root: c}
	for _, m := range mounts {
		dest := path.Clean("/" + m.Dest)
		if dest == "/" {
			r.Close()
			return nil, fmt.Errorf("mount %s: a mount over the root is not supported", m.Source)
		}
		var st unix.Stat_t
		if err := unix.Stat(m.Source, &st); err != nil {
			r.Close()
			return nil, fmt.Errorf("mount source %s: %w", m.Source, err)
		}
		mp := mountPoint{readOnly: m.ReadOnly}
		open := m.Source
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			open, mp.name = path.Dir(m.Source), path.Base(m.Source)
		}
		if mp.dir, err = unix.Open(open, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			r.Close()
			return nil, fmt.Errorf("mount source %s: %w", m.Source, err)
		}
		if old, ok := c.mounts[dest]; ok {
			unix.Close(old.dir)
		}
		c.mounts[dest] = mp
	}
	return r, nil
}

// newResolverFor makes the resolver a sandbox's configuration asks for.
func newResolverFor(cfg Config) (*Resolver, error) {
	if cfg.Root != "" {
		if cfg.Sysroot != "" {
			return nil, errors.New("a sandbox has a sysroot or a confined root, not both")
		}
		return newConfined(cfg.Root, cfg.ReadOnlyRoot, cfg.Mounts)
	}
	if len(cfg.Mounts) > 0 {
		return nil, errors.New("mounts need a confined root")
	}
	return NewResolver(cfg.Sysroot), nil
}

// Close releases the descriptors of a confined root.
func (r *Resolver) Close() {
	if r == nil || r.root == nil {
		return
	}
	for _, m := range r.root.mounts {
		unix.Close(m.dir)
	}
	if r.root.fd >= 0 {
		unix.Close(r.root.fd)
	}
	r.root.fd = -1
	r.root.mounts = nil
}

// ReadOnly reports whether the canonical guest path lies on a read-only
// mount or read-only root of a confined root (writes there are EROFS).
func (r *Resolver) ReadOnly(guest string) bool {
	if r.root == nil {
		return false
	}
	best, ro := "", r.root.readOnly
	for dest, m := range r.root.mounts {
		if (guest == dest || strings.HasPrefix(guest, dest+"/")) && len(dest) > len(best) {
			best, ro = dest, m.readOnly
		}
	}
	return ro
}

// Confined reports whether this is a confined root.
func (r *Resolver) Confined() bool { return r.root != nil }

// MountTable lists the bind mounts of a confined root, sorted.
func (r *Resolver) MountTable() []string {
	if r.root == nil {
		return nil
	}
	var out []string
	for k := range r.root.mounts {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// GuestCwd is the working directory a new sandbox starts in: the host's
// in sysroot mode, "/" in a confined root.
func (r *Resolver) GuestCwd() (string, error) {
	if r.root != nil {
		return "/", nil
	}
	return os.Getwd()
}

// GuestPath is the path the guest sees for working directory cwd.
func (r *Resolver) GuestPath(cwd string) string {
	if r.root != nil || r.sysroot == "" {
		return cwd
	}
	if cwd == r.sysroot {
		return "/"
	}
	if strings.HasPrefix(cwd, r.sysroot+"/") {
		return cwd[len(r.sysroot):]
	}
	return cwd
}

// Lookup resolves the guest path p, relative paths taken from the working
// directory cwd (in the resolver's form), into a host (dirfd, name) pair
// for the *at calls. follow says whether a symbolic link in the last
// component is followed. Descriptors the pair needs stay open until the
// caller closes those appended to keep. guest is the canonical guest path
// of the result in a confined root, p otherwise.
func (r *Resolver) Lookup(cwd, p string, follow bool, keep *[]int) (dirfd int, name, guest string, err error) {
	if p == "" {
		return 0, "", "", unix.ENOENT
	}
	if r.root == nil {
		hp, err := r.resolveSysroot(cwd, p)
		return unix.AT_FDCWD, hp, p, err
	}
	if !path.IsAbs(p) {
		p = cwd + "/" + p
	}
	return r.root.walk(p, follow, keep)
}

// Resolve is Lookup for callers that need one host path string. In a
// confined root the path names the result's directory through
// /proc/self/fd, so the host resolves nothing but the last component.
func (r *Resolver) Resolve(cwd, p string, follow bool, keep *[]int) (string, error) {
	d, name, _, err := r.Lookup(cwd, p, follow, keep)
	if err != nil {
		return "", err
	}
	if d == unix.AT_FDCWD {
		return name, nil
	}
	return "/proc/self/fd/" + itoa(d) + "/" + name, nil
}

// Chdir resolves the directory p from cwd and returns it in the form
// processes keep their working directory in.
func (r *Resolver) Chdir(cwd, p string) (string, error) {
	var keep []int
	defer closeAll(keep)
	d, name, guest, err := r.Lookup(cwd, p, true, &keep)
	if err != nil {
		return "", err
	}
	fd, err := unix.Openat(d, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	if err := unix.Faccessat(fd, ".", unix.X_OK, 0); err != nil {
		return "", err
	}
	if r.root != nil {
		return guest, nil
	}
	// Kept canonical, as the kernel's getcwd reports it.
	return readlinkFD(fd)
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

var systemDirs = []string{"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/usr", "/etc", "/var", "/tmp", "/run"}

func isSystemPath(p string) bool {
	for _, d := range systemDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// resolveSysroot is sysroot mode's lookup: a host path.
func (r *Resolver) resolveSysroot(cwd, p string) (string, error) {
	if !path.IsAbs(p) {
		// Joined without cleaning: ".." after a symlink is the host's to resolve.
		if cwd == "/" {
			p = "/" + p
		} else {
			p = cwd + "/" + p
		}
		if r.sysroot != "" && strings.HasPrefix(p, r.sysroot+"/") {
			return p, nil
		}
	}
	if r.sysroot == "" {
		return p, nil
	}
	clean := path.Clean(p)
	in := r.sysroot + clean
	if isSystemPath(clean) {
		return in, nil
	}
	var st unix.Stat_t
	if unix.Lstat(in, &st) == nil {
		return in, nil
	}
	return p, nil
}

// frame is one directory of a walk: its descriptor and guest path.
type frame struct {
	fd    int
	guest string
	owned bool // fd was opened by this walk
}

// walk resolves the absolute guest path p inside the root. The result's
// directory descriptor is appended to keep when the walk opened it.
func (c *confined) walk(p string, follow bool, keep *[]int) (int, string, string, error) {
	stack := []frame{{fd: c.fd, guest: "/"}}
	release := func(all bool) {
		for i, f := range stack {
			if f.owned && (all || i != len(stack)-1) {
				unix.Close(f.fd)
			}
		}
	}
	todo := splitPath(p)
	trailingSlash := strings.HasSuffix(p, "/")
	links := 0
	for len(todo) > 0 {
		comp := todo[0]
		todo = todo[1:]
		switch comp {
		case ".":
			continue
		case "..":
			if len(stack) > 1 {
				if top := stack[len(stack)-1]; top.owned {
					unix.Close(top.fd)
				}
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if len(comp) > 255 {
			release(true)
			return 0, "", "", unix.ENAMETOOLONG
		}
		top := stack[len(stack)-1]
		guest := joinGuest(top.guest, comp)
		last := len(todo) == 0
		if m, ok := c.mounts[guest]; ok {
			if m.name != "" {
				// A file mount: the walk ends on it.
				if !last {
					release(true)
					return 0, "", "", unix.ENOTDIR
				}
				release(true)
				return m.dir, m.name, guest, nil
			}
			stack = append(stack, frame{fd: m.dir, guest: guest})
			continue
		}
		if last && !follow && !trailingSlash {
			release(false)
			c.keepTop(stack, keep)
			return top.fd, comp, guest, nil
		}
		fd, err := unix.Openat(top.fd, comp, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			stack = append(stack, frame{fd: fd, guest: guest, owned: true})
			continue
		}
		if err != unix.ENOTDIR && err != unix.ELOOP {
			if last && err == unix.ENOENT {
				// A name to create: the walk ends in its directory.
				release(false)
				c.keepTop(stack, keep)
				return top.fd, comp, guest, nil
			}
			release(true)
			return 0, "", "", err
		}
		target, lerr := readlinkat(top.fd, comp)
		if lerr != nil {
			// Not a link: a file, which ends the walk or is no directory.
			if last && !trailingSlash {
				release(false)
				c.keepTop(stack, keep)
				return top.fd, comp, guest, nil
			}
			release(true)
			return 0, "", "", unix.ENOTDIR
		}
		if links++; links > maxSymlinks {
			release(true)
			return 0, "", "", unix.ELOOP
		}
		if target == "" {
			release(true)
			return 0, "", "", unix.ENOENT
		}
		if path.IsAbs(target) {
			release(true)
			stack = stack[:1]
		}
		todo = append(splitPath(target), todo...)
	}
	// The walk ends on a directory: name it "." in itself.
	top := stack[len(stack)-1]
	release(false)
	c.keepTop(stack, keep)
	return top.fd, ".", top.guest, nil
}

// keepTop hands the last frame's descriptor to the caller when the walk
// opened it.
func (c *confined) keepTop(stack []frame, keep *[]int) {
	if top := stack[len(stack)-1]; top.owned {
		*keep = append(*keep, top.fd)
	}
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func joinGuest(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		if len(buf) >= unix.PathMax {
			return "", unix.ENAMETOOLONG
		}
		buf = make([]byte, 2*len(buf))
	}
}
