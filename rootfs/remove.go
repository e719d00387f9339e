package rootfs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// RemoveAll removes path and everything below it, never following symlinks.
// Unlike os.RemoveAll it also removes trees holding directories without write
// permission (as an unprivileged unpack of an image may leave).
func RemoveAll(path string) error {
	err := os.RemoveAll(path)
	if err == nil {
		return nil
	}
	// Make every directory writable and searchable by its owner, then retry.
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, werr error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		if werr != nil && d != nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
			return nil
		}
		return nil
	})
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
