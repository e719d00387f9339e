//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The runtime rows (issue 8): a busybox `true` container driven the way the real callers drive an
// OCI runtime.
//
//   - runtime-cycle: `create --bundle B --pid-file P id`, `start id`, wait for the container's
//     process, `delete id`, through each runtime's CLI, as containerd's runc shim does: the bench is
//     the child subreaper, so the container process (its pid from --pid-file) is reparented to the
//     bench when `create` exits and is reaped with wait4.
//   - docker-run: `docker run --rm --runtime R --network none busybox-elfuse:test true` against the
//     private dockerd of scripts/peers-setup.sh, which registers `elfuse` (--add-runtime) and `runsc`.
//
// Both are measured only in the full bench or when named with -workloads, and the docker rows only
// when the peers run (`scripts/peers-setup.sh start`); otherwise their rows say why not.
const (
	cycleWorkload  = "runtime-cycle"
	dockerWorkload = "docker-run"
	peersImage     = "busybox-elfuse:test"
	dockerClient   = "/usr/bin/docker"
)

// runtimeRunner is one runner of the runtime rows.
type runtimeRunner struct {
	name        string
	unavailable string
	once        func(ctx context.Context, timeout time.Duration) (time.Duration, error)
}

// runtimeRows measures the runtime rows, or returns nil when they were not asked for.
func runtimeRows(ctx context.Context, o options, e env) []Row {
	only := strings.Split(o.only, ",")
	var rows []Row
	if (o.only == "" && !o.quick) || slices.Contains(only, cycleWorkload) {
		fmt.Fprintf(os.Stderr, "elfuse-bench: %s (create+start+wait+delete of busybox true through the runtime CLI)\n", cycleWorkload)
		rows = append(rows, measureRuntime(ctx, o, cycleWorkload, cycleRunners(e), "runc")...)
	}
	if (o.only == "" && !o.quick) || slices.Contains(only, dockerWorkload) {
		fmt.Fprintf(os.Stderr, "elfuse-bench: %s (docker run --rm of busybox true)\n", dockerWorkload)
		rows = append(rows, measureRuntime(ctx, o, dockerWorkload, dockerRunners(e), "docker+runc")...)
	}
	return rows
}

// elfuseRuntime is build/elfuse-runtime beside the elfuse binary.
func elfuseRuntime(e env) string {
	return filepath.Join(filepath.Dir(e.elfuse), "elfuse-runtime")
}

// isExecutable says whether path is an executable file.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// cycleRunners returns runc, runsc (systrap) and elfuse-runtime driving one bundle whose process is
// /bin/busybox true.
func cycleRunners(e env) []*runtimeRunner {
	bundle := filepath.Join(e.bundles, cycleWorkload)
	spec := ociSpec(filepath.Join(e.bundles, "rootfs"), []string{"/bin/busybox", "true"})
	js, err := json.MarshalIndent(spec, "", "  ")
	if err == nil {
		err = os.MkdirAll(bundle, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(bundle, "config.json"), js, 0o644)
	}
	mk := func(name, bin, missing string, global ...string) *runtimeRunner {
		r := &runtimeRunner{name: name}
		if bin == "" || !isExecutable(bin) {
			r.unavailable = missing
			return r
		}
		if err != nil {
			r.unavailable = "bundle: " + err.Error()
			return r
		}
		root := filepath.Join(e.ctrRoot, "cycle-"+name)
		argv := append([]string{bin, "--root", root}, global...)
		r.once = func(ctx context.Context, timeout time.Duration) (time.Duration, error) {
			return cycleOnce(ctx, timeout, argv, bundle, newContainerID("cycle"))
		}
		return r
	}
	return []*runtimeRunner{
		mk("runc", e.runc, "runc not installed (run scripts/bench-setup.sh)"),
		mk("runsc-systrap", e.runsc, "runsc not built (run scripts/bench-setup.sh)", "--platform=systrap", "--network=none"),
		mk("elfuse-runtime", elfuseRuntime(e), "no "+elfuseRuntime(e)+" (make all builds it)"),
	}
}

// cycleOnce runs create, start, wait and delete of container id and returns the wall time of all
// four. Every runtime command runs under a deadline; on any failure the container is force-deleted.
func cycleOnce(ctx context.Context, timeout time.Duration, argv []string, bundle, id string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pidFile := filepath.Join(filepath.Dir(bundle), id+".pid")
	defer os.Remove(pidFile)
	errf, err := os.CreateTemp("", "elfuse-bench-cycle-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(errf.Name())
	defer errf.Close()
	// The runtime's stdio: /dev/null, and a file for stderr (a pipe would be held open by the
	// container process, which inherits create's stdio).
	cli := func(args ...string) error {
		cmd := exec.CommandContext(ctx, argv[0], append(slices.Clone(argv[1:]), args...)...)
		cmd.Stderr = errf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: timed out after %s", args[0], timeout)
			}
			b, _ := os.ReadFile(errf.Name())
			return fmt.Errorf("%s: %v: %s", args[0], err, lastLine(string(b)))
		}
		return nil
	}
	fail := func(err error) (time.Duration, error) {
		quietRun(append(slices.Clone(argv), "delete", "--force", id)...)
		return 0, err
	}
	start := time.Now()
	if err := cli("create", "--bundle", bundle, "--pid-file", pidFile, id); err != nil {
		return fail(err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fail(fmt.Errorf("create wrote no pid file: %w", err))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return fail(fmt.Errorf("pid file holds %q", b))
	}
	if err := cli("start", id); err != nil {
		return fail(err)
	}
	if err := reap(ctx, pid); err != nil {
		return fail(err)
	}
	if err := cli("delete", id); err != nil {
		return fail(err)
	}
	took := time.Since(start)
	reapStrays()
	return took, nil
}

// reapStrays reaps, without waiting, other processes the runtime left to the subreaper (runsc's
// gofer, for one), so that they do not stay zombies. It runs between runtime commands, when the
// bench has no os/exec child of its own to wait for.
func reapStrays() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}

// reap waits for the container process pid, reparented to the bench (the subreaper), to exit 0.
func reap(ctx context.Context, pid int) error {
	type res struct {
		ws  unix.WaitStatus
		err error
	}
	done := make(chan res, 1)
	go func() {
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(pid, &ws, 0, nil)
			if err == unix.EINTR {
				continue
			}
			done <- res{ws, err}
			return
		}
	}()
	select {
	case r := <-done:
		switch {
		case errors.Is(r.err, unix.ECHILD):
			return fmt.Errorf("pid %d from --pid-file is not a child of the caller after create (runc's contract: the shim, as subreaper, reaps it)", pid)
		case r.err != nil:
			return fmt.Errorf("wait4 %d: %w", pid, r.err)
		case r.ws.Exited() && r.ws.ExitStatus() == 0:
			return nil
		default:
			return fmt.Errorf("container process ended with status %#x, want exit 0", uint32(r.ws))
		}
	case <-ctx.Done():
		_ = unix.Kill(pid, unix.SIGKILL)
		<-done
		return errors.New("container process did not exit before the deadline")
	}
}

// peersDir is scripts/peers-setup.sh's directory.
func peersDir() string {
	if d := os.Getenv("ELFUSE_PEERS_DIR"); d != "" {
		return d
	}
	return "/tmp/elfuse-peers"
}

// dockerRunners returns `docker run --rm` with the runtimes the private dockerd has.
func dockerRunners(e env) []*runtimeRunner {
	host := "unix://" + filepath.Join(peersDir(), "docker", "docker.sock")
	down := ""
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, dockerClient, "-H", host, "image", "inspect", peersImage).Run(); err != nil {
		down = "peers not running, or no " + peersImage + " image (scripts/peers-setup.sh start)"
	}
	var registered []string
	if down == "" {
		out, err := exec.CommandContext(ctx, dockerClient, "-H", host, "info", "-f", "{{range $k, $v := .Runtimes}}{{$k}} {{end}}").Output()
		if err == nil {
			registered = strings.Fields(string(out))
		}
	}
	mk := func(name, runtime string) *runtimeRunner {
		r := &runtimeRunner{name: name}
		switch {
		case down != "":
			r.unavailable = down
			return r
		case !slices.Contains(registered, runtime):
			r.unavailable = "dockerd has no runtime " + runtime + " (scripts/peers-setup.sh registers it)"
			return r
		}
		argv := []string{dockerClient, "-H", host, "run", "--rm", "--runtime", runtime, "--network", "none", peersImage, "true"}
		r.once = func(ctx context.Context, timeout time.Duration) (time.Duration, error) {
			return runOnce(ctx, timeout, argv, "")
		}
		return r
	}
	runc, runsc, elf := mk("docker+runc", "runc"), mk("docker+runsc-systrap", "runsc"), mk("docker+elfuse", "elfuse")
	// dockerd's "elfuse" is whatever ELFUSE_PEER_RUNTIME was when the peers started.
	if elf.unavailable == "" {
		b, _ := os.ReadFile(filepath.Join(peersDir(), "docker", "runtime"))
		if got := strings.TrimSpace(string(b)); got != elfuseRuntime(e) {
			elf.unavailable, elf.once = fmt.Sprintf("dockerd's elfuse runtime is %q, not %s (restart the peers with ELFUSE_PEER_RUNTIME unset)", got, elfuseRuntime(e)), nil
		} else if !isExecutable(got) {
			elf.unavailable, elf.once = "no "+got+" (make all builds it)", nil
		}
	}
	return []*runtimeRunner{runc, runsc, elf}
}

// measureRuntime runs warm-ups and measured repetitions of every available runner, alternating,
// and returns the rows, with the ratio to the reference runner.
func measureRuntime(ctx context.Context, o options, workload string, runners []*runtimeRunner, ref string) []Row {
	if o.runners != "" {
		keep := strings.Split(o.runners, ",")
		runners = slices.DeleteFunc(runners, func(r *runtimeRunner) bool { return !slices.Contains(keep, r.name) })
	}
	if workload == cycleWorkload {
		// The bench adopts the containers' processes, as a shim does, for the duration of these rows.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "elfuse-bench: warning: PR_SET_CHILD_SUBREAPER:", err)
		}
		defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	}
	rows := make([]Row, len(runners))
	active := make([]bool, len(runners))
	for i, r := range runners {
		rows[i] = Row{Workload: workload, Runner: r.name, Status: "ok", RatioTo: ref}
		if r.unavailable != "" {
			rows[i].Status, rows[i].Reason, rows[i].RatioTo = "unavailable", r.unavailable, ""
			fmt.Fprintf(os.Stderr, "  %s: unavailable: %s\n", r.name, r.unavailable)
		} else {
			active[i] = true
		}
	}
	timeout := min(o.maxTime, 60*time.Second)
	for rep := 0; rep < o.warmups+o.reps; rep++ {
		for k := range runners {
			i := (k + rep) % len(runners)
			if !active[i] || ctx.Err() != nil {
				continue
			}
			took, err := runners[i].once(ctx, timeout)
			if err != nil {
				active[i] = false
				rows[i].Status, rows[i].Reason, rows[i].Times, rows[i].RatioTo = "failed", clip(err.Error(), 300), nil, ""
				fmt.Fprintf(os.Stderr, "  %s: failed: %v\n", runners[i].name, err)
				continue
			}
			if rep >= o.warmups {
				rows[i].Times = append(rows[i].Times, took.Seconds())
			}
		}
	}
	var base float64
	for i := range rows {
		rows[i].summarize()
		if rows[i].Runner == ref && rows[i].Status == "ok" {
			base = rows[i].Median
		}
	}
	for i := range rows {
		if base > 0 && rows[i].Status == "ok" {
			rows[i].Ratio = rows[i].Median / base
		}
	}
	return rows
}

// writeRuntimeNotes explains the runtime rows of rep, if it has any, in BENCHMARKS.md.
func writeRuntimeNotes(b *strings.Builder, rep *Report) {
	seen := map[string]bool{}
	for _, r := range rep.Rows {
		if (r.Workload == cycleWorkload || r.Workload == dockerWorkload) && !seen[r.Workload] {
			if len(seen) == 0 {
				b.WriteString("\nNotes on the runtime rows (issue 8; `bench/cmd/elfuse-bench/peers.go`):\n\n")
			}
			seen[r.Workload] = true
			b.WriteString(runtimeNote(r.Workload))
		}
	}
}

// runtimeNote explains one runtime row.
func runtimeNote(workload string) string {
	switch workload {
	case cycleWorkload:
		return "- `" + cycleWorkload + "`: one busybox `true` container (the bench's rootfs, a `runc spec`-shaped config) " +
			"through the runtime's CLI as containerd's runc shim drives it: `create --bundle --pid-file`, `start`, " +
			"wait4 of the container process (the bench is the child subreaper, as the shim is), `delete`; the time " +
			"is all four. `runc` is Debian's, `runsc-systrap` gVisor's (`--network=none`), `elfuse-runtime` is " +
			"build/elfuse-runtime. The ratio is to runc.\n"
	case dockerWorkload:
		return "- `" + dockerWorkload + "`: `docker run --rm --runtime R --network none busybox-elfuse:test true` against " +
			"the private dockerd of `scripts/peers-setup.sh` (Debian's docker.io 20.10 on the same script's private containerd 1.6, " +
			"overlay2); R is `runc`, `runsc` (gVisor, systrap) or `elfuse` (build/elfuse-runtime, by `--add-runtime`). " +
			"Measured only while the peers run (`scripts/peers-setup.sh start`). The ratio is to docker+runc.\n"
	}
	return ""
}
