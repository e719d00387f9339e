//go:build !linux

package image

// markTopDir is Linux's ext4 allocation hint; elsewhere there is nothing to do.
func markTopDir(string) {}
