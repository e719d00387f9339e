package rootfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
)

// A sysroot on macOS lives on a case-sensitive APFS volume kept in a sparse bundle image (the
// host's own volume is case-insensitive by default, and Linux trees hold names that differ only
// in case). The image is made with hdiutil and attached at the sysroot's path. This file builds
// the hdiutil command lines and decides what to run; sysroot_darwin.go runs them. Both are
// plain data here so that tests on any host check the exact argument vectors.

// DefaultSparseBundleSize is the largest size a sysroot volume may grow to. A sparse bundle takes
// only the space its data uses; the size is its ceiling.
const DefaultSparseBundleSize = "64g"

// SparseBundle is a case-sensitive APFS sparse bundle image and its mount point.
type SparseBundle struct {
	// Image is the bundle's path; it ends in ".sparsebundle" (hdiutil adds the suffix
	// otherwise).
	Image string
	// MountPoint is where the volume is attached.
	MountPoint string
	// Size is the volume's maximum size in hdiutil's notation (64g); "" means
	// DefaultSparseBundleSize.
	Size string
	// VolumeName is the APFS volume name; "" means the mount point's base name.
	VolumeName string
}

// SparseBundleFor is the bundle that backs a sysroot mounted at mountPoint: the image sits
// beside it, named after it (/x/sysroot is backed by /x/sysroot.sparsebundle).
func SparseBundleFor(mountPoint string) SparseBundle {
	mp := filepath.Clean(mountPoint)
	return SparseBundle{Image: mp + ".sparsebundle", MountPoint: mp}
}

func (b SparseBundle) size() string {
	if b.Size != "" {
		return b.Size
	}
	return DefaultSparseBundleSize
}

func (b SparseBundle) volumeName() string {
	if b.VolumeName != "" {
		return b.VolumeName
	}
	if n := filepath.Base(b.MountPoint); n != "/" && n != "." {
		return n
	}
	return "elfuse-sysroot"
}

// CreateArgs is the hdiutil command that makes the (empty) image.
func (b SparseBundle) CreateArgs() []string {
	return []string{"hdiutil", "create", "-type", "SPARSEBUNDLE", "-fs", "Case-sensitive APFS",
		"-size", b.size(), "-volname", b.volumeName(), b.Image}
}

// AttachArgs is the hdiutil command that mounts the image at MountPoint, without showing it in
// the Finder.
func (b SparseBundle) AttachArgs() []string {
	return []string{"hdiutil", "attach", "-nobrowse", "-mountpoint", b.MountPoint, b.Image}
}

// DetachArgs is the hdiutil command that unmounts the volume.
func (b SparseBundle) DetachArgs() []string {
	return []string{"hdiutil", "detach", b.MountPoint}
}

// sysrootHost is what provisioning needs from the host: whether paths exist and what is mounted
// where, a directory maker and a command runner. sysroot_darwin.go has the real one; tests use
// fakes.
type sysrootHost interface {
	// exists tells whether path exists (fs.ErrNotExist is false, nil).
	exists(path string) (bool, error)
	// mountedAt tells whether a file system other than its parent's is mounted at path.
	mountedAt(path string) (bool, error)
	mkdirAll(path string) error
	run(argv []string) error
}

// ensureSparseBundle makes b's image unless it exists and attaches it at b.MountPoint unless a
// volume is mounted there already. It returns the commands it ran, in order.
func ensureSparseBundle(h sysrootHost, b SparseBundle) ([][]string, error) {
	if b.Image == "" || b.MountPoint == "" {
		return nil, errors.New("sparse bundle: image and mount point are required")
	}
	if !strings.HasSuffix(b.Image, ".sparsebundle") {
		return nil, fmt.Errorf("sparse bundle %s: the name must end in .sparsebundle", b.Image)
	}
	var ran [][]string
	mounted, err := h.mountedAt(b.MountPoint)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sysroot %s: %w", b.MountPoint, err)
	}
	if mounted {
		return nil, nil // attached by an earlier run: use it as it is
	}
	have, err := h.exists(b.Image)
	if err != nil {
		return nil, fmt.Errorf("sparse bundle %s: %w", b.Image, err)
	}
	if !have {
		if err := h.mkdirAll(filepath.Dir(b.Image)); err != nil {
			return nil, fmt.Errorf("sparse bundle %s: %w", b.Image, err)
		}
		argv := b.CreateArgs()
		ran = append(ran, argv)
		if err := h.run(argv); err != nil {
			return ran, fmt.Errorf("create sparse bundle %s: %w", b.Image, err)
		}
	}
	if err := h.mkdirAll(b.MountPoint); err != nil {
		return ran, fmt.Errorf("sysroot %s: %w", b.MountPoint, err)
	}
	argv := b.AttachArgs()
	ran = append(ran, argv)
	if err := h.run(argv); err != nil {
		return ran, fmt.Errorf("attach sparse bundle %s at %s: %w", b.Image, b.MountPoint, err)
	}
	return ran, nil
}
