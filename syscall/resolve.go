//go:build linux && amd64

package syscall

import (
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
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
	// synth serves the synthetic file systems; in sysroot mode, shell is
	// the walker for the guest paths under them.
	synth *synthFS
	shell *confined
	// sys walks a sysroot a component at a time, so that its absolute
	// symbolic links stay in it (with the synthetic mounts too).
	sys *confined
}

// Mount makes the host file or directory Source visible at the guest path
// Dest of a confined root, as a bind mount does, or serves one of elfuse's
// synthetic file systems there.
type Mount struct {
	Dest, Source string
	// ReadOnly is recorded for the guest's view of the mount table.
	ReadOnly bool
	// Synthetic names a file system elfuse makes itself ("proc" or
	// "sysfs"); Source is then unused. With neither Source nor Synthetic,
	// the mount makes what is at Dest read-only (no new file system).
	Synthetic string
	// Type, FSSource, Root and Options are what the guest's mount table
	// shows (mountinfo's file system type, source, root within it and
	// options); empty Type is "bind" with Source as the root.
	Type, FSSource, Root string
	Options              []string
}

// confined is the state of a confined root: its directory and its mounts,
// each held open. The sysroot mode's shell has no root directory (fd -1):
// a walk that leaves its synthetic mounts is handed back to the host.
type confined struct {
	fd       int
	mounts   map[string]mountPoint // by canonical guest path
	table    []Mount               // in the order given, for mountinfo
	readOnly bool                  // the root itself
	roPaths  []string              // read-only views of what is there
	start    *frame                // where a relative walk starts (walkStart)
	synth    *synthFS
}

type mountPoint struct {
	dir      int    // the source directory, or the parent of a source file
	name     string // "" for a directory; the file's name in dir
	readOnly bool
	synth    string // the synthetic file system served here, if any
}

// redirect is a walk of the sysroot shell that left the synthetic file
// systems: the guest path to resolve instead.
type redirect struct{ path string }

func (r *redirect) Error() string { return "redirect to " + r.path }

// lookup is the result of a path lookup: a host (dir, name) pair for the
// *at calls, the canonical guest path, and whether name is a host magic
// link (/proc/self/fd/N) that the host call must follow.
type lookup struct {
	dir   int
	name  string
	guest string
	magic bool
	// readOnly marks an entry of a synthetic file system that the guest
	// may not change; data makes a synthetic file's content.
	readOnly bool
	data     func() []byte
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
// same place). It holds file descriptors until Close. Synthetic mounts
// are empty: only a sandbox serves them.
func NewConfinedResolver(root string, mounts []Mount) (*Resolver, error) {
	return newConfined(root, false, mounts, nil)
}

func newConfined(root string, readOnly bool, mounts []Mount, synth *synthFS) (*Resolver, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", root, err)
	}
	c := &confined{fd: fd, mounts: map[string]mountPoint{}, readOnly: readOnly, synth: synth}
	r := &Resolver{root: c, synth: synth}
	for _, m := range mounts {
		if err := c.add(m); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// add lays the mount m over the root.
func (c *confined) add(m Mount) error {
	dest := path.Clean("/" + m.Dest)
	if dest == "/" {
		return fmt.Errorf("mount %s: a mount over the root is not supported", m.Source)
	}
	mp := mountPoint{readOnly: m.ReadOnly, dir: -1}
	if m.Source == "" && m.Synthetic == "" {
		c.roPaths = append(c.roPaths, dest)
		return nil
	}
	if m.Synthetic != "" {
		if _, ok := synthKinds[m.Synthetic]; !ok {
			return fmt.Errorf("mount %s: unknown synthetic file system %q", dest, m.Synthetic)
		}
		mp.synth = m.Synthetic
		if c.synth != nil {
			mp.dir = c.synth.roots[m.Synthetic]
		}
	} else {
		var st unix.Stat_t
		if err := unix.Stat(m.Source, &st); err != nil {
			return fmt.Errorf("mount source %s: %w", m.Source, err)
		}
		open := m.Source
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			open, mp.name = path.Dir(m.Source), path.Base(m.Source)
		}
		var err error
		if mp.dir, err = unix.Open(open, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("mount source %s: %w", m.Source, err)
		}
	}
	if old, ok := c.mounts[dest]; ok && old.synth == "" {
		unix.Close(old.dir)
	}
	c.mounts[dest] = mp
	m.Dest = dest
	c.table = append(c.table, m)
	return nil
}

// newResolverFor makes the resolver a sandbox's configuration asks for,
// serving synthetic file systems from synth.
func newResolverFor(cfg Config, synth *synthFS) (*Resolver, error) {
	if cfg.Root != "" {
		if cfg.Sysroot != "" {
			return nil, errors.New("a sandbox has a sysroot or a confined root, not both")
		}
		return newConfined(cfg.Root, cfg.ReadOnlyRoot, cfg.Mounts, synth)
	}
	if len(cfg.Mounts) > 0 {
		return nil, errors.New("mounts need a confined root")
	}
	r := NewResolver(cfg.Sysroot)
	if synth != nil {
		r.synth = synth
		r.shell = &confined{fd: -1, mounts: map[string]mountPoint{}, synth: synth}
		for kind, dest := range synthKinds {
			r.shell.add(Mount{Dest: dest, Synthetic: kind, Type: kind, FSSource: kind})
		}
	}
	if r.sysroot != "" {
		fd, err := unix.Open(r.sysroot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("sysroot %s: %w", r.sysroot, err)
		}
		r.sys = &confined{fd: fd, mounts: map[string]mountPoint{}, synth: synth}
		if synth != nil {
			for kind, dest := range synthKinds {
				r.sys.add(Mount{Dest: dest, Synthetic: kind, Type: kind, FSSource: kind})
			}
		}
	}
	return r, nil
}

// Close releases the descriptors of a confined root or a sysroot.
func (r *Resolver) Close() {
	if r != nil && r.sys != nil && r.sys.fd >= 0 {
		unix.Close(r.sys.fd)
		r.sys.fd = -1
	}
	if r == nil || r.root == nil {
		return
	}
	for _, m := range r.root.mounts {
		if m.synth == "" {
			unix.Close(m.dir)
		}
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
		if under(guest, dest) && len(dest) > len(best) {
			best, ro = dest, m.readOnly
		}
	}
	for _, dest := range r.root.roPaths {
		if under(guest, dest) {
			return true
		}
	}
	return ro
}

// Synthetic reports whether the guest path g lies in a synthetic file
// system of a sysroot-mode resolver.
func (r *Resolver) Synthetic(g string) bool {
	return r.shell != nil && path.IsAbs(g) && r.shell.serves(sysrootAlias(g))
}

// SyntheticAt is the synthetic file system ("proc", "sysfs") the
// canonical guest path g lies in, or "".
func (r *Resolver) SyntheticAt(g string) string {
	c := r.root
	if c == nil {
		c = r.shell
	}
	if c == nil || !path.IsAbs(g) {
		return ""
	}
	best, kind := "", ""
	for dest, m := range c.mounts {
		if under(g, dest) && len(dest) > len(best) {
			best, kind = dest, m.synth
		}
	}
	return kind
}

// Confined reports whether this is a confined root.
func (r *Resolver) Confined() bool { return r.root != nil }

// MountTable lists the mounts of a confined root in the order they were
// made (a later mount at the same place hides the earlier).
func (r *Resolver) MountTable() []Mount {
	switch {
	case r.root != nil:
		return r.root.table
	case r.shell != nil:
		return r.shell.table
	}
	return nil
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
	if r.root != nil {
		return cwd
	}
	if g := r.synth.guestPath(cwd); g != "" {
		return g
	}
	if r.sysroot == "" {
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

// Lookup resolves the guest path p for the thread who (nil before the
// first thread runs), relative paths taken from the working directory cwd
// (in the resolver's form), into a host (dirfd, name) pair for the *at
// calls. follow says whether a symbolic link in the last component is
// followed. Descriptors the pair needs stay open until the caller closes
// those appended to keep.
func (r *Resolver) Lookup(who *Thread, cwd, p string, follow bool, keep *[]int) (lookup, error) {
	if p == "" {
		return lookup{}, unix.ENOENT
	}
	var chroot *chrootDir
	if who != nil {
		chroot = who.proc.fs.root
	}
	if r.root != nil {
		real := !path.IsAbs(p)
		if real {
			p = cwd + "/" + p
		}
		return r.root.walkFrom(who, chroot, real, p, follow, keep)
	}
	if chroot != nil {
		// A sysroot-mode process that called chroot: its root directory
		// confines its paths (relative ones from a working directory
		// inside it), with nothing mounted in it.
		g := p
		if !path.IsAbs(p) {
			g = underRoot(chroot, cwd) + "/" + p
		}
		if path.IsAbs(g) {
			c := &confined{fd: chroot.dir.fd, mounts: map[string]mountPoint{}}
			return c.walk(who, g, follow, keep)
		}
	}
	for links := 0; ; links++ {
		if r.shell != nil {
			g := p
			if !path.IsAbs(g) {
				g = r.GuestPath(cwd) + "/" + g
			}
			if hostDevice(g) {
				// Pseudo-terminals are the host's: a ptmx opens the
				// devpts mounted beside it, which a sysroot's /dev lacks.
				return lookup{dir: unix.AT_FDCWD, name: path.Clean(g), guest: path.Clean(g)}, nil
			}
			if g = sysrootAlias(g); r.shell.serves(g) {
				l, err := r.shell.walk(who, g, follow, keep)
				var rd *redirect
				if !errors.As(err, &rd) {
					return l, err
				}
				if links >= maxSymlinks {
					return lookup{}, unix.ELOOP
				}
				p = rd.path
				continue
			}
		}
		if r.sys != nil {
			if l, err, ok := r.sysrootLookup(who, cwd, p, follow, keep); ok {
				return l, err
			}
		}
		if !path.IsAbs(p) && who != nil {
			if fs := who.proc.fs; fs.dir != nil && fs.cwd == cwd {
				return lookup{dir: fs.dir.fd, name: p, guest: p}, nil
			}
		}
		hp, err := r.resolveSysroot(cwd, p)
		return lookup{dir: unix.AT_FDCWD, name: hp, guest: p}, err
	}
}

// hostDevice reports whether the guest path g is one of the devices a
// sysroot-mode guest always gets from the host: /dev/ptmx and /dev/pts.
func hostDevice(g string) bool {
	clean := path.Clean(g)
	return clean == "/dev/ptmx" || clean == "/dev/pts" || strings.HasPrefix(clean, "/dev/pts/")
}

// sysrootAlias maps the /dev links into /proc that a sysroot's host /dev
// would resolve to elfuse's own descriptors.
func sysrootAlias(g string) string {
	if !strings.Contains(g, "dev") {
		return g // nothing cleans to /dev/... (most lookups: no Clean)
	}
	clean := path.Clean(g)
	switch clean {
	case "/dev/stdin":
		return "/proc/self/fd/0"
	case "/dev/stdout":
		return "/proc/self/fd/1"
	case "/dev/stderr":
		return "/proc/self/fd/2"
	case "/dev/fd":
		return "/proc/self/fd" + trailing(g)
	}
	if rest, ok := strings.CutPrefix(clean, "/dev/fd/"); ok {
		return "/proc/self/fd/" + rest + trailing(g)
	}
	return g
}

func trailing(p string) string {
	if strings.HasSuffix(p, "/") {
		return "/"
	}
	return ""
}

// serves reports whether the clean form of the absolute guest path g is
// under one of the shell's mounts.
func (c *confined) serves(g string) bool {
	clean := path.Clean(g)
	for dest := range c.mounts {
		if under(clean, dest) {
			return true
		}
	}
	return false
}

// under reports whether the clean path p is dir or below it; "/" counts
// as a name here, matched by p == "/" only, as the mount tables use it.
func under(p, dir string) bool {
	return strings.HasPrefix(p, dir) && (len(p) == len(dir) || p[len(dir)] == '/')
}

// Resolve is Lookup for callers that need one host path string. In a
// confined root the path names the result's directory through
// /proc/self/fd, so the host resolves nothing but the last component.
func (r *Resolver) Resolve(who *Thread, cwd, p string, follow bool, keep *[]int) (string, error) {
	l, err := r.Lookup(who, cwd, p, follow, keep)
	if err != nil {
		return "", err
	}
	return l.hostPath(), nil
}

// hostPath is the lookup as one host path.
func (l lookup) hostPath() string {
	if l.dir == unix.AT_FDCWD {
		return l.name
	}
	return "/proc/self/fd/" + itoa(l.dir) + "/" + l.name
}

// Chdir resolves the directory p from cwd and returns it in the form
// processes keep their working directory in.
func (r *Resolver) Chdir(who *Thread, cwd, p string) (string, error) {
	s, _, err := r.chdir(who, cwd, p)
	return s, err
}

// chdir is Chdir that also returns the directory held open, in sysroot
// mode (nil in a confined root, where lookups start at the root).
func (r *Resolver) chdir(who *Thread, cwd, p string) (string, *cwdDir, error) {
	var keep []int
	defer func() { closeAll(keep) }()
	l, err := r.Lookup(who, cwd, p, true, &keep)
	if err != nil {
		return "", nil, err
	}
	fd, err := unix.Openat(l.dir, l.name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	if err := unix.Faccessat(fd, ".", unix.X_OK, 0); err != nil {
		unix.Close(fd)
		return "", nil, err
	}
	if r.root != nil {
		unix.Close(fd)
		return l.guest, nil, nil
	}
	// Kept canonical, as the kernel's getcwd reports it. A path longer
	// than the kernel will name (PATH_MAX) is the joined one: lookups go
	// from the directory held open, and getcwd refuses it as Linux does.
	s, err := readlinkFD(fd)
	if errors.Is(err, unix.ENAMETOOLONG) && !path.IsAbs(p) {
		s, err = path.Join(cwd, p), nil
	}
	if err != nil {
		unix.Close(fd)
		return "", nil, err
	}
	return s, newCwdDir(fd), nil
}

// cwdDir holds a sysroot-mode working directory open: relative paths
// resolve from it, as the kernel resolves them from a process's cwd (not
// by the path, whose parents the process may not be allowed to search).
// Processes share it (fork, CLONE_FS); its descriptor is closed once none
// holds it.
type cwdDir struct{ fd int }

func newCwdDir(fd int) *cwdDir {
	d := &cwdDir{fd: fd}
	runtime.AddCleanup(d, func(fd int) { unix.Close(fd) }, fd)
	return d
}

// openCwdDir opens the host directory cwd as a working directory.
func openCwdDir(cwd string) *cwdDir {
	fd, err := unix.Open(cwd, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return newCwdDir(fd)
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

// frame is one directory of a walk: its descriptor and guest path, and
// its node when it is in a synthetic file system.
type frame struct {
	fd    int
	guest string
	owned bool // fd was opened by this walk
	node  *synthNode
	name  string // its name in the frame below, when the walk opened it there
}

// walk resolves the absolute guest path p inside the root for the thread
// who. The result's directory descriptor is appended to keep when the walk
// opened it.
func (c *confined) walk(who *Thread, p string, follow bool, keep *[]int) (lookup, error) {
	return c.walkFrom(who, nil, false, p, follow, keep)
}

// walkStart is walk for a relative path p from the directory start (nil:
// p is absolute): ".." from it opens its parent.
func (c *confined) walkStart(who *Thread, start *frame, p string, follow bool, keep *[]int) (lookup, error) {
	c2 := *c
	c2.start = start
	return c2.walkFrom(who, nil, false, p, follow, keep)
}

// walkFrom is walk for a process whose root is chroot (nil: the root's
// own): "/" and absolute links lead to it and ".." stops there. An
// absolute path starts there too unless real says p is a path of the
// whole root (a working directory joined with a relative path).
func (c *confined) walkFrom(who *Thread, chroot *chrootDir, real bool, p string, follow bool, keep *[]int) (lookup, error) {
	base := frame{fd: c.fd, guest: "/"}
	floor := ""
	if chroot != nil {
		base, floor = frame{fd: chroot.dir.fd, guest: chroot.guest}, chroot.guest
	}
	stack := []frame{base}
	if real {
		stack = []frame{{fd: c.fd, guest: "/"}}
	}
	if c.start != nil && !path.IsAbs(p) {
		stack = []frame{*c.start}
	}
	release := func(all bool) {
		for i, f := range stack {
			if f.owned && (all || i != len(stack)-1) {
				unix.Close(f.fd)
			}
		}
	}
	fail := func(err error) (lookup, error) {
		release(true)
		return lookup{}, err
	}
	// found ends the walk on the entry name of the top directory; in a
	// synthetic file system, n is the entry's node.
	found := func(name, guest string, n *synthNode) (lookup, error) {
		release(false)
		c.keepTop(stack, keep)
		ro := stack[len(stack)-1].node != nil && (n == nil || n.mode&0o222 == 0)
		l := lookup{dir: stack[len(stack)-1].fd, name: name, guest: guest, readOnly: ro}
		if n != nil && n.kind == synthFile {
			l.data = n.data
		}
		return l, nil
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
			if len(stack) == 1 && stack[0].guest != "/" && stack[0].guest != floor {
				// A walk from a working directory: its parent, opened.
				fd, err := unix.Openat(stack[0].fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err != nil {
					return fail(err)
				}
				if stack[0].owned {
					unix.Close(stack[0].fd)
				}
				stack[0] = frame{fd: fd, guest: path.Dir(stack[0].guest), owned: true}
				continue
			}
			if len(stack) > 1 && stack[len(stack)-1].guest != floor {
				if top := stack[len(stack)-1]; top.owned {
					unix.Close(top.fd)
				}
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if len(comp) > 255 {
			return fail(unix.ENAMETOOLONG)
		}
		top := stack[len(stack)-1]
		guest := joinGuest(top.guest, comp)
		last := len(todo) == 0
		if m, ok := c.mounts[guest]; ok {
			if m.synth != "" {
				if m.dir < 0 || c.synth == nil {
					return fail(unix.ENOENT)
				}
				stack = append(stack, frame{fd: m.dir, guest: guest, node: c.synth.root(m.synth, who)})
				continue
			}
			if m.name != "" {
				// A file mount: the walk ends on it.
				if !last {
					return fail(unix.ENOTDIR)
				}
				release(true)
				return lookup{dir: m.dir, name: m.name, guest: guest}, nil
			}
			stack = append(stack, frame{fd: m.dir, guest: guest})
			continue
		}
		if top.fd < 0 {
			// The sysroot shell's root: the path leaves the synthetic
			// file systems.
			release(true)
			rest := "/" + strings.Join(append([]string{comp}, todo...), "/")
			if trailingSlash {
				rest += "/"
			}
			return lookup{}, &redirect{path: rest}
		}
		if top.node != nil {
			n := top.node.lookup(comp)
			if n == nil {
				return fail(unix.ENOENT)
			}
			if err := who.asElfuse(func() error { return c.synth.materialize(top.fd, comp, n) }); err != nil {
				return fail(fmt.Errorf("synthetic %s: %w", guest, err))
			}
			switch n.kind {
			case synthDir:
				fd, err := unix.Openat(top.fd, comp, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
				if err != nil {
					return fail(err)
				}
				stack = append(stack, frame{fd: fd, guest: guest, owned: true, node: n})
				continue
			case synthFile:
				if !last || trailingSlash {
					return fail(unix.ENOTDIR)
				}
				return found(comp, guest, n)
			}
			if last && !follow && !trailingSlash {
				return found(comp, guest, n)
			}
			if links++; links > maxSymlinks {
				return fail(unix.ELOOP)
			}
			if n.kind == synthFD {
				// A magic link: the guest's open file itself.
				hp := "/proc/self/fd/" + itoa(n.hostFD)
				g := guest
				if path.IsAbs(n.guestPath) {
					g = n.guestPath
				}
				if last && !trailingSlash {
					release(true)
					return lookup{dir: unix.AT_FDCWD, name: hp, guest: g, magic: true}, nil
				}
				fd, err := unix.Open(hp, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err != nil {
					return fail(err)
				}
				stack = append(stack, frame{fd: fd, guest: g, owned: true})
				continue
			}
			if path.IsAbs(n.target) {
				release(true)
				stack = []frame{base}
			}
			todo = append(splitPath(n.target), todo...)
			continue
		}
		if last && !follow && !trailingSlash {
			return found(comp, guest, nil)
		}
		fd, err := unix.Openat(top.fd, comp, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == nil {
			stack = append(stack, frame{fd: fd, guest: guest, owned: true, name: comp})
			continue
		}
		if err != unix.ENOTDIR && err != unix.ELOOP {
			if last && err == unix.ENOENT {
				// A name to create: the walk ends in its directory. A
				// trailing slash goes to the host call, which then makes
				// a directory or refuses a file as Linux does.
				if trailingSlash {
					return found(comp+"/", guest, nil)
				}
				return found(comp, guest, nil)
			}
			return fail(err)
		}
		target, lerr := readlinkat(top.fd, comp)
		if lerr != nil {
			// Not a link: a file, which ends the walk or is no directory.
			if last && !trailingSlash {
				return found(comp, guest, nil)
			}
			return fail(unix.ENOTDIR)
		}
		if links++; links > maxSymlinks {
			return fail(unix.ELOOP)
		}
		if target == "" {
			return fail(unix.ENOENT)
		}
		if path.IsAbs(target) {
			release(true)
			stack = []frame{base}
		}
		todo = append(splitPath(target), todo...)
	}
	// The walk ends on a directory: name it "." in itself.
	top := stack[len(stack)-1]
	if top.fd < 0 {
		// The sysroot shell's root is the host's (or sysroot's) "/".
		release(true)
		return lookup{}, &redirect{path: "/"}
	}
	if top.node != nil {
		if err := who.asElfuse(func() error { return c.synth.fill(top.fd, top.node) }); err != nil {
			return fail(fmt.Errorf("synthetic %s: %w", top.guest, err))
		}
	}
	if trailingSlash && len(stack) >= 2 && top.name != "" {
		// "dir/": the directory by its name in its parent, so that
		// rmdir, rename and unlinkat(AT_REMOVEDIR) reach it as on Linux.
		i := len(stack) - 2
		for j, f := range stack {
			if f.owned && j != i {
				unix.Close(f.fd)
			}
		}
		if stack[i].owned {
			*keep = append(*keep, stack[i].fd)
		}
		return lookup{dir: stack[i].fd, name: top.name, guest: top.guest}, nil
	}
	return found(".", top.guest, nil)
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

// chrootDir is a process's root directory after chroot: held open, with
// its canonical path in the whole root (confined) or on the host
// (sysroot mode).
type chrootDir struct {
	dir   *cwdDir
	guest string
}

// Chroot resolves the directory p for who's chroot.
func (r *Resolver) chroot(who *Thread, cwd, p string) (*chrootDir, error) {
	var keep []int
	defer func() { closeAll(keep) }()
	l, err := r.Lookup(who, cwd, p, true, &keep)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Openat(l.dir, l.name, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Faccessat(fd, ".", unix.X_OK, 0); err != nil {
		unix.Close(fd)
		return nil, err
	}
	guest := l.guest
	if r.root == nil {
		if guest, err = readlinkFD(fd); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return &chrootDir{dir: newCwdDir(fd), guest: guest}, nil
}

// underRoot is the path a process whose root is chroot sees for the path
// p of the whole root (or the host): p below the root, "/" for the root,
// and Linux's "(unreachable)" prefix for a path outside it.
func underRoot(chroot *chrootDir, p string) string {
	if chroot == nil || chroot.guest == "/" {
		return p
	}
	switch {
	case p == chroot.guest:
		return "/"
	case strings.HasPrefix(p, chroot.guest+"/"):
		return p[len(chroot.guest):]
	}
	return "(unreachable)" + p
}

// sysrootLookup resolves p under the sysroot a component at a time: an
// absolute path from the sysroot's root, a relative one from a working
// directory inside the sysroot. A path outside the guest's system
// directories that the sysroot lacks falls back to the host (ok false:
// the caller resolves it), as --sysroot promises.
func (r *Resolver) sysrootLookup(who *Thread, cwd, p string, follow bool, keep *[]int) (lookup, error, bool) {
	var g string
	var start *frame
	if path.IsAbs(p) {
		g = sysrootAlias(p)
	} else {
		gc := r.GuestPath(cwd)
		if gc == cwd && cwd != r.sysroot && !strings.HasPrefix(cwd, r.sysroot+"/") {
			return lookup{}, nil, false // a working directory outside the sysroot
		}
		g = gc + "/" + p
		if who != nil && who.proc.fs.dir != nil && who.proc.fs.cwd == cwd {
			// From the directory held open, as the kernel walks from a
			// cwd (whose parents the guest may not be allowed to search).
			start = &frame{fd: who.proc.fs.dir.fd, guest: gc}
			g = p
		}
	}
	n := len(*keep)
	l, err := r.sys.walkStart(who, start, g, follow, keep)
	clean := path.Clean(g)
	if start != nil {
		clean = path.Clean(start.guest + "/" + p)
	}
	if !path.IsAbs(p) || isSystemPath(clean) {
		return l, err, true
	}
	if err == nil {
		var st unix.Stat_t
		if unix.Fstatat(l.dir, l.name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
			return l, nil, true
		}
	} else if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) {
		return l, err, true
	}
	// Not in the sysroot: the host's.
	closeAll((*keep)[n:])
	*keep = (*keep)[:n]
	return lookup{}, nil, false
}

// lookupAt resolves the relative path p from the directory fd dirfd in
// sysroot mode: from a directory of the sysroot, a component at a time
// (ok), so that absolute links stay in the sysroot; from elsewhere, not
// at all (the host resolves it).
func (r *Resolver) lookupAt(who *Thread, dirfd int, p string, follow bool, keep *[]int) (lookup, bool, error) {
	if r.sys == nil || path.IsAbs(p) {
		return lookup{}, false, nil
	}
	hp, err := readlinkFD(dirfd)
	if err != nil || hp != r.sysroot && !strings.HasPrefix(hp, r.sysroot+"/") {
		return lookup{}, false, nil
	}
	l, err := r.sys.walkStart(who, &frame{fd: dirfd, guest: r.GuestPath(hp)}, p, follow, keep)
	return l, true, err
}
