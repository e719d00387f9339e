// Package image pulls, loads, stores and removes OCI and Docker container
// images for elfuse.
//
// A Store keeps a content-addressed blob store (manifests, configs and
// compressed layers, shared by all images and each verified against its
// digest), an index of image names to manifests, and one read-only unpacked
// sysroot per image, made by package rootfs. Pull fetches from a registry with
// go-containerregistry (Docker reference defaults, Docker config credentials,
// retries, platform selection), Load reads OCI layouts and `docker save`
// archives, Import makes a single-layer image from a root file system tar
// (`docker import`), Remove and Prune free what no name references, and Resolve gives
// `elfuse run` an image's process configuration and sysroot. NewContainer gives a running
// container its directory and a shared lock on its image: Remove refuses an image in use
// (ErrInUse) unless forced, and garbage collection keeps the sysroots of running containers.
// On macOS sysroots and container views live on a case-sensitive APFS sparse bundle volume
// inside the store.
//
// The store is safe for concurrent use by goroutines and processes: writers
// share a file lock that garbage collection takes exclusively, blobs and
// sysroots are written to temporary names and renamed into place, and the
// index is replaced atomically.
package image
