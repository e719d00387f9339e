//go:build linux

// Command containerd-shim-elfuse-v2 is the containerd runtime v2 shim of elfuse, runtime type
// io.containerd.elfuse.v2 (`ctr run --runtime io.containerd.elfuse.v2`, `nerdctl run --runtime
// io.containerd.elfuse.v2`, a CRI runtime handler with `runtime_type = "io.containerd.elfuse.v2"`).
//
// It is containerd's own runc shim (its manager, task service, process and stdio code, imported from
// github.com/containerd/containerd/v2) driving elfuse-runtime instead of runc: events, exec, ptys,
// stdio FIFOs and binary/file log URIs, pids, pause/resume, kill --all, wait, delete and the grouping
// of a pod's containers into one shim come from there. This package adds what differs for a
// kernel-less runtime: the runtime binary and root default to elfuse-runtime (beside this binary)
// and /run/containerd/elfuse, and CRI's generic runtime options are read (options_linux.go); the
// shim's OOM score is adjusted without failing where CAP_SYS_RESOURCE is missing
// (manager_linux.go); Stats reports the sandbox process's CPU and memory from /proc
// (stats_linux.go); Checkpoint says it is not supported; events are flushed before the shim exits
// (service_linux.go); and containerd 1.x's older shim protocol is spoken too (compat_linux.go).
package main

import (
	"context"

	"github.com/containerd/containerd/v2/pkg/shim"
)

func main() {
	legacyStart() // containerd 1.x (compat_linux.go)
	shim.RunShim(context.Background(), newManager(runtimeType))
}
