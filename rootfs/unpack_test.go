package rootfs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/elfuse/elfuse/image/imagetest"
	"github.com/elfuse/elfuse/rootfs"
	"golang.org/x/sys/unix"
)

type E = imagetest.Entry

// unpack applies layers into a fresh root and returns it with the result.
func unpack(t *testing.T, root string, opts rootfs.Options, layers ...[]byte) (*rootfs.Result, error) {
	t.Helper()
	u, err := rootfs.NewUnpacker(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		if err := u.Apply(context.Background(), bytes.NewReader(l)); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return u.Finish()
}

func mustUnpack(t *testing.T, opts rootfs.Options, layers ...[]byte) (string, *rootfs.Result) {
	t.Helper()
	root := t.TempDir()
	res, err := unpack(t, root, opts, layers...)
	if err != nil {
		t.Fatalf("unpack: %v", err)
	}
	return root, res
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var tarOf = imagetest.Tar

func mustNotExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (err %v)", p, err)
	}
}

func TestUnpackEntryKinds(t *testing.T) {
	mt := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	layer := imagetest.Tar(t,
		E{Name: "./", Type: tar.TypeDir},
		E{Name: "etc/", Mode: 0o750, ModTime: mt, UID: 12, GID: 34},
		E{Name: "etc/passwd", Body: "root:x:0:0\n", Mode: 0o640, ModTime: mt, UID: 12, GID: 34, Xattrs: map[string]string{"user.test": "v"}},
		E{Name: "bin/busybox", Body: "ELF", Mode: 0o4755},
		E{Name: "bin/sh", Type: tar.TypeSymlink, Link: "/bin/busybox", ModTime: mt},
		E{Name: "bin/ls", Type: tar.TypeLink, Link: "bin/busybox"},
		E{Name: "run/fifo", Type: tar.TypeFifo, Mode: 0o600},
		E{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666, Major: 1, Minor: 3},
		E{Name: "ro/", Mode: 0o555},
		E{Name: "ro/file", Body: "x", Mode: 0o444},
	)
	root, res := mustUnpack(t, rootfs.Options{}, layer)
	if got := readFile(t, filepath.Join(root, "etc/passwd")); got != "root:x:0:0\n" {
		t.Errorf("passwd = %q", got)
	}
	fi, _ := os.Lstat(filepath.Join(root, "etc/passwd"))
	if fi.Mode().Perm() != 0o640 || !fi.ModTime().Equal(mt) {
		t.Errorf("passwd mode %v mtime %v", fi.Mode(), fi.ModTime())
	}
	di, _ := os.Lstat(filepath.Join(root, "etc"))
	if di.Mode().Perm() != 0o750 || !di.ModTime().Equal(mt) {
		t.Errorf("etc mode %v mtime %v", di.Mode(), di.ModTime())
	}
	if ri, _ := os.Lstat(filepath.Join(root, "ro")); ri.Mode().Perm() != 0o555 {
		t.Errorf("ro mode %v", ri.Mode())
	}
	bi, _ := os.Lstat(filepath.Join(root, "bin/busybox"))
	if bi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("busybox lost setuid: %v", bi.Mode())
	}
	if target, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || target != "/bin/busybox" {
		t.Errorf("bin/sh -> %q, %v", target, err)
	}
	if li, _ := os.Lstat(filepath.Join(root, "bin/sh")); !li.ModTime().Equal(mt) {
		t.Errorf("symlink mtime %v", li.ModTime())
	}
	ls, _ := os.Lstat(filepath.Join(root, "bin/ls"))
	if !os.SameFile(ls, bi) {
		t.Error("bin/ls is not a hard link of bin/busybox")
	}
	if fi, err := os.Lstat(filepath.Join(root, "run/fifo")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("fifo: %v %v", fi, err)
	}
	if os.Geteuid() == 0 {
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 12 || st.Gid != 34 {
			t.Errorf("passwd owner %d:%d, want 12:34", st.Uid, st.Gid)
		}
		if dfi, err := os.Lstat(filepath.Join(root, "dev/null")); err == nil {
			if dfi.Mode()&os.ModeCharDevice == 0 {
				t.Errorf("dev/null mode %v", dfi.Mode())
			}
		} else if len(res.Notes) == 0 {
			t.Errorf("dev/null neither created nor noted: %v", err)
		}
		buf := make([]byte, 16)
		if n, err := unix.Lgetxattr(filepath.Join(root, "etc/passwd"), "user.test", buf); err != nil || string(buf[:n]) != "v" {
			t.Logf("user xattr not applied (host fs may lack it): %v", err)
		}
	}
}

func TestUnpackRootlessRecordsOwnership(t *testing.T) {
	layer := imagetest.Tar(t,
		E{Name: "etc/shadow", Body: "s", Mode: 0o640, UID: 0, GID: 42},
		E{Name: "home/user/", UID: 1000, GID: 1000},
		E{Name: "dev/null", Type: tar.TypeChar, Mode: 0o666, Major: 1, Minor: 3},
		E{Name: "bin/ping", Body: "p", Mode: 0o755, Xattrs: map[string]string{"security.capability": "\x01\x00"}},
	)
	root, res := mustUnpack(t, rootfs.Options{Rootless: true}, layer)
	if !res.Rootless {
		t.Error("result not rootless")
	}
	if r := res.Records["etc/shadow"]; r == nil || r.GID != 42 {
		t.Errorf("shadow record %+v", r)
	}
	if r := res.Records["home/user"]; r == nil || r.UID != 1000 {
		t.Errorf("home/user record %+v", r)
	}
	if r := res.Records["dev/null"]; r == nil || r.Type != "char" || r.Major != 1 || r.Minor != 3 {
		t.Errorf("dev/null record %+v", r)
	}
	mustNotExist(t, filepath.Join(root, "dev/null"))
	if r := res.Records["bin/ping"]; r == nil || r.Xattrs["security.capability"] == "" {
		t.Errorf("ping record %+v", r)
	}
	if len(res.Notes) == 0 {
		t.Error("no note about the skipped device")
	}
}

func TestUnpackWhiteoutsOpaqueAndCrossLayerHardLink(t *testing.T) {
	l1 := imagetest.Tar(t,
		E{Name: "etc/"},
		E{Name: "etc/keep", Body: "keep"},
		E{Name: "etc/gone", Body: "gone"},
		E{Name: "etc/gonedir/"},
		E{Name: "etc/gonedir/f", Body: "f"},
		E{Name: "opt/"},
		E{Name: "opt/old1", Body: "1"},
		E{Name: "opt/sub/"},
		E{Name: "opt/sub/old2", Body: "2"},
		E{Name: "usr/bin/tool", Body: "tool binary", Mode: 0o755},
	)
	l2 := imagetest.Tar(t,
		E{Name: "etc/.wh.gone"},
		E{Name: "etc/.wh.gonedir"},
		E{Name: "opt/"},
		E{Name: "opt/.wh..wh..opq"},
		E{Name: "opt/new", Body: "new"},
	)
	l3 := imagetest.Tar(t,
		E{Name: "usr/bin/tool-alias", Type: tar.TypeLink, Link: "usr/bin/tool"},
		E{Name: "etc/gone", Body: "back"},
	)
	root, _ := mustUnpack(t, rootfs.Options{}, l1, l2, l3)
	if readFile(t, filepath.Join(root, "etc/keep")) != "keep" {
		t.Error("etc/keep lost")
	}
	mustNotExist(t, filepath.Join(root, "etc/gonedir"))
	mustNotExist(t, filepath.Join(root, "etc/.wh.gone"))
	if readFile(t, filepath.Join(root, "etc/gone")) != "back" {
		t.Error("etc/gone not recreated by layer 3")
	}
	mustNotExist(t, filepath.Join(root, "opt/old1"))
	mustNotExist(t, filepath.Join(root, "opt/sub"))
	mustNotExist(t, filepath.Join(root, "opt/.wh..wh..opq"))
	if readFile(t, filepath.Join(root, "opt/new")) != "new" {
		t.Error("opt/new missing")
	}
	a, _ := os.Lstat(filepath.Join(root, "usr/bin/tool"))
	b, err := os.Lstat(filepath.Join(root, "usr/bin/tool-alias"))
	if err != nil || !os.SameFile(a, b) {
		t.Errorf("cross-layer hard link: %v", err)
	}
}

func TestOpaqueKeepsSameLayerEntriesInAnyOrder(t *testing.T) {
	l1 := imagetest.Tar(t, E{Name: "d/old", Body: "o"}, E{Name: "d/sub/old", Body: "o"})
	l2 := imagetest.Tar(t,
		E{Name: "d/"},
		E{Name: "d/new", Body: "n"},
		E{Name: "d/sub/"},
		E{Name: "d/.wh..wh..opq"},
	)
	root, _ := mustUnpack(t, rootfs.Options{}, l1, l2)
	mustNotExist(t, filepath.Join(root, "d/old"))
	mustNotExist(t, filepath.Join(root, "d/sub/old"))
	if readFile(t, filepath.Join(root, "d/new")) != "n" {
		t.Error("d/new lost")
	}
	if fi, err := os.Stat(filepath.Join(root, "d/sub")); err != nil || !fi.IsDir() {
		t.Error("d/sub lost")
	}
}

func TestReplaceSymlinkDoesNotWriteThroughIt(t *testing.T) {
	sandbox := t.TempDir()
	outside := filepath.Join(sandbox, "outside")
	if err := os.WriteFile(outside, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(sandbox, "root")
	os.Mkdir(root, 0o755)
	l1 := imagetest.Tar(t, E{Name: "f", Type: tar.TypeSymlink, Link: outside}, E{Name: "d", Type: tar.TypeSymlink, Link: sandbox})
	l2 := imagetest.Tar(t, E{Name: "f", Body: "image"}, E{Name: "d/"}, E{Name: "d/x", Body: "x"})
	if _, err := unpack(t, root, rootfs.Options{}, l1, l2); err != nil {
		t.Fatal(err)
	}
	if readFile(t, outside) != "host" {
		t.Fatal("wrote through a symlink to outside")
	}
	if readFile(t, filepath.Join(root, "f")) != "image" || readFile(t, filepath.Join(root, "d/x")) != "x" {
		t.Error("replacement entries missing")
	}
}

func TestWriteThroughInRootSymlink(t *testing.T) {
	l1 := imagetest.Tar(t, E{Name: "usr/lib/"}, E{Name: "lib", Type: tar.TypeSymlink, Link: "usr/lib"})
	l2 := imagetest.Tar(t, E{Name: "lib/libc.so", Body: "libc"})
	root, _ := mustUnpack(t, rootfs.Options{}, l1, l2)
	if readFile(t, filepath.Join(root, "usr/lib/libc.so")) != "libc" {
		t.Error("write through an in-root relative symlink did not land in its target")
	}
}

func TestLimits(t *testing.T) {
	t.Run("sparse", func(t *testing.T) {
		_, err := unpack(t, t.TempDir(), rootfs.Options{Limits: rootfs.Limits{MaxBytes: 1 << 30}}, imagetest.SparseTar("huge", 1<<40))
		if !errors.Is(err, rootfs.ErrLimit) {
			t.Fatalf("sparse 1 TiB file: err = %v, want ErrLimit", err)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		big := string(make([]byte, 4096))
		_, err := unpack(t, t.TempDir(), rootfs.Options{Limits: rootfs.Limits{MaxBytes: 6000}},
			imagetest.Tar(t, E{Name: "a", Body: big}), imagetest.Tar(t, E{Name: "b", Body: big}))
		if !errors.Is(err, rootfs.ErrLimit) {
			t.Fatalf("err = %v, want ErrLimit", err)
		}
	})
	t.Run("entries", func(t *testing.T) {
		var es []E
		for i := 0; i < 20; i++ {
			es = append(es, E{Name: "f" + string(rune('a'+i)), Body: "x"})
		}
		_, err := unpack(t, t.TempDir(), rootfs.Options{Limits: rootfs.Limits{MaxEntries: 10}}, imagetest.Tar(t, es...))
		if !errors.Is(err, rootfs.ErrLimit) {
			t.Fatalf("err = %v, want ErrLimit", err)
		}
	})
}

// snapshot records every path under dir except those under skip, with
// what would show a write: type, size, mode, mtime, link count.
func snapshot(t *testing.T, dir, skip string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		out[p] = fmt.Sprintf("%v %v %d %d", fi.Mode(), fi.ModTime(), fi.Size(), st.Nlink)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUnpackModesUnderUmask: files get their tar modes whatever the umask (those the umask would
// change are chmod-ed), ownership as root, and entries replaced across layers (file by
// directory, directory by file, symlink by file) end up as the upper layer says.
func TestUnpackModesUnderUmask(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	modes := map[string]int64{"a": 0o666, "b": 0o755, "c": 0o444, "d": 0o100, "e": 0o2755, "f": 0o640, "g": 0o777}
	var ents []E
	for n, m := range modes {
		ents = append(ents, E{Name: "m/" + n, Body: n, Mode: m, UID: 7, GID: 8})
	}
	ents = append(ents, E{Name: "x", Body: "file"}, E{Name: "y/", Mode: 0o755}, E{Name: "y/z", Body: "z"},
		E{Name: "s", Type: tar.TypeSymlink, Link: "x"})
	lower := tarOf(t, ents...)
	upper := tarOf(t, E{Name: "x/", Mode: 0o711}, E{Name: "x/in", Body: "in", Mode: 0o600}, E{Name: "y", Body: "now a file", Mode: 0o644},
		E{Name: "s", Body: "not a link", Mode: 0o600})
	root, _ := mustUnpack(t, rootfs.Options{}, lower, upper)
	for n, m := range modes {
		fi, err := os.Lstat(filepath.Join(root, "m", n))
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(m & 0o777)
		if m&0o2000 != 0 {
			want |= os.ModeSetgid
		}
		if got := fi.Mode() & (os.ModePerm | os.ModeSetgid); got != want {
			t.Errorf("m/%s: mode %v, want %v", n, got, want)
		}
		if os.Geteuid() == 0 {
			if st := fi.Sys().(*syscall.Stat_t); st.Uid != 7 || st.Gid != 8 {
				t.Errorf("m/%s: owner %d:%d, want 7:8", n, st.Uid, st.Gid)
			}
		}
	}
	if fi, err := os.Lstat(filepath.Join(root, "x")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o711 {
		t.Errorf("x: %v %v, want a directory 0711", fi, err)
	}
	if readFile(t, filepath.Join(root, "x/in")) != "in" || readFile(t, filepath.Join(root, "y")) != "now a file" {
		t.Error("replaced entries have the wrong content")
	}
	if fi, err := os.Lstat(filepath.Join(root, "s")); err != nil || !fi.Mode().IsRegular() || readFile(t, filepath.Join(root, "s")) != "not a link" {
		t.Errorf("s: %v %v, want a regular file", fi, err)
	}
	if readFile(t, filepath.Join(root, "x/in")) != "in" {
		t.Error("x/in")
	}
}
