//go:build linux && amd64

package main

import (
	"time"

	lsys "github.com/elfuse/elfuse/syscall"
	"golang.org/x/sys/unix"
)

func runGuest(o guestOptions) (int, guestStats, error) {
	var mounts []lsys.Mount
	for _, m := range o.mounts {
		mounts = append(mounts, lsys.Mount{Dest: m.dest, Source: m.source, Synthetic: m.synthetic, Type: m.synthetic})
	}
	cfg := lsys.Config{Path: o.path, Argv: o.argv, Env: o.env, Sysroot: o.sysroot, Root: o.root, Mounts: mounts, Cwd: o.cwd,
		Trace: o.trace, Log: o.log, Timeout: o.timeout, Stdin: 0, Stdout: 1, Stderr: 2}
	if o.root == "" {
		// A program run directly inherits elfuse's umask, as from a shell;
		// a container starts with 022, as Docker's do.
		mask := uint32(unix.Umask(0))
		unix.Umask(int(mask))
		cfg.Umask = &mask
	}
	mode, err := lsys.ParseSyscallMode(o.syscalls)
	if err != nil {
		return 1, guestStats{}, err
	}
	cfg.Syscalls = mode
	st, stats, err := lsys.Run(cfg)
	return st.Status(), guestStats{exits: stats.Exits, syscalls: stats.Syscalls, faults: stats.Faults,
		exitless: stats.Exitless, patched: stats.Patched, serverCPU: time.Duration(stats.ServerCPU)}, err
}
