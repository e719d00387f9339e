// Package rootfs turns OCI image layers into a sysroot and gives each container
// a writable view of it.
//
// Unpacker applies uncompressed layer tar streams in order into a directory:
// regular files, directories, symlinks, hard links, device nodes and fifos,
// modes, mtimes, ownership and xattrs, with OCI whiteouts (".wh.NAME") and
// opaque directories (".wh..wh..opq"). Every entry is confined to the root:
// absolute names, ".." components, writes through symlinks that leave the root
// (or are absolute) and hard links to outside the root are refused with an
// error wrapping ErrUnsafeEntry. Limits bound what a layer may expand to
// (decompression bombs, sparse files, entry floods).
//
// NewContainerView gives a container its own writable copy of a read-only
// sysroot: an overlayfs mount on Linux when running as root, a copy otherwise.
//
// CreateSysroot provisions the seed CLI's --create-sysroot PATH: on macOS a case-sensitive
// APFS sparse bundle (SparseBundle; hdiutil create and attach) mounted at PATH, on Linux a
// directory.
package rootfs
