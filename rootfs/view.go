package rootfs

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

// NewContainerView gives one container a writable view of the read-only
// sysroot, built in dir (created if missing; it should be private to the
// container). It returns the path to use as the container's root and a
// cleanup function that tears the view down and removes what it made in dir.
//
// On Linux as root the view is an overlayfs mount (sysroot as the lower
// layer, dir/upper and dir/work for changes); otherwise, or when the mount
// fails, it is a copy of the sysroot in dir/rootfs (on macOS an APFS clone
// where possible). The choice is logged at Info level.
func NewContainerView(sysroot, dir string) (string, func() error, error) {
	src, err := filepath.Abs(sysroot)
	if err != nil {
		return "", nil, fmt.Errorf("container view: %w", err)
	}
	if fi, err := os.Stat(src); err != nil {
		return "", nil, fmt.Errorf("container view: sysroot: %w", err)
	} else if !fi.IsDir() {
		return "", nil, fmt.Errorf("container view: sysroot %s is not a directory", src)
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", nil, fmt.Errorf("container view: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("container view: %w", err)
	}
	if p, cleanup, ok := platformView(src, dir); ok {
		return p, cleanup, nil
	}
	dst := filepath.Join(dir, "rootfs")
	if _, err := os.Lstat(dst); err == nil {
		return "", nil, fmt.Errorf("container view: %s already exists", dst)
	}
	if err := CopyTree(src, dst); err != nil {
		_ = RemoveAll(dst)
		return "", nil, fmt.Errorf("container view: %w", err)
	}
	slog.Info("container view: copied sysroot", "sysroot", src, "path", dst)
	return dst, func() error { return RemoveAll(dst) }, nil
}

// RemoveContainerDir removes a container directory NewContainerView was given, after tearing
// down a view still set up there (an overlayfs mount left by a container that was killed).
func RemoveContainerDir(dir string) error {
	unmountView(dir)
	return RemoveAll(dir)
}
