//go:build darwin

package rootfs

import "archive/tar"

// setFileTimes sets the times of the open file at host from hdr (by its path here).
func setFileTimes(_ int, host string, hdr *tar.Header) error {
	return setTimes(host, hdr)
}
