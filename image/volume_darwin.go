//go:build darwin

package image

import (
	"path/filepath"

	"github.com/elfuse/elfuse/rootfs"
)

// sysrootVolume attaches (making it on first use) the case-sensitive APFS volume the store keeps
// its sysroots, unpacks and container views on: dir/sysroots.sparsebundle mounted at dir/volume.
// Unpacks are renamed into place and container views are APFS clones of a sysroot, so all three
// must share the volume.
func sysrootVolume(dir string) (string, error) {
	b := storeBundle(dir)
	if err := rootfs.EnsureVolume(b); err != nil {
		return "", err
	}
	return b.MountPoint, nil
}

func storeBundle(dir string) rootfs.SparseBundle {
	return rootfs.SparseBundle{
		Image:      filepath.Join(dir, "sysroots.sparsebundle"),
		MountPoint: filepath.Join(dir, "volume"),
		Size:       "512g",
		VolumeName: "elfuse-images",
	}
}
