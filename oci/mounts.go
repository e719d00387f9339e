package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Mount is one bind of a host file or directory into the container's
// confined root, as the sandbox takes it, or one of elfuse's synthetic
// file systems (Synthetic "proc" or "sysfs"), or with neither Source nor
// Synthetic, a read-only view of what is at Dest (linux.readonlyPaths).
type Mount struct {
	Dest      string `json:"dest"`
	Source    string `json:"source,omitempty"`
	Synthetic string `json:"synthetic,omitempty"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	// Options are the spec's options that the sandbox records but does not
	// apply yet (nosuid, nodev, noexec).
	Options []string `json:"options,omitempty"`
	// Type and FSSource are the spec's type and source, which the guest's
	// mount table shows.
	Type     string `json:"type,omitempty"`
	FSSource string `json:"fsSource,omitempty"`
	Root     string `json:"root,omitempty"`
}

// mountKinds are the spec's mount types and what each becomes: a bind of
// a host path, or a private directory of the container.
var mountKinds = map[string]string{
	"bind":   "bind",
	"rbind":  "bind",
	"tmpfs":  "private",
	"proc":   "elfuse's synthetic /proc",
	"sysfs":  "elfuse's synthetic /sys",
	"devpts": "host /dev/pts",
	"mqueue": "private",
	"cgroup": "private (empty, read-only)",
	"shm":    "private",
}

// mountKind classifies a spec mount; an unknown type is an error.
func mountKind(m specs.Mount) (string, error) {
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return "bind", nil
		}
	}
	t := m.Type
	switch t {
	case "", "none":
		return "", fmt.Errorf("mount type %q without a bind option is not supported", t)
	case "cgroup2":
		t = "cgroup"
	}
	if _, ok := mountKinds[t]; !ok {
		return "", fmt.Errorf("mount type %q is not supported by elfuse (supported: bind, rbind, tmpfs, proc, sysfs, devpts, mqueue, cgroup)", m.Type)
	}
	return t, nil
}

// devFiles are the host device files a /dev tmpfs gets, as runc creates
// its default devices.
var devFiles = []string{"null", "zero", "full", "random", "urandom", "tty"}

// mountPlan turns the spec's mounts into the sandbox's binds, making the
// private directories under dir (the container's state directory) and
// the mount points inside the root filesystem as runc does.
type mountPlan struct {
	rootfs  string
	dir     string
	log     *slog.Logger
	mounts  []Mount
	private map[string]bool // host directories owned by the container
	n       int
}

// planMounts maps spec mounts for a container. console is the host path
// of the console's slave pty, or "".
func planMounts(spec *specs.Spec, bundle, rootfs, dir, console string, log *slog.Logger) (*mountPlan, error) {
	p := &mountPlan{rootfs: rootfs, dir: dir, log: log, private: map[string]bool{}}
	devTmpfs := false
	for i, m := range spec.Mounts {
		kind, err := mountKind(m)
		if err != nil {
			return nil, fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
		}
		ro, opts := mountFlags(m.Options)
		first := len(p.mounts)
		switch kind {
		case "bind":
			src := m.Source
			if !filepath.IsAbs(src) {
				src = filepath.Join(bundle, src)
			}
			st, err := os.Stat(src)
			if err != nil {
				return nil, fmt.Errorf("mounts[%d] (%s): bind source: %w", i, m.Destination, err)
			}
			if err := p.add(m.Destination, src, st.IsDir(), ro, opts); err != nil {
				return nil, fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
			}
		case "tmpfs", "mqueue", "shm", "cgroup":
			mode := fs.FileMode(0o1777)
			if kind == "cgroup" {
				mode, ro = 0o555, true
			}
			if kind == "mqueue" {
				mode = 0o1777
			}
			src, err := p.privateDir(m.Destination, m.Options, mode)
			if err != nil {
				return nil, fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
			}
			if err := p.add(m.Destination, src, true, ro, opts); err != nil {
				return nil, fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
			}
			if path.Clean(m.Destination) == "/dev" && kind == "tmpfs" {
				devTmpfs = true
				if err := p.populateDev(src); err != nil {
					return nil, fmt.Errorf("mounts[%d] (/dev): %w", i, err)
				}
			}
		case "proc", "sysfs":
			if err := p.addSynthetic(m.Destination, kind, ro, opts); err != nil {
				return nil, fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
			}
		case "devpts":
			if err := p.add(m.Destination, "/dev/pts", true, ro, opts); err != nil {
				return nil, fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
			}
		}
		// The guest's mount table shows the spec's type and source.
		pm := &p.mounts[first]
		pm.Type, pm.FSSource = m.Type, m.Source
		if pm.Type == "" {
			pm.Type = kind
		}
		if kind == "bind" {
			pm.Root = pm.Source
		}
	}
	if spec.Linux != nil {
		for _, d := range spec.Linux.Devices {
			if err := p.device(d); err != nil {
				return nil, err
			}
		}
		for _, m := range spec.Linux.MaskedPaths {
			if err := p.mask(m); err != nil {
				return nil, fmt.Errorf("linux.maskedPaths %s: %w", m, err)
			}
		}
		for _, r := range spec.Linux.ReadonlyPaths {
			g, err := p.resolve(r, false, false)
			if err != nil {
				return nil, fmt.Errorf("linux.readonlyPaths %s: %w", r, err)
			}
			p.mounts = append(p.mounts, Mount{Dest: g, ReadOnly: true})
		}
	}
	if console != "" && (devTmpfs || p.covered("/dev/console")) {
		if err := p.add("/dev/console", console, false, false, nil); err != nil {
			return nil, fmt.Errorf("/dev/console: %w", err)
		}
	}
	return p, nil
}

// mountFlags splits out ro and the options the sandbox records.
func mountFlags(options []string) (ro bool, recorded []string) {
	for _, o := range options {
		switch o {
		case "ro":
			ro = true
		case "rw":
			ro = false
		case "nosuid", "nodev", "noexec":
			recorded = append(recorded, o)
		}
	}
	return ro, recorded
}

// privateDir makes a fresh directory for a tmpfs-like mount, with the
// mode, uid and gid of its options.
func (p *mountPlan) privateDir(dest string, options []string, mode fs.FileMode) (string, error) {
	p.n++
	name := strings.Trim(strings.ReplaceAll(path.Clean(dest), "/", "-"), "-")
	if name == "" {
		name = "root"
	}
	dir := filepath.Join(p.dir, "mnt", fmt.Sprintf("%d-%s", p.n, name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("private directory: %w", err)
	}
	uid, gid := -1, -1
	for _, o := range options {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(v, 8, 32)
		switch k {
		case "mode":
			if err != nil {
				return "", fmt.Errorf("option %s: %w", o, err)
			}
			mode = fs.FileMode(n & 0o777)
			if n&0o1000 != 0 {
				mode |= fs.ModeSticky
			}
		case "uid", "gid":
			id, err := strconv.Atoi(v)
			if err != nil {
				return "", fmt.Errorf("option %s: %w", o, err)
			}
			if k == "uid" {
				uid = id
			} else {
				gid = id
			}
		}
	}
	if err := os.Chmod(dir, mode); err != nil {
		return "", fmt.Errorf("private directory: %w", err)
	}
	if uid >= 0 || gid >= 0 {
		if err := os.Lchown(dir, uid, gid); err != nil {
			return "", fmt.Errorf("private directory: %w", err)
		}
	}
	p.private[dir] = true
	return dir, nil
}

// populateDev gives a private /dev the default devices (binds of the
// host's) and the usual links.
func (p *mountPlan) populateDev(dir string) error {
	for _, name := range devFiles {
		src := "/dev/" + name
		if _, err := os.Stat(src); err != nil {
			p.log.Warn("host device missing; not in the container", "device", src)
			continue
		}
		if err := p.add("/dev/"+name, src, false, false, nil); err != nil {
			return err
		}
	}
	links := [][2]string{{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
		{"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"}}
	for _, l := range links {
		if err := os.Symlink(l[1], filepath.Join(dir, l[0])); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("link /dev/%s: %w", l[0], err)
		}
	}
	return nil
}

// device binds a linux.devices entry from the host when the host has the
// same device at the same path.
func (p *mountPlan) device(d specs.LinuxDevice) error {
	for _, m := range p.mounts {
		if m.Dest == path.Clean(d.Path) {
			return nil // a default device already there
		}
	}
	if hostDeviceMatches(d) {
		if err := p.add(d.Path, d.Path, false, false, nil); err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
		return nil
	}
	p.log.Warn("device not on the host with the same numbers; not in the container", "device", d.Path)
	return nil
}

// covered reports whether the guest path is inside a private directory
// mount, where a mount point can be made.
func (p *mountPlan) covered(guest string) bool {
	_, src, _ := p.mountAt(guest)
	return src != "" && p.private[src]
}

// mountAt finds the latest mount covering guest path g: its destination,
// source and the rest of g below it.
func (p *mountPlan) mountAt(g string) (dest, src, rest string) {
	best := -1
	for i, m := range p.mounts {
		if m.Source == "" && m.Synthetic == "" {
			continue // a read-only view, no mount
		}
		if m.Dest == g || strings.HasPrefix(g, m.Dest+"/") {
			if best < 0 || len(m.Dest) >= len(p.mounts[best].Dest) {
				best = i
			}
		}
	}
	if best < 0 {
		return "", "", ""
	}
	m := p.mounts[best]
	return m.Dest, m.Source, strings.TrimPrefix(strings.TrimPrefix(g, m.Dest), "/")
}

// add records a bind at dest, canonicalising dest through the root's
// symbolic links and making its mount point where the container owns
// the directory.
func (p *mountPlan) add(dest, src string, dir, ro bool, opts []string) error {
	g, err := p.resolve(dest, true, dir)
	if err != nil {
		return err
	}
	if g == "/" {
		return errors.New("a mount over the container's root is not supported")
	}
	p.mounts = append(p.mounts, Mount{Dest: g, Source: src, ReadOnly: ro, Options: opts})
	return nil
}

// addSynthetic serves elfuse's synthetic file system kind ("proc",
// "sysfs") at dest.
func (p *mountPlan) addSynthetic(dest, kind string, ro bool, opts []string) error {
	g, err := p.resolve(dest, true, true)
	if err != nil {
		return err
	}
	if g == "/" {
		return errors.New("a mount over the container's root is not supported")
	}
	p.mounts = append(p.mounts, Mount{Dest: g, Synthetic: kind, ReadOnly: ro, Options: opts})
	return nil
}

// mask hides the guest path g as runc does (linux.maskedPaths): a
// directory by an empty read-only one, a file by /dev/null. A path that
// does not exist, or lies in a synthetic file system or a host bind, is
// left alone (elfuse's /proc and /sys have nothing to mask).
func (p *mountPlan) mask(name string) error {
	g, err := p.resolve(name, false, false)
	if err != nil {
		return err
	}
	host, _ := p.hostOf(g)
	if host == "" {
		return nil
	}
	st, err := os.Lstat(host)
	if err != nil {
		return nil
	}
	if st.IsDir() {
		src, err := p.privateDir(g, nil, 0o555)
		if err != nil {
			return err
		}
		p.mounts = append(p.mounts, Mount{Dest: g, Source: src, ReadOnly: true, Type: "tmpfs", FSSource: "tmpfs"})
		return nil
	}
	p.mounts = append(p.mounts, Mount{Dest: g, Source: "/dev/null", ReadOnly: true, Type: "devtmpfs", FSSource: "udev"})
	return nil
}

// resolve resolves guest path dest in the container's view (the root
// filesystem and the mounts so far), following symbolic links inside the
// root as the guest would, and with create makes the missing components
// (directories, and a file at the end when !dir) where the container owns
// them. It returns the canonical guest path.
func (p *mountPlan) resolve(dest string, create, dir bool) (string, error) {
	todo := splitGuest(dest)
	guest := "/"
	links := 0
	for len(todo) > 0 {
		comp := todo[0]
		todo = todo[1:]
		switch comp {
		case ".":
			continue
		case "..":
			guest = path.Dir(guest)
			continue
		}
		next := path.Join(guest, comp)
		host, owned := p.hostOf(next)
		if host == "" {
			// Inside a host bind: taken as it is.
			guest = next
			continue
		}
		st, err := os.Lstat(host)
		switch {
		case err == nil && st.Mode()&fs.ModeSymlink != 0 && !p.isMountPoint(next):
			target, err := os.Readlink(host)
			if err != nil {
				return "", err
			}
			if links++; links > 40 {
				return "", fmt.Errorf("%s: too many levels of symbolic links", dest)
			}
			if path.IsAbs(target) {
				guest = "/"
			}
			todo = append(splitGuest(target), todo...)
			continue
		case err == nil:
			guest = next
			continue
		case !errors.Is(err, fs.ErrNotExist):
			return "", err
		}
		guest = next
		if !owned || !create {
			continue
		}
		if len(todo) == 0 && !dir {
			f, err := os.OpenFile(host, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return "", fmt.Errorf("mount point %s: %w", guest, err)
			}
			f.Close()
		} else if err := os.Mkdir(host, 0o755); err != nil {
			return "", fmt.Errorf("mount point %s: %w", guest, err)
		}
	}
	return guest, nil
}

// readFile reads guest file name (following links inside the root);
// under a host bind it reads the host's file.
func (p *mountPlan) readFile(name string) ([]byte, error) {
	g, err := p.resolve(name, false, false)
	if err != nil {
		return nil, err
	}
	host, _ := p.hostOf(g)
	if host == "" {
		_, src, rest := p.mountAt(g)
		host = filepath.Join(src, rest)
	}
	return os.ReadFile(host)
}

// isMountPoint reports whether guest path g is exactly a mount's
// destination (a mount there hides what the root has).
func (p *mountPlan) isMountPoint(g string) bool {
	for _, m := range p.mounts {
		if m.Dest == g {
			return true
		}
	}
	return false
}

// hostOf is the host path behind guest path g, and whether the container
// owns it (the root filesystem or a private directory). Under a host
// bind it is "".
func (p *mountPlan) hostOf(g string) (string, bool) {
	dest, src, rest := p.mountAt(g)
	if dest == "" {
		return filepath.Join(p.rootfs, g), true
	}
	if !p.private[src] {
		if rest == "" {
			return src, false
		}
		return "", false
	}
	return filepath.Join(src, rest), true
}

func splitGuest(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
