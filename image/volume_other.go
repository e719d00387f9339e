//go:build !darwin

package image

// sysrootVolume is where the store keeps sysroots, unpacks and container views: the store itself
// (Linux file systems are case-sensitive).
func sysrootVolume(dir string) (string, error) { return dir, nil }
