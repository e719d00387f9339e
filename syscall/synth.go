//go:build linux && amd64

package syscall

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Synthetic file systems (/proc, /sys) are made from elfuse's own state.
// Each is a tree of synthNodes built on demand for the thread that looks
// a path up. So that every path-taking call works on them unchanged (open,
// stat, getdents, readlink, access, inotify...), the nodes a lookup walks
// through are materialized in a private host directory just before the
// walk reaches them: a file gets its content at that moment, a directory
// gets its entries when a walk ends on it. Links are real symbolic links
// whose text the walker follows inside the guest's root, except the magic
// /proc/PID/fd/N links, which reach the guest's open file through the
// host's own /proc/self/fd as Linux's do.

// synthKind is what a synthetic node is.
type synthKind uint8

const (
	synthDir synthKind = iota
	synthFile
	synthLink
	synthFD // a magic link to an open file
)

// synthNode is one entry of a synthetic tree.
type synthNode struct {
	kind synthKind
	mode uint32 // permission bits
	// uid and gid own the entry; the tree's files belong to root unless a
	// process's directory says otherwise.
	uid, gid uint32
	// data makes a file's content.
	data func() []byte
	// target is a link's text.
	target string
	// hostFD is the host descriptor behind a magic link, guestPath the
	// guest path its file was opened by ("" when none).
	hostFD    int
	guestPath string
	// names lists a directory's entries; child makes one (nil: no such
	// entry).
	names func() []string
	child func(name string) *synthNode
}

// lookup returns a directory's entry name, or nil.
func (n *synthNode) lookup(name string) *synthNode {
	if n.child == nil {
		return nil
	}
	return n.child(name)
}

// synthFS holds the host directory the synthetic trees of one sandbox are
// materialized in, and the trees' roots.
type synthFS struct {
	mu    sync.Mutex
	dir   string
	fd    int // O_PATH descriptor of dir
	sb    *Sandbox
	roots map[string]int // O_PATH descriptor of each tree's directory, by kind
	boot  string         // /proc/sys/kernel/random/boot_id
}

// synthKinds are the synthetic file systems and the guest paths they
// serve in sysroot mode (a confined root has them where its mounts say).
var synthKinds = map[string]string{"proc": "/proc", "sysfs": "/sys"}

// newSynthFS makes the private host directory. It lives on /dev/shm when
// that is writable, else in the temporary directory; a directory left by
// an elfuse that was killed is removed by the next one.
func newSynthFS(sb *Sandbox) (*synthFS, error) {
	base := "/dev/shm"
	if unix.Access(base, unix.W_OK|unix.X_OK) != nil {
		base = os.TempDir()
	}
	sweepSynthDirs(base)
	dir, err := os.MkdirTemp(base, "elfuse-synth-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("synthetic file systems: %w", err)
	}
	s := &synthFS{dir: dir, sb: sb, roots: map[string]int{}}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("synthetic file systems: %w", err)
	}
	if s.fd, err = unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("synthetic file systems: %w", err)
	}
	for kind := range synthKinds {
		if err := unix.Mkdirat(s.fd, kind, 0o555|hostWritable); err != nil {
			s.close()
			return nil, fmt.Errorf("synthetic file systems: %w", err)
		}
		fd, err := unix.Openat(s.fd, kind, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("synthetic file systems: %w", err)
		}
		s.roots[kind] = fd
	}
	return s, nil
}

// sweepSynthDirs removes the directories of elfuse processes that are gone.
func sweepSynthDirs(base string) {
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "elfuse-synth-")
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
}

func (s *synthFS) close() {
	if s == nil {
		return
	}
	for _, fd := range s.roots {
		unix.Close(fd)
	}
	if s.fd >= 0 {
		unix.Close(s.fd)
	}
	s.fd = -1
	os.RemoveAll(s.dir)
}

// hostWritable keeps a materialized directory writable by elfuse when it
// does not run as root (root writes regardless of the mode bits).
var hostWritable = func() uint32 {
	if os.Geteuid() == 0 {
		return 0
	}
	return 0o200
}()

// root returns the root node of the tree of kind for thread who.
func (s *synthFS) root(kind string, who *Thread) *synthNode {
	switch kind {
	case "proc":
		return s.procRoot(who)
	case "sysfs":
		return s.sysRoot()
	}
	return &synthNode{kind: synthDir, mode: 0o555}
}

// hostPath is the guest path for a host path inside the materialized
// trees ("" when it is not in them): a working directory kept as a host
// path in sysroot mode.
func (s *synthFS) guestPath(host string) string {
	if s == nil {
		return ""
	}
	rest, ok := strings.CutPrefix(host, s.dir+"/")
	if !ok {
		return ""
	}
	kind, sub, _ := strings.Cut(rest, "/")
	base, ok := synthKinds[kind]
	if !ok {
		return ""
	}
	if sub == "" {
		return base
	}
	return base + "/" + sub
}

// materialize makes the host entry name in the directory dirfd match n
// (a file's content made now; a directory's entries when it is listed).
func (s *synthFS) materialize(dirfd int, name string, n *synthNode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.materializeLocked(dirfd, name, n, true)
}

func (s *synthFS) materializeLocked(dirfd int, name string, n *synthNode, content bool) error {
	var st unix.Stat_t
	exists := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	switch n.kind {
	case synthDir:
		if exists && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := unix.Unlinkat(dirfd, name, 0); err != nil {
				return err
			}
			exists = false
		}
		if !exists {
			if err := unix.Mkdirat(dirfd, name, n.mode|hostWritable); err != nil && err != unix.EEXIST {
				return err
			}
		}
		if !exists || st.Uid != n.uid || st.Gid != n.gid {
			unix.Fchownat(dirfd, name, int(n.uid), int(n.gid), unix.AT_SYMLINK_NOFOLLOW)
		}
		return nil
	case synthFile:
		if !content && exists && st.Mode&unix.S_IFMT == unix.S_IFREG {
			return nil
		}
		var data []byte
		if content && n.data != nil {
			data = n.data()
		}
		return s.replace(dirfd, name, exists && st.Mode&unix.S_IFMT == unix.S_IFDIR, func(tmp string) error {
			fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, n.mode)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			for len(data) > 0 {
				w, err := unix.Write(fd, data)
				if err != nil {
					return err
				}
				data = data[w:]
			}
			unix.Fchmod(fd, n.mode)
			unix.Fchown(fd, int(n.uid), int(n.gid))
			return nil
		})
	default: // links
		text := n.target
		if exists && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if cur, err := readlinkat(dirfd, name); err == nil && cur == text {
				return nil
			}
		}
		return s.replace(dirfd, name, exists && st.Mode&unix.S_IFMT == unix.S_IFDIR, func(tmp string) error {
			if err := unix.Symlinkat(text, dirfd, tmp); err != nil {
				return err
			}
			unix.Fchownat(dirfd, tmp, int(n.uid), int(n.gid), unix.AT_SYMLINK_NOFOLLOW)
			return nil
		})
	}
}

// replace makes a new entry under a temporary name with make, then
// renames it over name, so that a file another thread holds open keeps
// its old content.
func (s *synthFS) replace(dirfd int, name string, isDir bool, make func(tmp string) error) error {
	if isDir {
		removeAllAt(dirfd, name)
	}
	tmp := ".tmp-" + name
	unix.Unlinkat(dirfd, tmp, 0)
	if err := make(tmp); err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		return err
	}
	if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
		unix.Unlinkat(dirfd, tmp, 0)
		return err
	}
	return nil
}

// fill gives the materialized directory dirfd the entries of n: missing
// ones are made (files empty: their content is made when a walk reaches
// them), stale ones removed.
func (s *synthFS) fill(dirfd int, n *synthNode) error {
	if n.names == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "synth")
	have, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, name := range n.names() {
		c := n.lookup(name)
		if c == nil {
			continue
		}
		want[name] = true
		if err := s.materializeLocked(dirfd, name, c, false); err != nil {
			return err
		}
	}
	for _, name := range have {
		if !want[name] {
			removeAllAt(dirfd, name)
		}
	}
	return nil
}

// removeAllAt removes the entry name of dirfd and, for a directory,
// everything in it.
func removeAllAt(dirfd int, name string) {
	if unix.Unlinkat(dirfd, name, 0) == nil {
		return
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "synth")
	names, _ := f.Readdirnames(-1)
	for _, c := range names {
		removeAllAt(fd, c)
	}
	f.Close()
	unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// Helpers for the trees' nodes.

func dirNode(mode uint32, names func() []string, child func(string) *synthNode) *synthNode {
	return &synthNode{kind: synthDir, mode: mode, names: names, child: child}
}

func fileNode(mode uint32, data func() []byte) *synthNode {
	return &synthNode{kind: synthFile, mode: mode, data: data}
}

func textNode(s string) *synthNode {
	return fileNode(0o444, func() []byte { return []byte(s) })
}

func linkNode(target string) *synthNode {
	return &synthNode{kind: synthLink, mode: 0o777, target: target}
}

// staticDir is a directory of fixed entries.
func staticDir(mode uint32, entries map[string]func() *synthNode) *synthNode {
	return dirNode(mode, func() []string {
		names := make([]string, 0, len(entries))
		for k := range entries {
			names = append(names, k)
		}
		return names
	}, func(name string) *synthNode {
		if f, ok := entries[name]; ok {
			return f()
		}
		return nil
	})
}

// owned sets the owner of n and returns it.
func owned(n *synthNode, uid, gid uint32) *synthNode {
	n.uid, n.gid = uid, gid
	return n
}

// closeFS releases the resolver's descriptors and the synthetic trees.
func (sb *Sandbox) closeFS() {
	sb.res.Close()
	sb.synth.close()
}

// regenerate makes a synthetic file's content again when a read starts at
// its beginning (off for positional reads, else the file position), so
// that what is read is the state at the read, as on Linux: a
// /proc/self/cmdline opened before an exec shows the new program.
func (t *Thread) regenerate(f *fdEntry, pos bool, off int64) {
	if !pos {
		cur, err := unix.Seek(f.host, 0, 1)
		if err != nil {
			return
		}
		off = cur
	}
	if off != 0 {
		return
	}
	data := f.regen()
	t.asElfuse(func() error {
		w, err := unix.Open("/proc/self/fd/"+itoa(f.host), unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(w)
		for len(data) > 0 {
			n, err := unix.Write(w, data)
			if err != nil {
				return err
			}
			data = data[n:]
		}
		return nil
	})
}
