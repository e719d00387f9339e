//go:build linux && amd64

package syscall

import (
	"encoding/binary"
	"path"
	"time"

	"golang.org/x/sys/unix"
)

// openFlagMap decodes Linux open flags into host ones.
var openFlagMap = []struct{ linux, host int }{
	{oCreat, unix.O_CREAT}, {oExcl, unix.O_EXCL}, {oNoctty, unix.O_NOCTTY}, {oTrunc, unix.O_TRUNC},
	{oAppend, unix.O_APPEND}, {oNonblock, unix.O_NONBLOCK}, {oDsync, unix.O_DSYNC}, {oAsync, unix.O_ASYNC},
	{oDirect, unix.O_DIRECT}, {oDirectory, unix.O_DIRECTORY}, {oNofollow, unix.O_NOFOLLOW},
	{oNoatime, unix.O_NOATIME}, {oSync, unix.O_SYNC}, {oPath, unix.O_PATH}, {oTmpfile, unix.O_TMPFILE},
	{oLargefile, unix.O_LARGEFILE},
}

func decodeOpenFlags(f int) int {
	h := f & oAccMode
	for _, m := range openFlagMap {
		if f&m.linux == m.linux {
			h |= m.host
		}
	}
	return h
}

func encodeOpenFlags(h int) int {
	f := h & unix.O_ACCMODE
	for _, m := range openFlagMap {
		if h&m.host == m.host && m.linux != oTmpfile && m.linux != oSync {
			f |= m.linux
		}
	}
	if h&unix.O_SYNC == unix.O_SYNC {
		f |= oSync
	}
	return f
}

func (t *Thread) openat(dirfd uint64, pathVA uint64, flags, mode uint64) int64 {
	follow := flags&oNofollow == 0 && flags&(oCreat|oExcl) != oCreat|oExcl
	d, hp, e := t.pathAt(dirfd, pathVA, follow)
	if e != 0 {
		return e
	}
	if flags&oAccMode != 0 || flags&(oCreat|oTrunc) != 0 {
		if e := t.writeDenied(-EACCES); e != 0 {
			return e
		}
	}
	// In a confined root the lookup followed any link; one put there since
	// is not.
	hflags := decodeOpenFlags(int(flags)) | unix.O_CLOEXEC | t.noFollow()
	hfd, err := unix.Openat(d, hp, hflags, uint32(mode)&^t.proc.fs.umask&0o7777)
	if err != nil {
		return errno(err)
	}
	p := t.lookedUp
	return t.proc.addFD(&fdEntry{host: hfd, cloexec: flags&oCloexec != 0, path: p, regen: t.lookedUpData}, 0)
}

func sysOpen(t *Thread, a *[6]uint64) int64 {
	return t.openat(uint64(atFDCWD&0xffffffff), a[0], a[1], a[2])
}
func sysOpenat(t *Thread, a *[6]uint64) int64 { return t.openat(a[0], a[1], a[2], a[3]) }
func sysCreat(t *Thread, a *[6]uint64) int64 {
	return t.openat(uint64(atFDCWD&0xffffffff), a[0], oCreat|oWronly|oTrunc, a[1])
}

const oWronly = 1

func sysClose(t *Thread, a *[6]uint64) int64 {
	e := t.proc.fds.remove(int(int32(a[0])))
	if e == nil {
		return -EBADF
	}
	t.proc.fds.closeHost(e)
	return 0
}

func sysCloseRange(t *Thread, a *[6]uint64) int64 {
	first, last, flags := uint32(a[0]), uint32(a[1]), a[2]
	if first > last || flags&^6 != 0 {
		return -EINVAL
	}
	ft := t.proc.fds
	ft.mu.Lock()
	defer ft.mu.Unlock()
	for fd := int(first); fd < len(ft.fds) && uint32(fd) <= last; fd++ {
		e := ft.fds[fd]
		if e == nil {
			continue
		}
		if flags&4 != 0 { // CLOSE_RANGE_CLOEXEC
			e.cloexec = true
			continue
		}
		ft.closeHost(e)
		ft.fds[fd] = nil
	}
	return 0
}

// ioBufs maps a guest buffer for host I/O. Like Linux, a buffer that runs
// into a bad page is cut short there; only a bad first byte is EFAULT.
func (t *Thread) ioBufs(va, n uint64, write bool) ([][]byte, int64) {
	if n == 0 {
		return nil, 0
	}
	bufs, err := t.as().Slices(va, n, write, nil)
	if err != nil && len(bufs) == 0 {
		return nil, -EFAULT
	}
	return bufs, 0
}

// iovecs reads a guest iovec array into host buffers.
func (t *Thread) iovecs(va, cnt uint64, write bool) ([][]byte, int64) {
	if cnt > 1024 {
		return nil, -EINVAL
	}
	raw := make([]byte, cnt*16)
	if e := t.get(va, raw); e != 0 {
		return nil, e
	}
	var bufs [][]byte
	for i := uint64(0); i < cnt; i++ {
		base := binary.LittleEndian.Uint64(raw[i*16:])
		l := binary.LittleEndian.Uint64(raw[i*16+8:])
		if int64(l) < 0 {
			return nil, -EINVAL
		}
		if l == 0 {
			continue
		}
		b, err := t.as().Slices(base, l, write, bufs)
		if err != nil {
			return nil, -EFAULT
		}
		bufs = b
	}
	return bufs, 0
}

// hostOps are the host calls of one direction of I/O.
type hostOps struct {
	one   func(fd int, b []byte) (int, error)
	oneAt func(fd int, b []byte, off int64) (int, error)
	vec   func(fd int, bufs [][]byte) (int, error)
	vecAt func(fd int, bufs [][]byte, off int64) (int, error)
	read  bool
}

var (
	readOps  = hostOps{unix.Read, unix.Pread, unix.Readv, unix.Preadv, true}
	writeOps = hostOps{unix.Write, unix.Pwrite, unix.Writev, unix.Pwritev, false}
)

// iovMax is the host's limit on the buffers of one readv/writev (IOV_MAX).
const iovMax = 1024

// hostIO moves data between a host fd and guest buffers, at off when pos.
// A guest buffer is one host slice per run of contiguous guest frames, so
// a large one can exceed IOV_MAX slices: it then goes in several calls,
// each started only when the one before moved all its bytes; a read goes
// on only from a regular file or block device, where it cannot block.
func hostIO(ops hostOps, fd int, bufs [][]byte, off int64, pos bool) int64 {
	if len(bufs) <= iovMax {
		return hostIO1(ops, fd, bufs, off, pos)
	}
	var total int64
	for len(bufs) > 0 {
		k := min(len(bufs), iovMax)
		want := totalLen(bufs[:k])
		r := hostIO1(ops, fd, bufs[:k], off, pos)
		if r < 0 {
			if total > 0 {
				return total
			}
			return r
		}
		total += r
		off += r
		bufs = bufs[k:]
		if int(r) < want || len(bufs) == 0 {
			break
		}
		if ops.read {
			var st unix.Stat_t
			if unix.Fstat(fd, &st) != nil {
				break
			}
			if m := st.Mode & unix.S_IFMT; m != unix.S_IFREG && m != unix.S_IFBLK {
				break
			}
		}
	}
	return total
}

func hostIO1(ops hostOps, fd int, bufs [][]byte, off int64, pos bool) int64 {
	var n int
	var err error
	switch {
	case len(bufs) <= 1 && pos:
		var b []byte
		if len(bufs) == 1 {
			b = bufs[0]
		}
		n, err = ops.oneAt(fd, b, off)
	case len(bufs) <= 1:
		var b []byte
		if len(bufs) == 1 {
			b = bufs[0]
		}
		n, err = ops.one(fd, b)
	case pos:
		n, err = ops.vecAt(fd, bufs, off)
	default:
		n, err = ops.vec(fd, bufs)
	}
	if err != nil {
		return errno(err)
	}
	return int64(n)
}

func readv(fd int, bufs [][]byte, off int64, pos bool) int64 {
	return hostIO(readOps, fd, bufs, off, pos)
}
func writev(fd int, bufs [][]byte, off int64, pos bool) int64 {
	return hostIO(writeOps, fd, bufs, off, pos)
}

// rw serves the read and write families. The guest buffer is (va, n), or
// an iovec array at va of n entries when vec; pos says the I/O is at off
// rather than at the file position. Pipes, sockets and terminals wait
// where a signal can interrupt them.
func (t *Thread) rw(fd, va, n uint64, write, vec, pos bool, off int64) int64 {
	f, e := t.fd(fd)
	if e != 0 {
		return e
	}
	if pos && off < 0 || f.pidfd != nil {
		return -EINVAL
	}
	var bufs [][]byte
	if vec {
		bufs, e = t.iovecs(va, n, !write)
	} else {
		bufs, e = t.ioBufs(va, n, !write)
	}
	if e != 0 {
		return e
	}
	if f.regen != nil && !write {
		t.regenerate(f, pos, off)
	}
	if pos {
		// Positional I/O fails at once on a stream (ESPIPE): no wait.
		if write {
			return writev(f.host, bufs, off, pos)
		}
		return readv(f.host, bufs, off, pos)
	}
	if write {
		ret := t.streamIO(f, pollOut, func() int64 { return writev(f.host, bufs, off, pos) })
		if ret > 0 && f.mayBlock() && ret < int64(totalLen(bufs)) && t.brokenPipe(f.host) {
			// Linux raises SIGPIPE on the writer whose reader went away
			// even when part of the data went first.
			t.raiseSIGPIPE()
		}
		return ret
	}
	if e := t.backgroundRead(f); e != 0 {
		return e
	}
	return t.streamIO(f, pollIn, func() int64 { return readv(f.host, bufs, off, pos) })
}

func sysRead(t *Thread, a *[6]uint64) int64  { return t.rw(a[0], a[1], a[2], false, false, false, 0) }
func sysWrite(t *Thread, a *[6]uint64) int64 { return t.rw(a[0], a[1], a[2], true, false, false, 0) }
func sysPread64(t *Thread, a *[6]uint64) int64 {
	return t.rw(a[0], a[1], a[2], false, false, true, int64(a[3]))
}
func sysPwrite64(t *Thread, a *[6]uint64) int64 {
	return t.rw(a[0], a[1], a[2], true, false, true, int64(a[3]))
}
func sysReadv(t *Thread, a *[6]uint64) int64  { return t.rw(a[0], a[1], a[2], false, true, false, 0) }
func sysWritev(t *Thread, a *[6]uint64) int64 { return t.rw(a[0], a[1], a[2], true, true, false, 0) }

// preadv and pwritev take offset -1 as "at the file position".
func sysPreadv(t *Thread, a *[6]uint64) int64 {
	return t.rw(a[0], a[1], a[2], false, true, int64(a[3]) != -1, int64(a[3]))
}
func sysPwritev(t *Thread, a *[6]uint64) int64 {
	return t.rw(a[0], a[1], a[2], true, true, int64(a[3]) != -1, int64(a[3]))
}

// streamIO runs op on f, first waiting (interruptibly) until f is ready
// when f is a pipe, socket or terminal in blocking mode. A write that
// meets a broken pipe raises SIGPIPE, as on Linux.
func (t *Thread) streamIO(f *fdEntry, events int16, op func() int64) int64 {
	if f.mayBlock() {
		// Wait only where the call would block: not in non-blocking mode,
		// and not on an fd not open for it (the call fails at once).
		if fl, err := unix.FcntlInt(uintptr(f.host), unix.F_GETFL, 0); err == nil && fl&unix.O_NONBLOCK == 0 &&
			(events == pollIn && fl&unix.O_ACCMODE != unix.O_WRONLY || events == pollOut && fl&unix.O_ACCMODE != unix.O_RDONLY) {
			if e := t.waitFD(f.host, events); e != 0 {
				return e
			}
		}
	}
	ret := op()
	if ret == -EPIPE && events == pollOut {
		t.raiseSIGPIPE()
	}
	return ret
}

// raiseSIGPIPE sends the thread the SIGPIPE of a write to a broken pipe.
func (t *Thread) raiseSIGPIPE() {
	t.sb.mu.Lock()
	t.sb.sendLocked(t.proc, t, SIGPIPE, sigInfo{code: siUser, pid: int32(t.proc.pid), uid: int32(t.proc.cred.uid)})
	t.sb.mu.Unlock()
}

// brokenPipe reports whether host fd is a pipe or socket no one reads.
func (t *Thread) brokenPipe(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: pollOut}}
	n, err := unix.Poll(pfd, 0)
	return err == nil && n == 1 && pfd[0].Revents&unix.POLLERR != 0
}

func totalLen(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}

// waitFD waits until host fd is ready for events, or until a signal is to
// be acted on (-ERESTARTSYS).
func (t *Thread) waitFD(fd int, events int16) int64 { return t.waitHost(fd, events, time.Time{}) }

const EPIPE = 32

func sysLseek(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	if a[2] > 4 {
		return -EINVAL
	}
	off, err := unix.Seek(f.host, int64(a[1]), int(a[2]))
	if err != nil {
		return errno(err)
	}
	return off
}

// putStat writes the amd64 struct stat.
func (t *Thread) putStat(va uint64, st *unix.Stat_t) int64 {
	var b [144]byte
	le := binary.LittleEndian
	le.PutUint64(b[0:], st.Dev)
	le.PutUint64(b[8:], st.Ino)
	le.PutUint64(b[16:], uint64(st.Nlink))
	le.PutUint32(b[24:], st.Mode)
	le.PutUint32(b[28:], st.Uid)
	le.PutUint32(b[32:], st.Gid)
	le.PutUint64(b[40:], st.Rdev)
	le.PutUint64(b[48:], uint64(st.Size))
	le.PutUint64(b[56:], uint64(st.Blksize))
	le.PutUint64(b[64:], uint64(st.Blocks))
	le.PutUint64(b[72:], uint64(st.Atim.Sec))
	le.PutUint64(b[80:], uint64(st.Atim.Nsec))
	le.PutUint64(b[88:], uint64(st.Mtim.Sec))
	le.PutUint64(b[96:], uint64(st.Mtim.Nsec))
	le.PutUint64(b[104:], uint64(st.Ctim.Sec))
	le.PutUint64(b[112:], uint64(st.Ctim.Nsec))
	return t.put(va, b[:])
}

func (t *Thread) fstatat(dirfd, pathVA, statVA, flags uint64) int64 {
	if flags&^(atSymlinkNofollow|atEmptyPath|atNoAutomount) != 0 {
		return -EINVAL
	}
	p, e := t.pathArg(pathVA)
	if e != 0 {
		return e
	}
	var st unix.Stat_t
	var err error
	if p == "" {
		if flags&atEmptyPath == 0 {
			return -ENOENT
		}
		if int32(dirfd) == atFDCWD {
			var hp string
			if hp, err = t.sb.res.Resolve(t, t.proc.fs.cwd, ".", true, &t.scratch); err == nil {
				err = unix.Stat(hp, &st)
			}
		} else {
			f, e := t.fd(dirfd)
			if e != 0 {
				return e
			}
			err = unix.Fstat(f.host, &st)
		}
	} else {
		d, hp, e := t.hostAt(dirfd, p, flags&atSymlinkNofollow == 0)
		if e != 0 {
			return e
		}
		err = unix.Fstatat(d, hp, &st, t.atFlags(flags&atSymlinkNofollow == 0))
	}
	if err != nil {
		return errno(err)
	}
	return t.putStat(statVA, &st)
}

func sysStat(t *Thread, a *[6]uint64) int64 {
	return t.fstatat(uint64(atFDCWD&0xffffffff), a[0], a[1], 0)
}
func sysLstat(t *Thread, a *[6]uint64) int64 {
	return t.fstatat(uint64(atFDCWD&0xffffffff), a[0], a[1], atSymlinkNofollow)
}
func sysNewfstatat(t *Thread, a *[6]uint64) int64 { return t.fstatat(a[0], a[1], a[2], a[3]) }

func sysFstat(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	var st unix.Stat_t
	if err := unix.Fstat(f.host, &st); err != nil {
		return errno(err)
	}
	return t.putStat(a[1], &st)
}

func sysStatx(t *Thread, a *[6]uint64) int64 {
	p, e := t.pathArg(a[1])
	if e != 0 {
		return e
	}
	flags := int(a[2])
	if flags&^(atSymlinkNofollow|atEmptyPath|atNoAutomount|atStatxSyncType) != 0 {
		return -EINVAL
	}
	var d int
	hp := p
	if p == "" {
		if flags&atEmptyPath == 0 {
			return -ENOENT
		}
		if int32(a[0]) == atFDCWD {
			d = unix.AT_FDCWD
			var err error
			if hp, err = t.sb.res.Resolve(t, t.proc.fs.cwd, ".", true, &t.scratch); err != nil {
				return errno(err)
			}
			flags &^= atEmptyPath
		} else {
			f, e := t.fd(a[0])
			if e != 0 {
				return e
			}
			d = f.host
		}
	} else if d, hp, e = t.hostAt(a[0], p, flags&atSymlinkNofollow == 0); e != 0 {
		return e
	}
	hflags := t.atFlags(flags&atSymlinkNofollow == 0)
	if flags&atEmptyPath != 0 {
		hflags |= unix.AT_EMPTY_PATH
	}
	if flags&atNoAutomount != 0 {
		hflags |= unix.AT_NO_AUTOMOUNT
	}
	var sx unix.Statx_t
	if err := unix.Statx(d, hp, hflags, int(uint32(a[3])), &sx); err != nil {
		return errno(err)
	}
	var b [256]byte
	le := binary.LittleEndian
	le.PutUint32(b[0:], sx.Mask)
	le.PutUint32(b[4:], sx.Blksize)
	le.PutUint64(b[8:], sx.Attributes)
	le.PutUint32(b[16:], sx.Nlink)
	le.PutUint32(b[20:], sx.Uid)
	le.PutUint32(b[24:], sx.Gid)
	le.PutUint16(b[28:], sx.Mode)
	le.PutUint64(b[32:], sx.Ino)
	le.PutUint64(b[40:], sx.Size)
	le.PutUint64(b[48:], sx.Blocks)
	le.PutUint64(b[56:], sx.Attributes_mask)
	for i, ts := range []unix.StatxTimestamp{sx.Atime, sx.Btime, sx.Ctime, sx.Mtime} {
		le.PutUint64(b[64+16*i:], uint64(ts.Sec))
		le.PutUint32(b[72+16*i:], ts.Nsec)
	}
	le.PutUint32(b[128:], sx.Rdev_major)
	le.PutUint32(b[132:], sx.Rdev_minor)
	le.PutUint32(b[136:], sx.Dev_major)
	le.PutUint32(b[140:], sx.Dev_minor)
	le.PutUint64(b[144:], sx.Mnt_id)
	return t.put(a[4], b[:])
}

func sysGetdents64(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	n := int(min(a[2], 1<<20))
	hbuf := make([]byte, n)
	got, err := unix.Getdents(f.host, hbuf)
	if err != nil {
		return errno(err)
	}
	// Re-encode each linux_dirent64 record (d_ino, d_off, d_reclen, d_type, d_name).
	out := make([]byte, 0, got)
	le := binary.LittleEndian
	for off := 0; off < got; {
		rec := hbuf[off:]
		reclen := int(le.Uint16(rec[16:]))
		name := cstr(rec[19:reclen])
		glen := (19 + len(name) + 1 + 7) &^ 7
		g := make([]byte, glen)
		le.PutUint64(g[0:], le.Uint64(rec[0:]))
		le.PutUint64(g[8:], le.Uint64(rec[8:]))
		le.PutUint16(g[16:], uint16(glen))
		g[18] = rec[18]
		copy(g[19:], name)
		out = append(out, g...)
		off += reclen
	}
	if e := t.put(a[1], out); e != 0 {
		return e
	}
	return int64(len(out))
}

func (t *Thread) readlinkat(dirfd, pathVA, buf, size uint64) int64 {
	if int64(size) <= 0 {
		return -EINVAL
	}
	p, e := t.pathArg(pathVA)
	if e != 0 {
		return e
	}
	target, ok := t.sb.synth.ownExe(t, p)
	if !ok {
		d, hp, e := t.hostAt(dirfd, p, false)
		if e != 0 {
			return e
		}
		b := make([]byte, 4096)
		n, err := unix.Readlinkat(d, hp, b)
		if err != nil {
			return errno(err)
		}
		target = string(b[:n])
	}
	if uint64(len(target)) > size {
		target = target[:size]
	}
	if e := t.put(buf, []byte(target)); e != 0 {
		return e
	}
	return int64(len(target))
}

func sysReadlink(t *Thread, a *[6]uint64) int64 {
	return t.readlinkat(uint64(atFDCWD&0xffffffff), a[0], a[1], a[2])
}
func sysReadlinkat(t *Thread, a *[6]uint64) int64 { return t.readlinkat(a[0], a[1], a[2], a[3]) }

func (t *Thread) mkdirat(dirfd, pathVA, mode uint64) int64 {
	d, hp, e := t.writableAt(dirfd, pathVA, false)
	if e != 0 {
		return e
	}
	return errno(unix.Mkdirat(d, hp, uint32(mode)&^t.proc.fs.umask&0o7777))
}

// mknodat makes FIFOs, sockets and regular files; device nodes would
// reach the host's devices, so they are refused as a container without
// CAP_MKNOD sees it.
func (t *Thread) mknodat(dirfd, pathVA, mode, dev uint64) int64 {
	var hmode uint32
	switch mode & sIFMT {
	case 0, sIFREG:
		hmode = unix.S_IFREG
	case sIFIFO:
		hmode = unix.S_IFIFO
	case sIFSOCK:
		hmode = unix.S_IFSOCK
	case sIFCHR, sIFBLK:
		return -EPERM
	default:
		return -EINVAL
	}
	d, hp, e := t.writableAt(dirfd, pathVA, false)
	if e != 0 {
		return e
	}
	return errno(unix.Mknodat(d, hp, hmode|uint32(mode)&^t.proc.fs.umask&0o7777, 0))
}

func sysMknod(t *Thread, a *[6]uint64) int64 { return t.mknodat(cwdFD, a[0], a[1], a[2]) }
func sysMknodat(t *Thread, a *[6]uint64) int64 {
	return t.mknodat(a[0], a[1], a[2], a[3])
}

// Linux file types in a mode.
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
)

func sysMkdir(t *Thread, a *[6]uint64) int64 {
	return t.mkdirat(uint64(atFDCWD&0xffffffff), a[0], a[1])
}
func sysMkdirat(t *Thread, a *[6]uint64) int64 { return t.mkdirat(a[0], a[1], a[2]) }

func (t *Thread) unlinkat(dirfd, pathVA, flags uint64) int64 {
	if flags&^atRemovedir != 0 {
		return -EINVAL
	}
	d, hp, e := t.writableAt(dirfd, pathVA, false)
	if e != 0 {
		return e
	}
	hf := 0
	if flags&atRemovedir != 0 {
		hf = unix.AT_REMOVEDIR
	}
	return errno(unix.Unlinkat(d, hp, hf))
}

func sysUnlink(t *Thread, a *[6]uint64) int64 {
	return t.unlinkat(uint64(atFDCWD&0xffffffff), a[0], 0)
}
func sysRmdir(t *Thread, a *[6]uint64) int64 {
	return t.unlinkat(uint64(atFDCWD&0xffffffff), a[0], atRemovedir)
}
func sysUnlinkat(t *Thread, a *[6]uint64) int64 { return t.unlinkat(a[0], a[1], a[2]) }

func (t *Thread) renameat2(od, op, nd, np, flags uint64) int64 {
	d1, p1, e := t.writableAt(od, op, false)
	if e != 0 {
		return e
	}
	d2, p2, e := t.writableAt(nd, np, false)
	if e != 0 {
		return e
	}
	if flags&^7 != 0 {
		return -EINVAL
	}
	return errno(unix.Renameat2(d1, p1, d2, p2, uint(flags)))
}

const cwdFD = uint64(atFDCWD & 0xffffffff)

func sysRename(t *Thread, a *[6]uint64) int64   { return t.renameat2(cwdFD, a[0], cwdFD, a[1], 0) }
func sysRenameat(t *Thread, a *[6]uint64) int64 { return t.renameat2(a[0], a[1], a[2], a[3], 0) }
func sysRenameat2(t *Thread, a *[6]uint64) int64 {
	return t.renameat2(a[0], a[1], a[2], a[3], a[4])
}

func (t *Thread) linkat(od, op, nd, np, flags uint64) int64 {
	if flags&^(atSymlinkFollow|atEmptyPath) != 0 {
		return -EINVAL
	}
	follow := flags&atSymlinkFollow != 0
	d1, p1, e := t.pathAt(od, op, follow)
	if e != 0 {
		return e
	}
	d2, p2, e := t.writableAt(nd, np, false)
	if e != 0 {
		return e
	}
	hf := 0
	if follow && !t.sb.res.Confined() {
		hf = unix.AT_SYMLINK_FOLLOW
	}
	return errno(unix.Linkat(d1, p1, d2, p2, hf))
}

func sysLink(t *Thread, a *[6]uint64) int64   { return t.linkat(cwdFD, a[0], cwdFD, a[1], 0) }
func sysLinkat(t *Thread, a *[6]uint64) int64 { return t.linkat(a[0], a[1], a[2], a[3], a[4]) }

func (t *Thread) symlinkat(targetVA, nd, np uint64) int64 {
	target, e := t.pathArg(targetVA)
	if e != 0 {
		return e
	}
	if target == "" {
		return -ENOENT
	}
	d, hp, e := t.writableAt(nd, np, false)
	if e != 0 {
		return e
	}
	return errno(unix.Symlinkat(target, d, hp))
}

func sysSymlink(t *Thread, a *[6]uint64) int64   { return t.symlinkat(a[0], cwdFD, a[1]) }
func sysSymlinkat(t *Thread, a *[6]uint64) int64 { return t.symlinkat(a[0], a[1], a[2]) }

func (t *Thread) fchmodat(dirfd, pathVA, mode, flags uint64) int64 {
	d, hp, e := t.writableAt(dirfd, pathVA, true)
	if e != 0 {
		return e
	}
	if flags&^atSymlinkNofollow != 0 {
		return -EINVAL
	}
	if flags != 0 {
		return -EOPNOTSUPP
	}
	return errno(unix.Fchmodat(d, hp, uint32(mode)&0o7777, 0))
}

const EOPNOTSUPP = 95

func sysChmod(t *Thread, a *[6]uint64) int64    { return t.fchmodat(cwdFD, a[0], a[1], 0) }
func sysFchmodat(t *Thread, a *[6]uint64) int64 { return t.fchmodat(a[0], a[1], a[2], 0) }
func sysFchmodat2(t *Thread, a *[6]uint64) int64 {
	return t.fchmodat(a[0], a[1], a[2], a[3])
}

func sysFchmod(t *Thread, a *[6]uint64) int64 {
	return t.onFD(a[0], func(fd int) error { return unix.Fchmod(fd, uint32(a[1])&0o7777) })
}

// onFD runs a host call on the host fd behind guest fd.
func (t *Thread) onFD(fd uint64, call func(int) error) int64 {
	f, e := t.fd(fd)
	if e != 0 {
		return e
	}
	return errno(call(f.host))
}

func (t *Thread) fchownat(dirfd, pathVA, uid, gid, flags uint64) int64 {
	if flags&^(atSymlinkNofollow|atEmptyPath) != 0 {
		return -EINVAL
	}
	p, e := t.pathArg(pathVA)
	if e != 0 {
		return e
	}
	if p == "" && flags&atEmptyPath != 0 {
		f, e := t.fd(dirfd)
		if e != 0 {
			return e
		}
		return errno(unix.Fchown(f.host, int(int32(uid)), int(int32(gid))))
	}
	d, hp, e := t.hostAt(dirfd, p, flags&atSymlinkNofollow == 0)
	if e != 0 {
		return e
	}
	if e := t.writeDenied(-EPERM); e != 0 {
		return e
	}
	hf := t.atFlags(flags&atSymlinkNofollow == 0)
	return errno(unix.Fchownat(d, hp, int(int32(uid)), int(int32(gid)), hf))
}

func sysChown(t *Thread, a *[6]uint64) int64 { return t.fchownat(cwdFD, a[0], a[1], a[2], 0) }
func sysLchown(t *Thread, a *[6]uint64) int64 {
	return t.fchownat(cwdFD, a[0], a[1], a[2], atSymlinkNofollow)
}
func sysFchownat(t *Thread, a *[6]uint64) int64 { return t.fchownat(a[0], a[1], a[2], a[3], a[4]) }
func sysFchown(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	return errno(unix.Fchown(f.host, int(int32(a[1])), int(int32(a[2]))))
}

func sysUtimensat(t *Thread, a *[6]uint64) int64 {
	ts, e := t.timePair(a[2], 1)
	if e != 0 {
		return e
	}
	return t.utimensat(a[0], a[1], ts, a[3])
}

// timePair reads the two times of utimensat (struct timespec, unit 1) or
// utimes (struct timeval, unit 1000: microseconds); va 0 is nil (now).
// Only timespecs may carry UTIME_NOW and UTIME_OMIT.
func (t *Thread) timePair(va uint64, unit int64) ([]unix.Timespec, int64) {
	if va == 0 {
		return nil, 0
	}
	var b [32]byte
	if e := t.get(va, b[:]); e != 0 {
		return nil, e
	}
	ts := make([]unix.Timespec, 2)
	for i := range ts {
		sec, frac := int64(binary.LittleEndian.Uint64(b[16*i:])), int64(binary.LittleEndian.Uint64(b[16*i+8:]))
		special := unit == 1 && (frac == unix.UTIME_NOW || frac == unix.UTIME_OMIT)
		if !special && (frac < 0 || frac*unit >= 1e9) {
			return nil, -EINVAL
		}
		if !special {
			frac *= unit
		}
		ts[i] = unix.Timespec{Sec: sec, Nsec: frac}
	}
	return ts, 0
}

// utimensat sets a file's times (nil: now); a zero path names dirfd itself.
func (t *Thread) utimensat(dirfd, pathVA uint64, ts []unix.Timespec, flags uint64) int64 {
	if flags&^(atSymlinkNofollow|atEmptyPath) != 0 {
		return -EINVAL
	}
	hf := t.atFlags(flags&atSymlinkNofollow == 0)
	if pathVA == 0 {
		// utimensat(fd, NULL, ...) sets the times of fd itself.
		f, e := t.fd(dirfd)
		if e != 0 {
			return e
		}
		return errno(unix.UtimesNanoAt(f.host, "", ts, unix.AT_EMPTY_PATH))
	}
	d, hp, e := t.writableAt(dirfd, pathVA, flags&atSymlinkNofollow == 0)
	if e != 0 {
		return e
	}
	return errno(unix.UtimesNanoAt(d, hp, ts, hf))
}

// futimesat(dirfd, path, times): utimensat with struct timeval times.
func sysFutimesat(t *Thread, a *[6]uint64) int64 {
	ts, e := t.timePair(a[2], 1000)
	if e != 0 {
		return e
	}
	if a[1] == 0 {
		return -EFAULT // utimes has no "the fd itself" form
	}
	return t.utimensat(a[0], a[1], ts, 0)
}

func sysUtimes(t *Thread, a *[6]uint64) int64 {
	return sysFutimesat(t, &[6]uint64{cwdFD, a[0], a[1]})
}

// utime(path, struct utimbuf{actime, modtime}).
func sysUtime(t *Thread, a *[6]uint64) int64 {
	var ts []unix.Timespec
	if a[1] != 0 {
		var b [16]byte
		if e := t.get(a[1], b[:]); e != 0 {
			return e
		}
		ts = []unix.Timespec{{Sec: int64(binary.LittleEndian.Uint64(b[0:]))}, {Sec: int64(binary.LittleEndian.Uint64(b[8:]))}}
	}
	return t.utimensat(cwdFD, a[0], ts, 0)
}

func (t *Thread) faccessat(dirfd, pathVA, mode, flags uint64) int64 {
	if mode&^7 != 0 || flags&^(atEaccess|atSymlinkNofollow|atEmptyPath) != 0 {
		return -EINVAL
	}
	d, hp, e := t.pathAt(dirfd, pathVA, flags&atSymlinkNofollow == 0)
	if e != 0 {
		return e
	}
	if mode&2 != 0 { // W_OK
		if e := t.writeDenied(-EACCES); e != 0 {
			return e
		}
	}
	hf := t.atFlags(flags&atSymlinkNofollow == 0)
	if flags&atEaccess != 0 {
		hf |= unix.AT_EACCESS
	}
	return errno(unix.Faccessat2(d, hp, uint32(mode), hf))
}

func sysAccess(t *Thread, a *[6]uint64) int64     { return t.faccessat(cwdFD, a[0], a[1], 0) }
func sysFaccessat(t *Thread, a *[6]uint64) int64  { return t.faccessat(a[0], a[1], a[2], 0) }
func sysFaccessat2(t *Thread, a *[6]uint64) int64 { return t.faccessat(a[0], a[1], a[2], a[3]) }

func sysFtruncate(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	if int64(a[1]) < 0 {
		return -EINVAL
	}
	return errno(unix.Ftruncate(f.host, int64(a[1])))
}

func sysTruncate(t *Thread, a *[6]uint64) int64 {
	d, hp, e := t.writableAt(cwdFD, a[0], true)
	if e != 0 {
		return e
	}
	if int64(a[1]) < 0 {
		return -EINVAL
	}
	fd, err := unix.Openat(d, hp, unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|t.noFollow(), 0)
	if err != nil {
		return errno(err)
	}
	defer unix.Close(fd)
	return errno(unix.Ftruncate(fd, int64(a[1])))
}

func sysFsync(t *Thread, a *[6]uint64) int64 { return t.onFD(a[0], unix.Fsync) }

func sysFdatasync(t *Thread, a *[6]uint64) int64 { return t.onFD(a[0], unix.Fdatasync) }

func (t *Thread) dupTo(old *fdEntry, newfd int, cloexec bool) int64 {
	h, err := unix.FcntlInt(uintptr(old.host), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return errno(err)
	}
	ne := old.dup(h, cloexec)
	if newfd < 0 {
		return t.proc.addFD(ne, 0)
	}
	if prev := t.proc.fds.set(newfd, ne); prev != nil {
		t.proc.fds.closeHost(prev)
	}
	return int64(newfd)
}

func sysDup(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	return t.dupTo(f, -1, false)
}

func sysDup2(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	if int32(a[0]) == int32(a[1]) {
		return int64(int32(a[1]))
	}
	if int32(a[1]) < 0 || uint64(int32(a[1])) >= t.proc.rlimit(unix.RLIMIT_NOFILE).Cur {
		return -EBADF
	}
	return t.dupTo(f, int(int32(a[1])), false)
}

func sysDup3(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	if a[2]&^oCloexec != 0 || int32(a[0]) == int32(a[1]) {
		return -EINVAL
	}
	if int32(a[1]) < 0 || uint64(int32(a[1])) >= t.proc.rlimit(unix.RLIMIT_NOFILE).Cur {
		return -EBADF
	}
	return t.dupTo(f, int(int32(a[1])), a[2]&oCloexec != 0)
}

// Linux fcntl commands.
const (
	fDupfd        = 0
	fGetfd        = 1
	fSetfd        = 2
	fGetfl        = 3
	fSetfl        = 4
	fGetlk        = 5
	fSetlk        = 6
	fSetlkw       = 7
	fDupfdCloexec = 1030
	fSetpipeSz    = 1031
	fGetpipeSz    = 1032
)

func sysFcntl(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	switch a[1] {
	case fDupfd, fDupfdCloexec:
		if int32(a[2]) < 0 || uint64(int32(a[2])) >= t.proc.rlimit(unix.RLIMIT_NOFILE).Cur {
			return -EINVAL
		}
		h, err := unix.FcntlInt(uintptr(f.host), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return errno(err)
		}
		return t.proc.addFD(f.dup(h, a[1] == fDupfdCloexec), int(int32(a[2])))
	case fGetfd:
		if f.cloexec {
			return 1
		}
		return 0
	case fSetfd:
		f.cloexec = a[2]&1 != 0
		return 0
	case fGetfl:
		fl, err := unix.FcntlInt(uintptr(f.host), unix.F_GETFL, 0)
		if err != nil {
			return errno(err)
		}
		return int64(encodeOpenFlags(fl))
	case fSetfl:
		_, err := unix.FcntlInt(uintptr(f.host), unix.F_SETFL, decodeOpenFlags(int(a[2])))
		return errno(err)
	case fGetpipeSz:
		n, err := unix.FcntlInt(uintptr(f.host), unix.F_GETPIPE_SZ, 0)
		if err != nil {
			return errno(err)
		}
		return int64(n)
	case fSetpipeSz:
		n, err := unix.FcntlInt(uintptr(f.host), unix.F_SETPIPE_SZ, int(a[2]))
		if err != nil {
			return errno(err)
		}
		return int64(n)
	}
	return t.fcntlMore(f, a[1], a[2])
}

func sysGetcwd(t *Thread, a *[6]uint64) int64 {
	cwd := t.proc.fs.cwd
	if t.proc.fs.root != nil && !t.sb.res.Confined() {
		cwd = underRoot(t.proc.fs.root, cwd) // host paths
	} else {
		cwd = underRoot(t.proc.fs.root, t.sb.res.GuestPath(cwd))
	}
	b := append([]byte(cwd), 0)
	if len(b) > unix.PathMax {
		return -ENAMETOOLONG // callers then walk up with ".." themselves
	}
	if uint64(len(b)) > a[1] {
		return -ERANGE
	}
	if e := t.put(a[0], b); e != 0 {
		return e
	}
	return int64(len(b))
}

// chdirTo makes the guest directory p the process's working directory.
func (t *Thread) chdirTo(p string) int64 {
	cwd, dir, err := t.sb.res.chdir(t, t.proc.fs.cwd, p)
	if err != nil {
		return errno(err)
	}
	t.proc.fs.cwd, t.proc.fs.dir = cwd, dir
	return 0
}

func sysChroot(t *Thread, a *[6]uint64) int64 {
	p, e := t.pathArg(a[0])
	if e != 0 {
		return e
	}
	if !t.hasCap(capSysChroot) {
		return -EPERM
	}
	if p == "" {
		return -ENOENT
	}
	root, err := t.sb.res.chroot(t, t.proc.fs.cwd, p)
	if err != nil {
		return errno(err)
	}
	t.proc.fs.root = root
	return 0
}

func sysChdir(t *Thread, a *[6]uint64) int64 {
	p, e := t.pathArg(a[0])
	if e != 0 {
		return e
	}
	if p == "" {
		return -ENOENT
	}
	return t.chdirTo(p)
}

func sysFchdir(t *Thread, a *[6]uint64) int64 {
	f, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	if t.sb.res.Confined() {
		// The working directory is a guest path: the one fd was opened by.
		if !path.IsAbs(f.path) {
			return -ENOTDIR
		}
		return t.chdirTo(f.path)
	}
	// The working directory is a host path: the fd's own.
	var st unix.Stat_t
	if err := unix.Fstat(f.host, &st); err != nil {
		return errno(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return -ENOTDIR
	}
	if err := unix.Faccessat(f.host, ".", unix.X_OK, 0); err != nil {
		return errno(err)
	}
	cwd, err := readlinkFD(f.host)
	if err != nil {
		return errno(err)
	}
	fd, err := unix.Open("/proc/self/fd/"+itoa(f.host), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return errno(err)
	}
	t.proc.fs.cwd, t.proc.fs.dir = cwd, newCwdDir(fd)
	return 0
}

// readlinkFD returns the host path an fd refers to.
func readlinkFD(fd int) (string, error) {
	b := make([]byte, 4096)
	n, err := unix.Readlink("/proc/self/fd/"+itoa(fd), b)
	if err != nil {
		return "", err
	}
	return string(b[:n]), nil
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	neg := i < 0
	if neg {
		i = -i
	}
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	if neg {
		n--
		b[n] = '-'
	}
	return string(b[n:])
}

func sysUmask(t *Thread, a *[6]uint64) int64 {
	old := t.proc.fs.umask
	t.proc.fs.umask = uint32(a[0]) & 0o777
	return int64(old)
}

// optOffset reads the optional off_t that sendfile and copy_file_range
// take by pointer (nil when va is 0).
func (t *Thread) optOffset(va uint64) (*int64, int64) {
	if va == 0 {
		return nil, 0
	}
	v, e := t.getU64(va)
	if e != 0 {
		return nil, e
	}
	o := int64(v)
	if o < 0 {
		return nil, -EINVAL
	}
	return &o, 0
}

// putOffset writes an updated offset back.
func (t *Thread) putOffset(va uint64, o *int64) int64 {
	if o == nil {
		return 0
	}
	return t.putU64(va, uint64(*o))
}

func sysSendfile(t *Thread, a *[6]uint64) int64 {
	out, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	in, e := t.fd(a[1])
	if e != 0 {
		return e
	}
	off, e := t.optOffset(a[2])
	if e != 0 {
		return e
	}
	n, err := unix.Sendfile(out.host, in.host, off, int(min(a[3], 0x7ffff000)))
	if err != nil {
		return errno(err)
	}
	if e := t.putOffset(a[2], off); e != 0 {
		return e
	}
	return int64(n)
}

func sysCopyFileRange(t *Thread, a *[6]uint64) int64 {
	in, e := t.fd(a[0])
	if e != 0 {
		return e
	}
	out, e := t.fd(a[2])
	if e != 0 {
		return e
	}
	if a[5] != 0 {
		return -EINVAL
	}
	inOff, e := t.optOffset(a[1])
	if e != 0 {
		return e
	}
	outOff, e := t.optOffset(a[3])
	if e != 0 {
		return e
	}
	n, err := unix.CopyFileRange(in.host, inOff, out.host, outOff, int(min(a[4], 0x7ffff000)), 0)
	if err != nil {
		return errno(err)
	}
	if e := t.putOffset(a[1], inOff); e != 0 {
		return e
	}
	if e := t.putOffset(a[3], outOff); e != 0 {
		return e
	}
	return int64(n)
}
