//go:build !darwin

package rootfs

import (
	"fmt"
	"os"
)

// CreateSysroot provisions the sysroot at path for the seed CLI's --create-sysroot. Linux file
// systems are case-sensitive: a directory does.
func CreateSysroot(path string) error {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return fmt.Errorf("create sysroot: %w", err)
	}
	return nil
}
