// Package runtime tests build/elfuse-runtime as a container engine drives
// it: real OCI bundles (a busybox root filesystem from
// scripts/demo-image.sh and a config.json from `elfuse-runtime spec`),
// the runc command line, state JSON, pid files, stdio, consoles, hooks,
// and what is left behind. The tests run on Linux with /dev/kvm.
package runtime
