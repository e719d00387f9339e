package rootfs_test

import (
	"archive/tar"
	"os"
	"path/filepath"
	"testing"

	"github.com/elfuse/elfuse/rootfs"
)

func checkView(t *testing.T, sysroot, view string) {
	t.Helper()
	if readFile(t, filepath.Join(view, "etc/motd")) != "hi" {
		t.Error("view lacks etc/motd")
	}
	a, _ := os.Lstat(filepath.Join(view, "bin/a"))
	b, _ := os.Lstat(filepath.Join(view, "bin/b"))
	if !os.SameFile(a, b) {
		t.Error("hard link not kept in the view")
	}
	if l, _ := os.Readlink(filepath.Join(view, "bin/sh")); l != "a" {
		t.Errorf("symlink %q", l)
	}
	if err := os.WriteFile(filepath.Join(view, "etc/motd"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(sysroot, "etc/motd")) != "hi" {
		t.Error("writing the view changed the sysroot")
	}
}

func TestContainerView(t *testing.T) {
	sysroot, _ := mustUnpack(t, rootfs.Options{}, tarOf(t,
		E{Name: "etc/motd", Body: "hi"}, E{Name: "bin/a", Body: "a", Mode: 0o755},
		E{Name: "bin/b", Type: tar.TypeLink, Link: "bin/a"}, E{Name: "bin/sh", Type: tar.TypeSymlink, Link: "a"}))
	dir := t.TempDir()
	view, cleanup, err := rootfs.NewContainerView(sysroot, dir)
	if err != nil {
		t.Fatal(err)
	}
	checkView(t, sysroot, view)
	if err := cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(view, "etc")); err == nil {
		t.Error("view left behind after cleanup")
	}
}

func TestCopyTree(t *testing.T) {
	sysroot, _ := mustUnpack(t, rootfs.Options{}, tarOf(t,
		E{Name: "etc/motd", Body: "hi"}, E{Name: "bin/a", Body: "a", Mode: 0o755}, E{Name: "ro/", Mode: 0o555},
		E{Name: "bin/b", Type: tar.TypeLink, Link: "bin/a"}, E{Name: "bin/sh", Type: tar.TypeSymlink, Link: "a"}))
	dst := filepath.Join(t.TempDir(), "copy")
	if err := rootfs.CopyTree(sysroot, dst); err != nil {
		t.Fatal(err)
	}
	checkView(t, sysroot, dst)
	if fi, _ := os.Stat(filepath.Join(dst, "ro")); fi.Mode().Perm() != 0o555 {
		t.Errorf("ro mode %v", fi.Mode())
	}
	if err := rootfs.RemoveAll(dst); err != nil {
		t.Fatal(err)
	}
}
