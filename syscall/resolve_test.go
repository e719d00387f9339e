//go:build linux && amd64

package syscall

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// confinedTree makes a root with links that try to leave it, and a host
// directory outside it to mount in.
func confinedTree(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "outside")
	for _, d := range []string{root + "/etc", root + "/usr/lib", root + "/tmp/deep", outside + "/sub"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		root + "/etc/passwd":        "inside",
		base + "/secret":            "outside the root",
		outside + "/sub/file":       "mounted",
		root + "/usr/lib/libc.so.6": "libc",
	}
	for p, s := range files {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		root + "/abs-escape":   "/../../../secret",
		root + "/rel-escape":   "../../../../secret",
		root + "/lib":          "usr/lib",
		root + "/tmp/deep/up":  "../../etc",
		root + "/loop":         "loop",
		root + "/to-passwd":    "/etc/passwd",
		root + "/dangling":     "/nowhere/file",
		root + "/to-mount":     "/mnt/sub",
		root + "/tmp/absolute": "/etc",
	}
	for p, target := range links {
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

func readVia(t *testing.T, r *Resolver, cwd, p string, follow bool) (string, error) {
	t.Helper()
	var keep []int
	defer func() { closeAll(keep) }()
	l, err := r.Lookup(nil, cwd, p, follow, &keep)
	if err != nil {
		return "", err
	}
	name := l.name
	fd, err := unix.Openat(l.dir, name, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return "", err
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	b := make([]byte, 100)
	n, _ := f.Read(b)
	return string(b[:n]), nil
}

func TestConfinedResolver(t *testing.T) {
	root, outside := confinedTree(t)
	r, err := NewConfinedResolver(root, []Mount{{Dest: "/mnt", Source: outside}, {Dest: "/etc/hostname", Source: outside + "/sub/file"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cases := []struct {
		cwd, path string
		want      string
		err       error
	}{
		{"/", "/etc/passwd", "inside", nil},
		{"/", "/../../../etc/passwd", "inside", nil},
		{"/", "/abs-escape", "", unix.ENOENT},
		{"/", "/rel-escape", "", unix.ENOENT},
		{"/", "/lib/libc.so.6", "libc", nil},
		{"/", "/tmp/deep/up/passwd", "inside", nil},
		{"/tmp/deep", "up/passwd", "inside", nil},
		{"/tmp/deep", "../../../../etc/passwd", "inside", nil},
		{"/", "/tmp/absolute/passwd", "inside", nil},
		{"/", "/to-passwd", "inside", nil},
		{"/", "/loop", "", unix.ELOOP},
		{"/", "/mnt/sub/file", "mounted", nil},
		{"/", "/to-mount/file", "mounted", nil},
		{"/", "/mnt/../etc/passwd", "inside", nil},
		{"/", "/mnt/sub/../../etc/passwd", "inside", nil},
		{"/", "/etc/hostname", "mounted", nil},
		{"/", "/etc/passwd/x", "", unix.ENOTDIR},
	}
	for _, c := range cases {
		got, err := readVia(t, r, c.cwd, c.path, true)
		if !errors.Is(err, c.err) && !(c.err == nil && err == nil) {
			t.Errorf("%s from %s: error %v, want %v", c.path, c.cwd, err, c.err)
			continue
		}
		if got != c.want {
			t.Errorf("%s from %s: read %q, want %q", c.path, c.cwd, got, c.want)
		}
	}
	// Not following: the last link itself.
	var keep []int
	l, err := r.Lookup(nil, "/", "/to-passwd", false, &keep)
	if err != nil {
		t.Fatal(err)
	}
	if target, err := readlinkat(l.dir, l.name); err != nil || target != "/etc/passwd" || l.guest != "/to-passwd" {
		t.Errorf("lstat-style lookup: %q %v (guest %s)", target, err, l.guest)
	}
	closeAll(keep)
	// A name to create at the end of a dangling link lands in the root.
	keep = nil
	_, err = r.Lookup(nil, "/", "/dangling", true, &keep)
	if err == nil {
		err = errors.New("no error")
	}
	closeAll(keep)
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("dangling link to a missing directory: %v", err)
	}
	// Canonical guest paths for the working directory.
	cwd, err := r.Chdir(nil, "/", "/lib/../../tmp/deep/up")
	if err != nil || cwd != "/etc" {
		t.Errorf("chdir: %q %v, want /etc", cwd, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(root), "secret")); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnlyMounts(t *testing.T) {
	root, outside := confinedTree(t)
	r, err := newConfined(root, true, []Mount{{Dest: "/mnt", Source: outside}, {Dest: "/mnt/sub", Source: outside + "/sub", ReadOnly: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for guest, want := range map[string]bool{
		"/etc/passwd": true, "/": true, "/mnt": false, "/mnt/x": false, "/mnt/sub": true,
		"/mnt/sub/file": true, "/mnt/subway": false,
	} {
		if got := r.ReadOnly(guest); got != want {
			t.Errorf("ReadOnly(%s) = %v, want %v", guest, got, want)
		}
	}
	if NewResolver("").ReadOnly("/etc") {
		t.Error("a sysroot resolver has no read-only mounts")
	}
}

// TestSysrootAlias: the /dev names of the caller's own descriptors become
// /proc/self/fd ones however they are spelled; other paths pass unchanged.
func TestSysrootAlias(t *testing.T) {
	for in, want := range map[string]string{
		"/dev/stdin":         "/proc/self/fd/0",
		"/dev//stdout":       "/proc/self/fd/1",
		"/x/../dev/stderr":   "/proc/self/fd/2",
		"/dev/fd/3":          "/proc/self/fd/3",
		"/dev/fd/":           "/proc/self/fd/",
		"/dev/null":          "/dev/null",
		"/usr/lib/x.so":      "/usr/lib/x.so",
		"/developer/../home": "/developer/../home",
	} {
		if got := sysrootAlias(in); got != want {
			t.Errorf("sysrootAlias(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUnder: a path is under a directory when it is the directory or below
// it, not when it only shares a prefix of its name; "/" is only itself.
func TestUnder(t *testing.T) {
	for _, c := range []struct {
		p, dir string
		want   bool
	}{
		{"/proc", "/proc", true}, {"/proc/self", "/proc", true}, {"/procfs", "/proc", false},
		{"/pro", "/proc", false}, {"/", "/", true}, {"/etc", "/", false},
	} {
		if got := under(c.p, c.dir); got != c.want {
			t.Errorf("under(%q, %q) = %v", c.p, c.dir, got)
		}
	}
}
