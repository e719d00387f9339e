//go:build linux && amd64

package syscall

import (
	"sync"

	"golang.org/x/sys/unix"
)

// fdEntry is one guest file descriptor, backed by a host fd it owns.
type fdEntry struct {
	host    int
	cloexec bool
	path    string   // guest path it was opened by, for /proc and traces
	kind    fdKind   // whether reads and writes may block
	pidfd   *Process // the process of a pidfd
	// regen makes the content of a synthetic file (/proc): made again
	// when a read starts at its beginning, as Linux's seq_files are.
	regen func() []byte
}

// dup is a new entry for the host fd h, a duplicate of e's (the same open
// file: its path, kind, pidfd and synthetic content).
func (e *fdEntry) dup(h int, cloexec bool) *fdEntry {
	return &fdEntry{host: h, cloexec: cloexec, path: e.path, kind: e.kind, pidfd: e.pidfd, regen: e.regen}
}

// fdKind says whether I/O on an fd can block (pipes, sockets, ttys) and so
// must wait where a signal can interrupt it.
type fdKind uint8

const (
	kindUnknown fdKind = iota
	kindFile           // regular files and directories never block
	kindStream
)

// mayBlock reports whether I/O on e can block.
func (e *fdEntry) mayBlock() bool {
	if e.kind == kindUnknown {
		var st unix.Stat_t
		e.kind = kindFile
		if unix.Fstat(e.host, &st) == nil {
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFCHR:
				// The memory devices (null, zero, full, random, urandom...)
				// never block; terminals and the rest may.
				if unix.Major(st.Rdev) != 1 {
					e.kind = kindStream
				}
			case unix.S_IFIFO, unix.S_IFSOCK, 0: // 0: anonymous inodes
				e.kind = kindStream
			}
		}
	}
	return e.kind == kindStream
}

// fdTable is a process's file descriptor table.
type fdTable struct {
	mu    sync.Mutex
	fds   []*fdEntry
	users int // processes sharing it (CLONE_FILES)
}

func newFDTable() *fdTable { return &fdTable{users: 1} }

// initStdio makes guest fds 0-2 copies of the given host fds.
func (ft *fdTable) initStdio(fds ...int) error {
	for i, h := range fds {
		nh, err := unix.FcntlInt(uintptr(h), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			if err == unix.EBADF {
				continue
			}
			return err
		}
		ft.install(i, &fdEntry{host: nh})
	}
	return nil
}

func (ft *fdTable) install(fd int, e *fdEntry) {
	for len(ft.fds) <= fd {
		ft.fds = append(ft.fds, nil)
	}
	ft.fds[fd] = e
}

// get returns the entry of guest fd, or nil.
func (ft *fdTable) get(fd int) *fdEntry {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if fd < 0 || fd >= len(ft.fds) {
		return nil
	}
	return ft.fds[fd]
}

// add installs e at the lowest free fd >= min and below limit; it returns
// -1 when there is none.
func (ft *fdTable) add(e *fdEntry, min, limit int) int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for fd := min; fd < limit; fd++ {
		if fd >= len(ft.fds) || ft.fds[fd] == nil {
			ft.install(fd, e)
			return fd
		}
	}
	return -1
}

// addFD installs e at the lowest free fd >= min within RLIMIT_NOFILE, or
// closes its host fd and fails with EMFILE.
func (p *Process) addFD(e *fdEntry, min int) int64 {
	limit := p.rlimit(unix.RLIMIT_NOFILE).Cur
	if limit > 1<<20 {
		limit = 1 << 20
	}
	fd := p.fds.add(e, min, int(limit))
	if fd < 0 {
		unix.Close(e.host)
		return -EMFILE
	}
	return int64(fd)
}

// set installs e at fd, returning the entry it replaced.
func (ft *fdTable) set(fd int, e *fdEntry) *fdEntry {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var old *fdEntry
	if fd < len(ft.fds) {
		old = ft.fds[fd]
	}
	ft.install(fd, e)
	return old
}

// remove takes fd out of the table and returns its entry.
func (ft *fdTable) remove(fd int) *fdEntry {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if fd < 0 || fd >= len(ft.fds) {
		return nil
	}
	e := ft.fds[fd]
	ft.fds[fd] = nil
	return e
}

// closeHost closes the host fd of an entry taken out of the table (with
// or without ft.mu held), dropping the record locks the table held on its
// file as Linux does at any close.
func (ft *fdTable) closeHost(e *fdEntry) {
	releaseLocksOnClose(ft, e.host)
	unix.Close(e.host)
}

// closeAll closes every fd.
func (ft *fdTable) closeAll() {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for i, e := range ft.fds {
		if e != nil {
			ft.closeHost(e)
			ft.fds[i] = nil
		}
	}
}
