//go:build linux

package main

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// buildWorkloads compiles every workload's binary into dir and returns the binaries' paths by
// workload name: the C sources with `gcc -static -O2`, the Go ones (Source "go", the package
// bench/workloads/<name>) with CGO_ENABLED=0 `go build`, so that they are static too.
func buildWorkloads(src, dir string) (map[string]string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("workload dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make workload dir: %w", err)
	}
	bins := map[string]string{}
	for _, w := range workloads {
		out := filepath.Join(dir, w.Name)
		var cmd *exec.Cmd
		switch w.Source {
		case "none":
			continue
		case "go":
			cmd = exec.Command("go", "build", "-trimpath", "-o", out, ".")
			cmd.Dir = filepath.Join(src, w.Name)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		default:
			cmd = exec.Command("gcc", "-static", "-O2", "-Wall", "-o", out, filepath.Join(src, w.Name+".c"), "-lpthread")
		}
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("compile workload %s: %w\n%s", w.Name, err, msg)
		}
		bins[w.Name] = out
	}
	return bins, nil
}

// hostPath returns where a workload's command finds a program on the host: busybox, or another
// workload's binary (see Workload.Argv).
func hostPath(bins map[string]string, busybox string) func(string) string {
	return func(prog string) string {
		if prog == "busybox" {
			return busybox
		}
		return bins[prog]
	}
}

// containerPath is hostPath inside the bench's rootfs.
func containerPath(prog string) string {
	if prog == "busybox" {
		return "/bin/busybox"
	}
	return "/w/" + prog
}

// makeBundles lays out the one rootfs that every container runs from (Debian's busybox-static as
// /bin/busybox and the workloads under /w) and one OCI bundle per workload whose config.json runs
// /w/<name> with the bench's arguments. runc and runsc use the same bundles, so they do the same work.
func makeBundles(dir, busybox string, bins map[string]string, quick bool) error {
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear bundles: %w", err)
	}
	for _, d := range []string{"bin", "w", "proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return fmt.Errorf("make rootfs: %w", err)
		}
	}
	if err := copyFile(busybox, filepath.Join(rootfs, "bin", "busybox")); err != nil {
		return err
	}
	for _, w := range workloads {
		if bin, ok := bins[w.Name]; ok {
			if err := copyFile(bin, filepath.Join(rootfs, "w", w.Name)); err != nil {
				return err
			}
		}
	}
	for _, w := range workloads {
		b := filepath.Join(dir, w.Name)
		if err := os.MkdirAll(b, 0o755); err != nil {
			return fmt.Errorf("make bundle: %w", err)
		}
		spec, err := json.MarshalIndent(ociSpec(rootfs, w.argv(containerPath, quick)), "", "  ")
		if err != nil {
			return fmt.Errorf("encode config.json: %w", err)
		}
		if err := os.WriteFile(filepath.Join(b, "config.json"), spec, 0o644); err != nil {
			return fmt.Errorf("write config.json: %w", err)
		}
	}
	return nil
}

// copyFile copies an executable from src to dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	return nil
}

// ociSpec returns a runtime-spec config (the shape `runc spec` writes: new pid, ipc, uts, mount and
// network namespaces, the usual /proc, /dev, /sys mounts, a read-only root) running args.
func ociSpec(rootfs string, args []string) map[string]any {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	ns := []map[string]string{}
	for _, t := range []string{"pid", "network", "ipc", "uts", "mount"} {
		ns = append(ns, map[string]string{"type": t})
	}
	mount := func(dst, typ, src string, opts ...string) map[string]any {
		return map[string]any{"destination": dst, "type": typ, "source": src, "options": opts}
	}
	return map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"terminal": false,
			"user":     map[string]int{"uid": 0, "gid": 0},
			"args":     args,
			"env":      []string{"PATH=/bin:/w", "HOME=/"},
			"cwd":      "/",
			"capabilities": map[string][]string{
				"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps,
			},
			"rlimits":         []map[string]any{{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}},
			"noNewPrivileges": true,
		},
		"root":     map[string]any{"path": rootfs, "readonly": true},
		"hostname": "elfuse-bench",
		"mounts": []map[string]any{
			mount("/proc", "proc", "proc"),
			mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
			mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"),
			mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777", "size=65536k"),
			mount("/tmp", "tmpfs", "tmpfs", "nosuid", "nodev", "mode=1777"),
			mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
		},
		"linux": map[string]any{
			"namespaces":  ns,
			"maskedPaths": []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
			"readonlyPaths": []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
				"/proc/sysrq-trigger"},
		},
	}
}

// findBusybox returns the path of a static busybox (Debian's busybox-static installs /bin/busybox):
// the rootfs has no dynamic loader, so the binary must have no PT_INTERP.
func findBusybox() (string, error) {
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", fmt.Errorf("no static busybox at /bin/busybox: install busybox-static (scripts/bench-setup.sh)")
}
