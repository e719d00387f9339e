//go:build linux

package rootfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// platformView mounts an overlayfs view when running as root.
func platformView(src, dir string) (string, func() error, bool) {
	if os.Geteuid() != 0 {
		slog.Info("container view: not root, using a copy instead of overlayfs", "sysroot", src)
		return "", nil, false
	}
	if strings.ContainsAny(src+dir, ",:\\") {
		slog.Info("container view: path unsuitable for overlayfs options, using a copy", "sysroot", src, "dir", dir)
		return "", nil, false
	}
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			slog.Info("container view: cannot prepare overlayfs, using a copy", "err", err)
			removeDirs(upper, work, merged)
			return "", nil, false
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", src, upper, work)
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		slog.Info("container view: overlayfs mount failed, using a copy", "err", err)
		removeDirs(upper, work, merged)
		return "", nil, false
	}
	slog.Info("container view: overlayfs", "sysroot", src, "path", merged)
	cleanup := func() error {
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", merged, err)
		}
		var errs []error
		for _, d := range []string{merged, work, upper} {
			if err := RemoveAll(d); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	return merged, cleanup, true
}

func removeDirs(dirs ...string) {
	for _, d := range dirs {
		_ = RemoveAll(d)
	}
}

// unmountView detaches an overlayfs view left mounted in dir, if any.
func unmountView(dir string) {
	_ = unix.Unmount(filepath.Join(dir, "merged"), unix.MNT_DETACH)
}
