//go:build linux && amd64

package syscall

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path"
	"strings"
	"sync"
	gosyscall "syscall"
	"time"

	"github.com/elfuse/elfuse/arch/amd64"
	"github.com/elfuse/elfuse/hv"
	"github.com/elfuse/elfuse/loader"
	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// Limits of execve's arguments, as Linux has them.
const (
	maxArgStrlen   = 32 * 4096
	maxArgs        = 0x7fffffff
	maxScriptDepth = 4 // #! interpreters within interpreters
	binprmBuf      = 256
)

func sysExecve(t *Thread, a *[6]uint64) int64 { return t.execve(cwdFD, a[0], a[1], a[2], 0) }
func sysExecveat(t *Thread, a *[6]uint64) int64 {
	return t.execve(a[0], a[1], a[2], a[3], a[4])
}

// readStrings reads a NULL-terminated array of string pointers.
func (t *Thread) readStrings(va uint64, total *int) ([]string, int64) {
	var out []string
	if va == 0 {
		return nil, 0
	}
	limit := int(t.proc.rlimit(unix.RLIMIT_STACK).Cur / 4)
	for i := 0; ; i++ {
		p, e := t.getU64(va + uint64(i)*8)
		if e != 0 {
			return nil, e
		}
		if p == 0 {
			return out, 0
		}
		s, err := t.proc.as.ReadString(p, maxArgStrlen)
		if err != nil {
			if errors.Is(err, mm.ErrFault) {
				return nil, -EFAULT
			}
			return nil, -E2BIG
		}
		*total += len(s) + 1 + 8
		if *total > limit {
			return nil, -E2BIG
		}
		out = append(out, s)
	}
}

// execImage is a program ready to be loaded: its files and final argv.
type execImage struct {
	exe, interp *loader.Exe
	argv        []string
	hostPath    string
}

func (x *execImage) close() {
	if x.exe != nil {
		x.exe.Close()
	}
	if x.interp != nil {
		x.interp.Close()
	}
}

// prepareExec opens the program at (dirfd, host) that the guest named
// guest, following #! lines, and maps failures to Linux's errors.
func (t *Thread) prepareExec(dirfd int, host, guest string, argv []string, depth int) (*execImage, int64) {
	if depth > maxScriptDepth {
		return nil, -ELOOP
	}
	guestPath := t.lookedUp
	oflags := unix.O_RDONLY | unix.O_CLOEXEC
	if dirfd != unix.AT_FDCWD {
		// A confined lookup's result (execveat's empty path is a
		// /proc/self/fd link, which must be followed).
		oflags |= t.noFollow()
	}
	fd, err := unix.Openat(dirfd, host, oflags, 0)
	if err != nil {
		return nil, errno(err)
	}
	f := os.NewFile(uintptr(fd), host)
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, errno(err)
	}
	if !st.Mode().IsRegular() || unix.Faccessat(dirfd, host, unix.X_OK, 0) != nil {
		f.Close()
		return nil, -EACCES
	}
	head := make([]byte, binprmBuf)
	n, _ := f.ReadAt(head, 0)
	head = head[:n]
	if bytes.HasPrefix(head, []byte("#!")) {
		f.Close()
		interp, nargv, e := scriptArgv(head, guest, argv)
		if e != 0 {
			return nil, e
		}
		id, ih, e := t.hostAt(cwdFD, interp, true)
		if e != 0 {
			return nil, e
		}
		return t.prepareExec(id, ih, interp, nargv, depth+1)
	}
	ef, err := loader.Parse(f, st.Size())
	if err != nil || ef.Arch != loader.AMD64 {
		f.Close()
		return nil, -ENOEXEC
	}
	x := &execImage{exe: &loader.Exe{File: f, ELF: ef}, argv: argv, hostPath: host}
	if t.sb.res.Confined() {
		x.hostPath = guestPath // a confined process's exe is a guest path
	} else if p, ok := t.sb.exeNames.canonical(host, st, fd); ok {
		x.hostPath = p // canonical, as Linux's /proc/PID/exe is
	}
	if ef.Interp != "" {
		ih, err := t.sb.res.Resolve(t, "/", ef.Interp, true, &t.scratch)
		if err == nil {
			x.interp, err = loader.Open(ih)
		}
		if err != nil {
			x.close()
			if errors.Is(err, os.ErrNotExist) {
				return nil, -ENOENT
			}
			return nil, -ELIBBAD
		}
		if x.interp.ELF.Arch != ef.Arch {
			x.close()
			return nil, -ELIBBAD
		}
	}
	return x, 0
}

const ELIBBAD = 80

// exeNames caches the canonical host path of executables by the path an
// execve named them by: a shell runs the same few programs again and
// again, and the canonical name costs a readlink of /proc/self/fd/N (tens
// of microseconds). An entry holds while the path names the same file
// (device and inode).
type exeNames struct {
	mu sync.Mutex
	m  map[string]exeName
}

type exeName struct {
	dev, ino uint64
	canon    string
}

// maxExeNames bounds the cache; it starts over when full.
const maxExeNames = 1024

// canonical returns the canonical path of the file open at fd, which the
// host path host names and st describes.
func (c *exeNames) canonical(host string, st os.FileInfo, fd int) (string, bool) {
	sys, ok := st.Sys().(*gosyscall.Stat_t)
	if !ok {
		return "", false
	}
	dev, ino := uint64(sys.Dev), sys.Ino
	c.mu.Lock()
	e, hit := c.m[host]
	c.mu.Unlock()
	if hit && e.dev == dev && e.ino == ino {
		return e.canon, true
	}
	p, err := readlinkFD(fd)
	if err != nil {
		return "", false
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxExeNames {
		c.m = map[string]exeName{}
	}
	c.m[host] = exeName{dev: dev, ino: ino, canon: p}
	c.mu.Unlock()
	return p, true
}

func (t *Thread) execve(dirfd, pathVA, argvVA, envpVA, flags uint64) int64 {
	if flags&^(atEmptyPath|atSymlinkNofollow) != 0 {
		return -EINVAL
	}
	p := t.proc
	guest, e := t.pathArg(pathVA)
	if e != 0 {
		return e
	}
	total := 0
	argv, e := t.readStrings(argvVA, &total)
	if e != 0 {
		return e
	}
	envp, e := t.readStrings(envpVA, &total)
	if e != 0 {
		return e
	}
	var d int
	var host string
	if guest == "" {
		if flags&atEmptyPath == 0 {
			return -ENOENT
		}
		f, e := t.fd(dirfd)
		if e != 0 {
			return e
		}
		host, d = "/proc/self/fd/"+itoa(f.host), unix.AT_FDCWD
		t.lookedUp = f.path
	} else if d, host, e = t.hostAt(dirfd, guest, flags&atSymlinkNofollow == 0); e != 0 {
		return e
	}
	if len(argv) == 0 {
		argv = []string{""} // Linux passes an empty argv[0] rather than none
	}
	// A script run through a directory fd is named /dev/fd/N/path to its
	// interpreter, as Linux does.
	scriptName := guest
	if guest == "" {
		scriptName = "/dev/fd/" + itoa(int(int32(dirfd)))
	} else if !path.IsAbs(guest) && int32(dirfd) != atFDCWD {
		scriptName = "/dev/fd/" + itoa(int(int32(dirfd))) + "/" + guest
	}
	x, e := t.prepareExec(d, host, scriptName, argv, 0)
	if e != 0 {
		return e
	}
	defer x.close()

	sb := t.sb
	as, err := mm.NewAddressSpace(sb.phys, sb.kernel)
	if err != nil {
		return -ENOMEM
	}
	sb.xlTrack(as)
	params := &loader.Params{Argv: x.argv, Envp: envp, ExecFn: guest,
		UID: p.cred.uid, EUID: p.cred.euid, GID: p.cred.gid, EGID: p.cred.egid,
		HWCap: sb.hwcap, HWCap2: 2, Platform: "x86_64", MinSigStk: 2048}
	rand.Read(params.Random[:])
	vd, err := sb.mapVDSO(as)
	if err != nil {
		as.Release()
		return -ENOMEM
	}
	params.VDSO = vd
	img, err := loader.Load(as, x.exe, x.interp, params)
	if err != nil {
		as.Release()
		return -ENOMEM
	}
	// The other threads of the process end first (Linux's de_thread): they
	// run in the old image, and their exits (clear-tid writes) touch it.
	if !t.endOtherThreads() {
		as.Release()
		return -EINTR // t itself is ending (exit_group or a fatal signal)
	}
	// The point of no return: the old image goes.
	t.xlDetach()
	old, owned := p.as, p.asOwned
	sb.mu.Lock()
	p.as, p.asOwned = as, true
	p.execed = true
	p.cred.caps = p.cred.caps.execCaps(p.cred.uid, p.cred.euid)
	if p.vforkDone != nil {
		close(p.vforkDone)
		p.vforkDone = nil
	}
	sb.mu.Unlock()
	if owned {
		old.Release()
	}
	p.fds.closeOnExec()
	p.sig.mu.Lock()
	if p.sig.shared() {
		// A private copy: the caller's handlers mean nothing in the new image.
		ns := &sigHand{actions: p.sig.actions}
		p.sig.mu.Unlock()
		p.sig = ns
		p.sig.mu.Lock()
	}
	for i := range p.sig.actions {
		if p.sig.actions[i].handler != sigIgn {
			p.sig.actions[i] = sigAction{}
		} else {
			p.sig.actions[i].flags, p.sig.actions[i].restorer = 0, 0
		}
	}
	p.sig.mu.Unlock()
	p.comm = path.Base(guest)
	p.argv = x.argv
	p.strs = stackStrings{img.ArgStart, img.ArgEnd, img.EnvStart, img.EnvEnd}
	if len(p.comm) > 15 {
		p.comm = p.comm[:15]
	}
	p.exePath = x.hostPath
	t.altstack = [3]uint64{0, ssDisable, 0}
	t.clearTID, t.robust = 0, 0
	t.restart = 0
	root, _ := as.Commit()
	t.sregs.CR3 = root
	t.loaded.Store(root)
	t.sregs.FS.Base, t.guestGS = 0, 0
	t.applyGS() // a new image patches its own sites, then gets a mailbox
	amd64.SetUserMode(t.sregs)
	t.sregsDirty = true
	*t.regs = hv.AMD64Regs{RIP: img.Entry, RSP: img.SP, RFLAGS: amd64.UserFlags(0)}
	if sb.initXSAVE != nil {
		t.cpu.SetXSAVE(sb.initXSAVE)
	}
	return justReturn
}

// shared reports whether another process uses these actions (CLONE_SIGHAND).
func (h *sigHand) shared() bool { return h.users > 0 }

// endOtherThreads kills every other thread of t's process and waits until
// they have gone; then t takes the process's pid as its thread id, as a
// thread that calls execve does on Linux. It reports false, leaving the
// others to end, when t itself is killed meanwhile.
func (t *Thread) endOtherThreads() bool {
	sb, p := t.sb, t.proc
	sb.mu.Lock()
	for _, th := range p.threads {
		if th != t {
			th.killed.Store(true)
			th.wake()
		}
	}
	sb.mu.Unlock()
	for wait := 50 * time.Microsecond; ; wait = min(2*wait, 5*time.Millisecond) {
		sb.mu.Lock()
		alone := len(p.threads) == 1
		if alone && t.tid != p.pid {
			delete(p.threads, t.tid)
			delete(sb.tids, t.tid)
			t.tid = p.pid
			p.threads[t.tid] = t
			sb.tids[t.tid] = t
		}
		sb.mu.Unlock()
		if alone {
			return true
		}
		if t.killed.Load() {
			return false
		}
		time.Sleep(wait)
	}
}

// scriptArgv reads the "#!" line at the start of the script guest (head,
// up to binprmBuf bytes of it) as Linux does: the interpreter ends at a
// space or tab, and the rest of the line, trimmed of spaces and tabs
// only, is one optional argument. It returns the interpreter and its argv.
func scriptArgv(head []byte, guest string, argv []string) (string, []string, int64) {
	line := head[2:]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	} else if len(head) == binprmBuf {
		return "", nil, -ENOEXEC // the line does not fit
	}
	text := strings.Trim(string(line), " \t")
	if text == "" {
		return "", nil, -ENOEXEC
	}
	interp, rest := text, ""
	if i := strings.IndexAny(text, " \t"); i >= 0 {
		interp, rest = text[:i], strings.Trim(text[i:], " \t")
	}
	nargv := []string{interp}
	if rest != "" {
		nargv = append(nargv, rest)
	}
	nargv = append(nargv, guest)
	if len(argv) > 1 {
		nargv = append(nargv, argv[1:]...)
	}
	return interp, nargv, 0
}
