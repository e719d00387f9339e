package rootfs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Whiteout markers defined by the OCI image spec.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	opaqueMarker   = ".wh..wh..opq"
)

// ErrLimit is wrapped by errors that stop an unpack because a layer exceeds
// one of the Limits.
var ErrLimit = errors.New("unpack limit exceeded")

// Limits bound what the layers of one image may expand to.
type Limits struct {
	// MaxBytes bounds the total size of regular file data (sparse files count
	// at their full logical size) over all layers.
	MaxBytes int64
	// MaxEntries bounds the number of tar entries over all layers.
	MaxEntries int64
}

// DefaultLimits are the limits used when Options.Limits is zero.
var DefaultLimits = Limits{MaxBytes: 32 << 30, MaxEntries: 4 << 20}

// Options configure an Unpacker.
type Options struct {
	// Limits bound the unpacked size; zero fields take DefaultLimits.
	Limits Limits
	// Rootless records ownership, device nodes and privileged xattrs instead
	// of applying them. It defaults to true when the process is not root.
	Rootless bool
	// Logger receives notes (skipped device nodes, unsupported xattrs); nil
	// means slog.Default().
	Logger *slog.Logger
}

// Record is the metadata of one entry that could not be applied to the
// host file system (because the unpack ran rootless) and is kept beside the
// sysroot instead, so the syscall layer can present it to the guest.
type Record struct {
	UID    int               `json:"uid,omitempty"`
	GID    int               `json:"gid,omitempty"`
	Mode   int64             `json:"mode,omitempty"` // tar mode bits, set for skipped device nodes and fifos
	Type   string            `json:"type,omitempty"` // "char", "block" or "fifo" for skipped nodes
	Major  int64             `json:"major,omitempty"`
	Minor  int64             `json:"minor,omitempty"`
	Xattrs map[string]string `json:"xattrs,omitempty"` // xattrs not applied
}

// Result summarises an unpack.
type Result struct {
	// Size is the number of bytes of regular file data written.
	Size int64 `json:"size"`
	// Entries is the number of tar entries processed.
	Entries int64 `json:"entries"`
	// Rootless tells whether ownership was recorded instead of applied.
	Rootless bool `json:"rootless"`
	// Records maps a root-relative path to metadata that was not applied.
	Records map[string]*Record `json:"records,omitempty"`
	// Notes are human-readable remarks (skipped nodes, unsupported xattrs).
	Notes []string `json:"notes,omitempty"`
}

const maxNotes = 100

// Unpacker applies layers in order into one root directory.
type Unpacker struct {
	res      resolver
	opts     Options
	log      *slog.Logger
	result   Result
	dirMeta  map[string]*tar.Header // directory metadata applied at Finish
	layerNew map[string]struct{}    // paths created by the current layer
	// dirs caches resolveDir: a directory name as layers spell it to its symlink-free path.
	// Creating entries never changes how an existing directory resolves; removing or replacing
	// one may, so every removal empties the cache.
	dirs     map[string]string
	uid, gid int
	notes    int
	buf      []byte // file data copy buffer
	// umask is the process's; ownGroup tells that new files get the process's group (the root
	// is not set-group-ID, and directories get their modes only at Finish).
	umask    uint32
	ownGroup bool
}

// NewUnpacker returns an Unpacker writing into root, which must be an existing
// directory (normally an empty temporary directory).
func NewUnpacker(root string, opts Options) (*Unpacker, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("unpack root %q: %w", root, err)
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, fmt.Errorf("unpack root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("unpack root %q is not a directory", abs)
	}
	if opts.Limits.MaxBytes <= 0 {
		opts.Limits.MaxBytes = DefaultLimits.MaxBytes
	}
	if opts.Limits.MaxEntries <= 0 {
		opts.Limits.MaxEntries = DefaultLimits.MaxEntries
	}
	if os.Geteuid() != 0 {
		opts.Rootless = true
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	u := &Unpacker{
		res:     resolver{root: abs},
		opts:    opts,
		log:     log,
		dirMeta: map[string]*tar.Header{},
		dirs:    map[string]string{},
		uid:     os.Geteuid(),
		gid:     os.Getegid(),
	}
	u.result.Rootless = opts.Rootless
	u.umask = processUmask()
	u.ownGroup = fi.Mode()&os.ModeSetgid == 0
	u.result.Records = map[string]*Record{}
	return u, nil
}

// Apply reads one uncompressed layer tar stream and applies it on top of the
// layers applied before. On error the root is left in an unspecified state
// and should be discarded.
func (u *Unpacker) Apply(ctx context.Context, layer io.Reader) error {
	u.layerNew = map[string]struct{}{}
	tr := tar.NewReader(layer)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
		u.result.Entries++
		if u.result.Entries > u.opts.Limits.MaxEntries {
			return fmt.Errorf("%w: more than %d entries", ErrLimit, u.opts.Limits.MaxEntries)
		}
		if err := u.entry(hdr, tr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
}

// Finish applies deferred directory metadata (modes and mtimes, which later
// entries would otherwise disturb) and returns the result.
func (u *Unpacker) Finish() (*Result, error) {
	paths := make([]string, 0, len(u.dirMeta))
	for p := range u.dirMeta {
		paths = append(paths, p)
	}
	// Deepest first, so setting a parent's mtime is not undone by a child.
	sort.Slice(paths, func(i, j int) bool {
		di, dj := strings.Count(paths[i], "/"), strings.Count(paths[j], "/")
		if di != dj {
			return di > dj
		}
		return paths[i] > paths[j]
	})
	for _, p := range paths {
		hdr := u.dirMeta[p]
		host := u.res.host(p)
		fi, err := os.Lstat(host)
		if err != nil || !fi.IsDir() {
			continue // removed or replaced by a later layer
		}
		if err := os.Chmod(host, tarMode(hdr)); err != nil {
			return nil, fmt.Errorf("chmod %q: %w", p, err)
		}
		if err := setTimes(host, hdr); err != nil {
			return nil, fmt.Errorf("set mtime of %q: %w", p, err)
		}
	}
	if len(u.result.Records) == 0 {
		u.result.Records = nil
	}
	r := u.result
	return &r, nil
}

func (u *Unpacker) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	u.log.Info("unpack: " + msg)
	u.notes++
	if u.notes <= maxNotes {
		u.result.Notes = append(u.result.Notes, msg)
	} else if u.notes == maxNotes+1 {
		u.result.Notes = append(u.result.Notes, "further notes omitted")
	}
}

func (u *Unpacker) entry(hdr *tar.Header, r io.Reader) error {
	rel, err := CleanName(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "." {
		if hdr.Typeflag == tar.TypeDir {
			return nil // the root's own entry: the root keeps its mode
		}
		return fmt.Errorf("%w: the root must be a directory", ErrUnsafeEntry)
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	dir, base := split(rel)

	// Whiteouts remove what lower layers put there.
	if strings.HasPrefix(base, whiteoutPrefix) {
		pdir, err := u.resolveDir(dir)
		if err != nil {
			return err
		}
		switch {
		case base == opaqueMarker:
			return u.opaque(pdir)
		case strings.HasPrefix(base, whiteoutMeta):
			u.note("ignored whiteout meta entry %q", rel)
			return nil
		default:
			name := strings.TrimPrefix(base, whiteoutPrefix)
			if name == "" || name == "." || name == ".." {
				return fmt.Errorf("%w: bad whiteout %q", ErrUnsafeEntry, rel)
			}
			target := path.Join(pdir, name)
			if _, ok := u.layerNew[target]; ok {
				return nil // whiteouts only hide lower layers
			}
			return u.remove(target)
		}
	}

	pdir, err := u.resolveDir(dir)
	if err != nil {
		return err
	}
	target := path.Join(pdir, base)
	host := u.res.host(target)

	// Entries are created first and what is in the way is looked at only when the creation
	// says so (EEXIST): most entries are new, and this saves an lstat for each of them.
	delete(u.result.Records, target)
	delete(u.dirMeta, target)
	u.layerNew[target] = struct{}{}
	// replace removes what is in target's place (keeping a directory when keepDir).
	replace := func(keepDir bool) (kept bool, err error) {
		fi, err := os.Lstat(host)
		if err != nil {
			return false, fmt.Errorf("lstat: %w", err)
		}
		if keepDir && fi.IsDir() {
			return true, nil
		}
		if err := u.remove(target); err != nil {
			return false, err
		}
		u.layerNew[target] = struct{}{}
		return false, nil
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(host, 0o700); errors.Is(err, os.ErrExist) {
			kept, err := replace(true)
			if err != nil {
				return err
			}
			if !kept {
				if err := os.Mkdir(host, 0o700); err != nil {
					return fmt.Errorf("mkdir: %w", err)
				}
			}
		} else if err != nil {
			return fmt.Errorf("mkdir: %w", err)
		}
		u.dirs[rel] = target // a real directory now: later entries below it resolve it from the cache
		if err := u.owner(target, host, hdr); err != nil {
			return err
		}
		if err := u.xattrs(target, host, hdr); err != nil {
			return err
		}
		u.dirMeta[target] = hdr
		return nil
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		// regular sets the file's times itself, through its descriptor.
		return u.regular(target, host, hdr, r, replace)
	case tar.TypeSymlink:
		if hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return fmt.Errorf("%w: bad symlink target %q", ErrUnsafeEntry, hdr.Linkname)
		}
		// A symlink may point anywhere: it is only ever resolved inside the
		// root (by the guest's resolver and by this unpacker).
		err := os.Symlink(hdr.Linkname, host)
		if errors.Is(err, os.ErrExist) {
			if _, err = replace(false); err == nil {
				err = os.Symlink(hdr.Linkname, host)
			}
		}
		if err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		if err := u.owner(target, host, hdr); err != nil {
			return err
		}
		if err := u.xattrs(target, host, hdr); err != nil {
			return err
		}
	case tar.TypeLink:
		return u.hardlink(target, host, hdr, replace)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if _, err := os.Lstat(host); err == nil {
			if _, err := replace(false); err != nil {
				return err
			}
		}
		made, err := u.node(target, host, hdr)
		if err != nil || !made {
			return err
		}
	default:
		u.note("skipped %q: unsupported tar type %q", rel, string(hdr.Typeflag))
		delete(u.layerNew, target)
		return nil
	}
	if err := setTimes(host, hdr); err != nil {
		return fmt.Errorf("set mtime: %w", err)
	}
	return nil
}

// resolveDir resolves a directory an entry names, creating missing parents.
func (u *Unpacker) resolveDir(dir string) (string, error) {
	if p, ok := u.dirs[dir]; ok {
		return p, nil
	}
	var p string
	var err error
	if parent, base := split(dir); dir != "." && parent != dir {
		// The parent is usually cached (entries come in tree order): resolve only the last step.
		if p, err = u.resolveDir(parent); err == nil {
			p, err = u.res.resolveDirFrom(p, base, true, u.madeDir)
		}
	} else {
		p, err = u.res.resolveDir(dir, true, u.madeDir)
	}
	if err != nil {
		return "", err
	}
	u.dirs[dir] = p
	return p, nil
}

// lookupDir resolves an existing directory (a hard link's).
func (u *Unpacker) lookupDir(dir string) (string, error) {
	if p, ok := u.dirs[dir]; ok {
		return p, nil
	}
	return u.res.resolveDir(dir, false, nil)
}

// madeDir is called for parents created implicitly.
func (u *Unpacker) madeDir(p string) {
	u.layerNew[p] = struct{}{}
	// Parents missing from the layer get 0o755 (whatever the umask) at Finish.
	u.dirMeta[p] = &tar.Header{Mode: 0o755, ModTime: time.Now()}
}

// regular writes a regular file and sets its owner, mode, xattrs and times through its
// descriptor (no further path walks; a raw descriptor, as Go's poller cannot use regular files
// anyway and would cost several fcntl and epoll_ctl calls per file).
func (u *Unpacker) regular(target, host string, hdr *tar.Header, r io.Reader, replace func(bool) (bool, error)) error {
	if hdr.Size < 0 {
		return fmt.Errorf("%w: negative size", ErrUnsafeEntry)
	}
	if hdr.Size > u.opts.Limits.MaxBytes-u.result.Size {
		return fmt.Errorf("%w: file of %d bytes would exceed the %d byte limit for the image", ErrLimit, hdr.Size, u.opts.Limits.MaxBytes)
	}
	// A file is made with its final permissions when the umask leaves them alone (and there
	// are no set-ID bits, which chown would clear, and no xattrs, which need it writable): no
	// chmod then.
	mode := tarMode(hdr)
	perm := uint32(0o600)
	direct := mode&(os.ModeSetuid|os.ModeSetgid|os.ModeSticky) == 0 && uint32(mode.Perm())&u.umask == 0 && !hasXattrs(hdr)
	if direct {
		perm = uint32(mode.Perm())
	}
	fd, err := createFile(host, perm)
	if errors.Is(err, os.ErrExist) {
		if _, err = replace(false); err == nil {
			fd, err = createFile(host, perm)
		}
	}
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	f := rawFile{fd: fd, name: host}
	defer f.close()
	if hdr.Size > 0 {
		if u.buf == nil {
			u.buf = make([]byte, 256<<10)
		}
		n, err := io.CopyBuffer(f, io.LimitReader(r, hdr.Size), u.buf)
		u.result.Size += n
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if n != hdr.Size {
			return fmt.Errorf("write: short file data (%d of %d bytes)", n, hdr.Size)
		}
	}
	if u.opts.Rootless {
		if err := u.owner(target, host, hdr); err != nil {
			return err
		}
	} else if hdr.Uid != u.uid || hdr.Gid != u.gid || !u.ownGroup {
		if err := f.chown(hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("lchown: %w", err)
		}
	}
	// chmod after chown: chown clears set-id bits.
	if !direct {
		if err := f.chmod(mode); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if err := u.xattrs(target, host, hdr); err != nil {
		return err
	}
	if err := setFileTimes(fd, host, hdr); err != nil {
		return fmt.Errorf("set mtime: %w", err)
	}
	if err := f.close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

func (u *Unpacker) hardlink(target, host string, hdr *tar.Header, replace func(bool) (bool, error)) error {
	lrel, err := CleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	if lrel == "." {
		return fmt.Errorf("%w: hard link to the root", ErrUnsafeEntry)
	}
	ldir, lbase := split(lrel)
	lpdir, err := u.lookupDir(ldir)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	old := path.Join(lpdir, lbase)
	fi, err := os.Lstat(u.res.host(old))
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	if fi.IsDir() {
		return fmt.Errorf("%w: hard link to directory %q", ErrUnsafeEntry, hdr.Linkname)
	}
	err = linkNoFollow(u.res.host(old), host)
	if errors.Is(err, os.ErrExist) {
		if _, err = replace(false); err == nil {
			err = linkNoFollow(u.res.host(old), host)
		}
	}
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	if rec, ok := u.result.Records[old]; ok {
		c := *rec
		u.result.Records[target] = &c
	}
	return nil
}

func (u *Unpacker) node(target, host string, hdr *tar.Header) (bool, error) {
	kind := map[byte]string{tar.TypeChar: "char", tar.TypeBlock: "block", tar.TypeFifo: "fifo"}[hdr.Typeflag]
	skip := func(why string) {
		u.note("skipped %s %q (%d:%d): %s", kind, target, hdr.Devmajor, hdr.Devminor, why)
		rec := u.record(target)
		rec.Type, rec.Mode, rec.Major, rec.Minor, rec.UID, rec.GID = kind, hdr.Mode, hdr.Devmajor, hdr.Devminor, hdr.Uid, hdr.Gid
	}
	if u.opts.Rootless && hdr.Typeflag != tar.TypeFifo {
		skip("not running as root")
		return false, nil
	}
	if err := mknod(host, hdr); err != nil {
		if u.opts.Rootless || errors.Is(err, os.ErrPermission) {
			skip(err.Error())
			return false, nil
		}
		return false, fmt.Errorf("mknod: %w", err)
	}
	if err := u.owner(target, host, hdr); err != nil {
		return false, err
	}
	if err := os.Chmod(host, tarMode(hdr)); err != nil {
		return false, fmt.Errorf("chmod: %w", err)
	}
	return true, nil
}

func (u *Unpacker) owner(target, host string, hdr *tar.Header) error {
	if u.opts.Rootless {
		if hdr.Uid != 0 || hdr.Gid != 0 {
			rec := u.record(target)
			rec.UID, rec.GID = hdr.Uid, hdr.Gid
		}
		return nil
	}
	if err := os.Lchown(host, hdr.Uid, hdr.Gid); err != nil {
		return fmt.Errorf("lchown: %w", err)
	}
	return nil
}

func (u *Unpacker) xattrs(target, host string, hdr *tar.Header) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if u.opts.Rootless && !strings.HasPrefix(name, "user.") {
			rec := u.record(target)
			if rec.Xattrs == nil {
				rec.Xattrs = map[string]string{}
			}
			rec.Xattrs[name] = v
			continue
		}
		if err := lsetxattr(host, name, []byte(v)); err != nil {
			if isNotSupported(err) || (errors.Is(err, os.ErrPermission) && hdr.Typeflag == tar.TypeSymlink) {
				u.note("xattr %q on %q not supported by the host: %v", name, target, err)
				rec := u.record(target)
				if rec.Xattrs == nil {
					rec.Xattrs = map[string]string{}
				}
				rec.Xattrs[name] = v
				continue
			}
			return fmt.Errorf("set xattr %q: %w", name, err)
		}
	}
	return nil
}

func (u *Unpacker) record(target string) *Record {
	rec, ok := u.result.Records[target]
	if !ok {
		rec = &Record{}
		u.result.Records[target] = rec
	}
	return rec
}

// forget drops recorded and deferred metadata of target and everything under it.
func (u *Unpacker) forget(target string) {
	delete(u.result.Records, target)
	delete(u.dirMeta, target)
	prefix := target + "/"
	for p := range u.result.Records {
		if strings.HasPrefix(p, prefix) {
			delete(u.result.Records, p)
		}
	}
	for p := range u.dirMeta {
		if strings.HasPrefix(p, prefix) {
			delete(u.dirMeta, p)
		}
	}
}

// remove deletes target (never following a symlink in its place) and the
// metadata kept for it.
func (u *Unpacker) remove(target string) error {
	u.forget(target)
	clear(u.dirs)
	if err := RemoveAll(u.res.host(target)); err != nil {
		return fmt.Errorf("remove %q: %w", target, err)
	}
	return nil
}

// opaque removes everything below dir that lower layers put there, keeping
// what the current layer created.
func (u *Unpacker) opaque(dir string) error {
	entries, err := os.ReadDir(u.res.host(dir))
	if err != nil {
		return fmt.Errorf("opaque %q: %w", dir, err)
	}
	for _, e := range entries {
		child := path.Join(dir, e.Name())
		_, isNew := u.layerNew[child]
		realDir := e.IsDir() && e.Type()&os.ModeSymlink == 0
		if realDir && (isNew || u.hasNewBelow(child)) {
			if err := u.opaque(child); err != nil {
				return err
			}
			continue
		}
		if isNew {
			continue
		}
		if err := u.remove(child); err != nil {
			return err
		}
	}
	return nil
}

func (u *Unpacker) hasNewBelow(dir string) bool {
	prefix := dir + "/"
	for p := range u.layerNew {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

func hasXattrs(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			return true
		}
	}
	return false
}

func tarMode(hdr *tar.Header) os.FileMode {
	m := os.FileMode(hdr.Mode & 0o777)
	if hdr.Mode&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if hdr.Mode&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if hdr.Mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}
