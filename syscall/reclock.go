//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Record locks: fcntl F_SETLK, F_SETLKW, F_GETLK (POSIX locks) and
// F_OFD_SETLK, F_OFD_SETLKW, F_OFD_GETLK (open file description locks).
//
// Every guest process is a thread of the one elfuse host process, so the
// host's own POSIX locks cannot serve: they belong to the host process,
// so a guest parent and child would never conflict, and they all go when
// the host process closes any fd of the file, so one guest process's
// close would drop another's locks. On Linux the owner of a POSIX lock is
// the fd table (files_struct), so elfuse gives each guest fd table that
// locks a file a host open file description of its own for that file
// (reopened through /proc/self/fd) and takes the table's POSIX locks as
// host OFD locks on it. The host then does the real work: conflicts
// between guest processes and with other host processes (OFD and POSIX
// locks conflict with each other), and the splitting and merging of one
// owner's ranges. A table here records which owner holds which ranges, for
// what the host cannot say: the guest pid of a conflicting lock's holder
// (F_GETLK; the host reports -1 for an OFD lock), deadlocks between
// waiting owners (EDEADLK), and the release of an owner's locks when its
// fd table closes an fd of the file or goes away: the close paths report
// it (releaseLocksOnClose), and sweeps look for it at every lock call on
// the file, in every wait for one, and every 100 ms while locks exist.
//
// A guest's OFD locks are host OFD locks on its fd's own host description,
// which dup and fork share with it, as on Linux.

// More fcntl commands (Linux values).
const (
	fOfdGetlk   = 36
	fOfdSetlk   = 37
	fOfdSetlkw  = 38
	fAddSeals   = 1033
	fGetSeals   = 1034
	flockRdlck  = 0
	flockWrlck  = 1
	flockUnlck  = 2
	flockSize   = 32 // struct flock on amd64
	EDEADLK     = 35
	EOVERFLOW   = 75
	lockMaxWait = 50 * time.Millisecond
)

// fcntlMore serves the fcntl commands beyond the descriptor ones.
func (t *Thread) fcntlMore(f *fdEntry, cmd, arg uint64) int64 {
	switch cmd {
	case fGetlk, fSetlk, fSetlkw, fOfdGetlk, fOfdSetlk, fOfdSetlkw:
		return t.fcntlLock(f, cmd, arg)
	case fAddSeals:
		return addSeals(f, arg)
	case fGetSeals:
		return getSeals(f)
	}
	return -EINVAL
}

// fileKey names a host file.
type fileKey struct{ dev, ino uint64 }

// lockSpan is a range a POSIX owner holds: start..end inclusive, end
// math.MaxInt64 meaning to the end of the file.
type lockSpan struct {
	start, end int64
	write      bool
	pid        int // guest pid of the process that took it
}

// lockOwner is one fd table's POSIX locks on one file.
type lockOwner struct {
	ft       *fdTable
	desc     int // the owner's host description of the file
	mode     int // its access mode
	spans    []lockSpan
	fds      map[*fdEntry]bool // ft's entries seen: whether they are of the file
	waitsFor *lockOwner        // the owner it waits for in F_SETLKW
}

// lockedFile is the POSIX owners of one file.
type lockedFile struct{ owners map[*fdTable]*lockOwner }

// recLocks is every guest POSIX owner, by file. Lock order: recLocks.mu,
// then an fdTable's mu.
var recLocks = struct {
	mu       sync.Mutex
	files    map[fileKey]*lockedFile
	sweeping bool
}{files: map[fileKey]*lockedFile{}}

// flockReq is a decoded struct flock: an absolute range.
type flockReq struct {
	typ        int16
	start, end int64
	pid        int32
	raw        [flockSize]byte
}

// hostLen is the range's l_len from start (0: to the end of the file).
func (r *flockReq) hostLen() int64 {
	if r.end == math.MaxInt64 {
		return 0
	}
	return r.end - r.start + 1
}

// readFlock reads and decodes a struct flock as Linux's
// flock_to_posix_lock does: whence applied, a negative length meaning
// the bytes before start.
func (t *Thread) readFlock(f *fdEntry, va uint64) (flockReq, int64) {
	var r flockReq
	if e := t.get(va, r.raw[:]); e != 0 {
		return r, e
	}
	le := binary.LittleEndian
	r.typ = int16(le.Uint16(r.raw[0:]))
	whence := int16(le.Uint16(r.raw[2:]))
	start, n := int64(le.Uint64(r.raw[8:])), int64(le.Uint64(r.raw[16:]))
	r.pid = int32(le.Uint32(r.raw[24:]))
	var base int64
	switch whence {
	case 0: // SEEK_SET
	case 1: // SEEK_CUR
		if off, err := unix.Seek(f.host, 0, 1); err == nil {
			base = off
		}
	case 2: // SEEK_END
		var st unix.Stat_t
		if err := unix.Fstat(f.host, &st); err != nil {
			return r, errno(err)
		}
		base = st.Size
	default:
		return r, -EINVAL
	}
	if start > math.MaxInt64-base {
		return r, -EOVERFLOW
	}
	start += base
	if start < 0 {
		return r, -EINVAL
	}
	end := int64(math.MaxInt64)
	switch {
	case n > 0:
		if n-1 > math.MaxInt64-start {
			return r, -EOVERFLOW
		}
		end = start + n - 1
	case n < 0:
		end = start - 1
		start += n
		if start < 0 {
			return r, -EINVAL
		}
	}
	r.start, r.end = start, end
	return r, 0
}

func (t *Thread) fcntlLock(f *fdEntry, cmd, va uint64) int64 {
	req, e := t.readFlock(f, va)
	if e != 0 {
		return e
	}
	ofd := cmd == fOfdGetlk || cmd == fOfdSetlk || cmd == fOfdSetlkw
	getlk := cmd == fGetlk || cmd == fOfdGetlk
	wait := cmd == fSetlkw || cmd == fOfdSetlkw
	var htyp int16
	switch req.typ {
	case flockRdlck:
		htyp = unix.F_RDLCK
	case flockWrlck:
		htyp = unix.F_WRLCK
	case flockUnlck:
		if getlk {
			return -EINVAL
		}
		htyp = unix.F_UNLCK
	default:
		return -EINVAL
	}
	fl, err := unix.FcntlInt(uintptr(f.host), unix.F_GETFL, 0)
	if err != nil {
		return errno(err)
	}
	acc := fl & unix.O_ACCMODE
	if fl&unix.O_PATH != 0 ||
		!getlk && (htyp == unix.F_RDLCK && acc == unix.O_WRONLY || htyp == unix.F_WRLCK && acc == unix.O_RDONLY) {
		return -EBADF
	}
	if ofd && req.pid != 0 {
		return -EINVAL
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.host, &st); err != nil {
		return errno(err)
	}
	key := fileKey{st.Dev, st.Ino}
	hl := unix.Flock_t{Type: htyp, Whence: 0, Start: req.start, Len: req.hostLen()}
	switch {
	case getlk:
		return t.getlk(f, va, key, &req, &hl, ofd, acc)
	case ofd:
		return t.ofdSetlk(f, key, &hl, wait)
	}
	return t.posixSetlk(f, key, &req, &hl, wait, acc)
}

// reopen opens a new host description of the file behind host fd h with
// access mode acc; where the file cannot be reopened (a socket), it
// shares h's.
func reopen(h, acc int) (int, error) {
	fd, err := unix.Open("/proc/self/fd/"+itoa(h), acc|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err == nil {
		return fd, nil
	}
	return unix.FcntlInt(uintptr(h), unix.F_DUPFD_CLOEXEC, 0)
}

// fileLocked returns the file's entry, made if need be; recLocks.mu is held.
func fileLocked(key fileKey) *lockedFile {
	lf := recLocks.files[key]
	if lf == nil {
		lf = &lockedFile{owners: map[*fdTable]*lockOwner{}}
		recLocks.files[key] = lf
	}
	return lf
}

// tidyLocked forgets the file when no owner is left; recLocks.mu is held.
func tidyLocked(key fileKey) {
	if lf := recLocks.files[key]; lf != nil && len(lf.owners) == 0 {
		delete(recLocks.files, key)
	}
}

// sweepLocked releases the locks of the file's owners whose fd table has
// closed an fd of the file since, or has ended; recLocks.mu is held.
func sweepLocked(key fileKey) {
	takeClosedLocked()
	lf := recLocks.files[key]
	if lf == nil {
		return
	}
	for ft, o := range lf.owners {
		if o.closedFD(key) {
			o.release()
			delete(lf.owners, ft)
		}
	}
	tidyLocked(key)
}

// closedFD reports whether o's table closed an fd of the file (or ended)
// since the last look, noting which of its fds are of the file.
func (o *lockOwner) closedFD(key fileKey) bool {
	ft := o.ft
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.users <= 0 {
		return true
	}
	present := make(map[*fdEntry]bool, len(ft.fds))
	for _, e := range ft.fds {
		if e == nil {
			continue
		}
		present[e] = true
		if _, seen := o.fds[e]; !seen {
			var st unix.Stat_t
			o.fds[e] = unix.Fstat(e.host, &st) == nil && st.Dev == key.dev && st.Ino == key.ino
		}
	}
	for e, ofFile := range o.fds {
		if !present[e] {
			if ofFile {
				return true
			}
			delete(o.fds, e)
		}
	}
	return false
}

// release drops all of o's locks at once (closing its description).
func (o *lockOwner) release() {
	unix.Close(o.desc)
	o.desc = -1
	o.spans = nil
	o.waitsFor = nil
}

// apply records the outcome of a successful lock or unlock of start..end.
func (o *lockOwner) apply(start, end int64, typ int16, pid int) {
	var out []lockSpan
	for _, s := range o.spans {
		if s.end < start || s.start > end {
			out = append(out, s)
			continue
		}
		if s.start < start {
			out = append(out, lockSpan{s.start, start - 1, s.write, s.pid})
		}
		if s.end > end {
			out = append(out, lockSpan{end + 1, s.end, s.write, s.pid})
		}
	}
	if typ != unix.F_UNLCK {
		out = append(out, lockSpan{start, end, typ == unix.F_WRLCK, pid})
	}
	o.spans = out
}

// holder finds an owner other than me holding a span that overlaps
// start..end and conflicts with a lock of kind write (or, with exact, is
// of kind write itself: the lock the host reported).
func (lf *lockedFile) holder(me *lockOwner, start, end int64, write, exact bool) (*lockOwner, *lockSpan) {
	for _, o := range lf.owners {
		if o == me {
			continue
		}
		for i := range o.spans {
			s := &o.spans[i]
			if s.end < start || s.start > end {
				continue
			}
			if exact && s.write == write || !exact && (s.write || write) {
				return o, s
			}
		}
	}
	return nil, nil
}

// ownerLocked returns the table's owner of the file, made (with its own
// host description) if need be, and able to take a lock of kind htyp;
// recLocks.mu is held.
func (t *Thread) ownerLocked(lf *lockedFile, f *fdEntry, key fileKey, htyp int16, acc int) (*lockOwner, int64) {
	ft := t.proc.fds
	o := lf.owners[ft]
	if o == nil {
		desc, err := reopen(f.host, acc)
		if err != nil {
			return nil, errno(err)
		}
		o = &lockOwner{ft: ft, desc: desc, mode: acc, fds: map[*fdEntry]bool{f: true}}
		lf.owners[ft] = o
		o.closedFD(key) // note the table's other fds of the file
		startSweeper()
		return o, 0
	}
	o.fds[f] = true
	if htyp == unix.F_UNLCK || o.mode == unix.O_RDWR || htyp == unix.F_RDLCK && o.mode == unix.O_RDONLY ||
		htyp == unix.F_WRLCK && o.mode == unix.O_WRONLY {
		return o, 0
	}
	// The description cannot take this kind of lock (the first was taken
	// through an fd open the other way): move to a read-write one.
	desc, err := reopen(f.host, unix.O_RDWR)
	if err != nil {
		return nil, errno(err)
	}
	unix.Close(o.desc)
	o.desc, o.mode = desc, unix.O_RDWR
	for _, s := range o.spans {
		typ := int16(unix.F_RDLCK)
		if s.write {
			typ = unix.F_WRLCK
		}
		hl := unix.Flock_t{Type: typ, Start: s.start}
		if s.end != math.MaxInt64 {
			hl.Len = s.end - s.start + 1
		}
		unix.FcntlFlock(uintptr(desc), unix.F_OFD_SETLK, &hl)
	}
	return o, 0
}

// dropIfIdleLocked forgets an owner that holds nothing and waits for
// nothing; recLocks.mu is held.
func dropIfIdleLocked(lf *lockedFile, o *lockOwner, key fileKey) {
	if len(o.spans) == 0 && o.waitsFor == nil && lf.owners[o.ft] == o {
		o.release()
		delete(lf.owners, o.ft)
		tidyLocked(key)
	}
}

// posixSetlk is F_SETLK and F_SETLKW. A wait polls the non-blocking
// request so that a signal can interrupt it (-ERESTARTSYS, as Linux).
func (t *Thread) posixSetlk(f *fdEntry, key fileKey, req *flockReq, hl *unix.Flock_t, wait bool, acc int) int64 {
	delay := time.Millisecond
	for {
		recLocks.mu.Lock()
		sweepLocked(key)
		lf := fileLocked(key)
		if lf.owners[t.proc.fds] == nil && hl.Type == unix.F_UNLCK {
			tidyLocked(key)
			recLocks.mu.Unlock()
			return 0 // nothing held
		}
		o, e := t.ownerLocked(lf, f, key, hl.Type, acc)
		if e != 0 {
			tidyLocked(key)
			recLocks.mu.Unlock()
			return e
		}
		lk := *hl
		err := unix.FcntlFlock(uintptr(o.desc), unix.F_OFD_SETLK, &lk)
		if err == nil {
			o.apply(req.start, req.end, hl.Type, t.proc.pid)
			o.waitsFor = nil
			dropIfIdleLocked(lf, o, key)
			recLocks.mu.Unlock()
			return 0
		}
		if err != unix.EAGAIN || !wait {
			o.waitsFor = nil
			dropIfIdleLocked(lf, o, key)
			recLocks.mu.Unlock()
			return errno(err)
		}
		// Waiting for an owner that (through others) waits for this one
		// would never end: EDEADLK, as Linux finds it.
		b, _ := lf.holder(o, req.start, req.end, hl.Type == unix.F_WRLCK, false)
		for x, i := b, 0; x != nil && i < 64; x, i = x.waitsFor, i+1 {
			if x == o {
				o.waitsFor = nil
				dropIfIdleLocked(lf, o, key)
				recLocks.mu.Unlock()
				return -EDEADLK
			}
		}
		o.waitsFor = b
		recLocks.mu.Unlock()
		if r := t.waitHost(-1, 0, time.Now().Add(delay)); r != -EAGAIN {
			recLocks.mu.Lock()
			o.waitsFor = nil
			if lf := recLocks.files[key]; lf != nil {
				dropIfIdleLocked(lf, o, key)
			}
			recLocks.mu.Unlock()
			return r
		}
		delay = min(2*delay, lockMaxWait)
	}
}

// ofdSetlk is F_OFD_SETLK and F_OFD_SETLKW on the guest fd's own host
// description.
func (t *Thread) ofdSetlk(f *fdEntry, key fileKey, hl *unix.Flock_t, wait bool) int64 {
	delay := time.Millisecond
	for {
		// Locks of guest owners that are gone must not stand in the way.
		recLocks.mu.Lock()
		sweepLocked(key)
		recLocks.mu.Unlock()
		lk := *hl
		err := unix.FcntlFlock(uintptr(f.host), unix.F_OFD_SETLK, &lk)
		if err != unix.EAGAIN || !wait {
			return errno(err)
		}
		if r := t.waitHost(-1, 0, time.Now().Add(delay)); r != -EAGAIN {
			return r
		}
		delay = min(2*delay, lockMaxWait)
	}
}

// getlk is F_GETLK and F_OFD_GETLK: the host finds the first conflicting
// lock, asked through a description that holds only the caller's own
// locks (which never conflict with the request); its holder's pid is the
// guest pid of the POSIX owner whose span it is, -1 for an OFD lock, and
// 0 for a process outside the sandbox (as outside a pid namespace).
func (t *Thread) getlk(f *fdEntry, va uint64, key fileKey, req *flockReq, hl *unix.Flock_t, ofd bool, acc int) int64 {
	recLocks.mu.Lock()
	defer recLocks.mu.Unlock()
	sweepLocked(key)
	lf := recLocks.files[key]
	var me *lockOwner
	q := f.host
	if !ofd {
		if lf != nil {
			me = lf.owners[t.proc.fds]
		}
		if me != nil {
			q = me.desc
		} else {
			tmp, err := reopen(f.host, acc)
			if err != nil {
				return errno(err)
			}
			defer unix.Close(tmp)
			q = tmp
		}
	}
	if err := unix.FcntlFlock(uintptr(q), unix.F_OFD_GETLK, hl); err != nil {
		return errno(err)
	}
	b := req.raw
	le := binary.LittleEndian
	if hl.Type == unix.F_UNLCK {
		le.PutUint16(b[0:], flockUnlck)
		return t.put(va, b[:])
	}
	write := hl.Type == unix.F_WRLCK
	end := int64(math.MaxInt64)
	if hl.Len > 0 {
		end = hl.Start + hl.Len - 1
	}
	pid := int32(0)
	if hl.Pid == -1 {
		pid = -1
		if lf != nil {
			if _, s := lf.holder(me, hl.Start, end, write, true); s != nil {
				pid = int32(s.pid)
			}
		}
	}
	typ := uint16(flockRdlck)
	if write {
		typ = flockWrlck
	}
	le.PutUint16(b[0:], typ)
	le.PutUint16(b[2:], 0) // SEEK_SET
	le.PutUint64(b[8:], uint64(hl.Start))
	le.PutUint64(b[16:], uint64(hl.Len))
	le.PutUint32(b[24:], uint32(pid))
	return t.put(va, b[:])
}

// startSweeper makes sure that, while guest POSIX locks exist, the locks
// of fd tables that closed the file or ended are released within 100 ms
// even when no guest lock call comes to find them (a host process may be
// waiting). recLocks.mu is held.
func startSweeper() {
	if recLocks.sweeping {
		return
	}
	recLocks.sweeping = true
	anyLocks.Store(true)
	go func() {
		for {
			time.Sleep(100 * time.Millisecond)
			recLocks.mu.Lock()
			for key := range recLocks.files {
				sweepLocked(key)
			}
			if len(recLocks.files) == 0 {
				recLocks.sweeping = false
				anyLocks.Store(false)
				recLocks.mu.Unlock()
				return
			}
			recLocks.mu.Unlock()
		}
	}()
}

// closedFiles are the closes releaseLocksOnClose heard of, for the next
// sweep. closedMu is a leaf lock: the close paths may hold an fdTable's
// mu when they report, and sweeps hold recLocks.mu.
var (
	closedMu    sync.Mutex
	closedFiles []closedFile
	anyLocks    atomic.Bool // guest POSIX locks may exist (the sweeper runs)
)

type closedFile struct {
	ft  *fdTable
	key fileKey
}

// releaseLocksOnClose tells the lock table that fd table ft is closing
// host fd h: the table's POSIX locks on that file go, as on Linux when a
// process closes any fd of a file. It is for elfuse's close paths (close,
// dup2 over an fd, close_range, close-on-exec, the end of a table), called
// before h is closed, with or without ft.mu held. The release takes effect
// at the next lock call on the file or within 100 ms. Without the report
// the sweeps still find most closes (not that of an fd opened and closed
// between two lock calls on the file).
func releaseLocksOnClose(ft *fdTable, h int) {
	if !anyLocks.Load() {
		return
	}
	var st unix.Stat_t
	if unix.Fstat(h, &st) != nil {
		return
	}
	closedMu.Lock()
	closedFiles = append(closedFiles, closedFile{ft, fileKey{st.Dev, st.Ino}})
	closedMu.Unlock()
}

// takeClosedLocked releases the owners whose closes were reported;
// recLocks.mu is held.
func takeClosedLocked() {
	closedMu.Lock()
	cs := closedFiles
	closedFiles = nil
	closedMu.Unlock()
	for _, c := range cs {
		if lf := recLocks.files[c.key]; lf != nil {
			if o := lf.owners[c.ft]; o != nil {
				o.release()
				delete(lf.owners, c.ft)
				tidyLocked(c.key)
			}
		}
	}
}
