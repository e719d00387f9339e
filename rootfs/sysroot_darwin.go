//go:build darwin

package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// CreateSysroot provisions the sysroot at path for the seed CLI's --create-sysroot: a
// case-sensitive APFS sparse bundle (path.sparsebundle, beside it), made on first use and
// attached at path. A volume already attached there is used as it is. The volume stays attached
// after the run (so it can be filled and used again with --sysroot); `hdiutil detach PATH`
// unmounts it.
func CreateSysroot(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("create sysroot: %w", err)
	}
	_, err = ensureSparseBundle(darwinHost{}, SparseBundleFor(abs))
	return err
}

// EnsureVolume attaches the sparse bundle b (making it first if missing) unless a volume is
// mounted at its mount point already. The image store keeps its sysroots on such a volume.
func EnsureVolume(b SparseBundle) error {
	_, err := ensureSparseBundle(darwinHost{}, b)
	return err
}

type darwinHost struct{}

func (darwinHost) exists(p string) (bool, error) {
	_, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// mountedAt compares the mount-on name of path's file system with path itself.
func (darwinHost) mountedAt(p string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return false, &os.PathError{Op: "statfs", Path: p, Err: err}
	}
	on := unix.ByteSliceToString(st.Mntonname[:])
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false, err
	}
	return on == real || on == p, nil
}

func (darwinHost) mkdirAll(p string) error { return os.MkdirAll(p, 0o755) }

func (darwinHost) run(argv []string) error {
	var out bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv[:2], " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
