//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The shim rows (issue 9): a busybox `true` container through containerd v2 built from the module
// proxy (scripts/containerd2.sh), with containerd's runc shim (io.containerd.runc.v2 and Debian's
// runc), elfuse's shim (io.containerd.elfuse.v2: build/containerd-shim-elfuse-v2 driving
// build/elfuse-runtime) and gVisor's shim (io.containerd.runsc.v1 with scripts/bench-setup.sh's
// runsc) where it is built:
//
//   - ctr-run: `ctr run --rm --runtime T IMAGE id true`
//   - nerdctl-run: `nerdctl run --rm --net none --runtime T IMAGE true` (nerdctl v2)
//
// The time is the client's whole run: shim start, create, start, wait, delete. A containerd that
// already answers in ELFUSE_CD2_DIR (default /tmp/elfuse-cd2) is used as it is; otherwise, when
// scripts/containerd2.sh has built containerd, the bench starts one in a temporary directory and
// stops it after these rows.
const (
	shimWorkload    = "ctr-run"
	nerdctlWorkload = "nerdctl-run"
)

// shimRows measures the shim rows, or returns nil when they were not asked for.
func shimRows(ctx context.Context, o options, e env) []Row {
	only := strings.Split(o.only, ",")
	all := o.only == "" && !o.quick
	doCtr, doNerdctl := all || slices.Contains(only, shimWorkload), all || slices.Contains(only, nerdctlWorkload)
	if !doCtr && !doNerdctl {
		return nil
	}
	ctrRunners, nerdctlRunners, stop := shimRunners(o, e)
	defer stop()
	var rows []Row
	if doCtr {
		fmt.Fprintf(os.Stderr, "elfuse-bench: %s (ctr run --rm of busybox true through containerd v2's shims)\n", shimWorkload)
		rows = append(rows, measureRuntime(ctx, o, shimWorkload, ctrRunners, "ctr+runc")...)
	}
	if doNerdctl {
		fmt.Fprintf(os.Stderr, "elfuse-bench: %s (nerdctl run --rm --net none of busybox true)\n", nerdctlWorkload)
		rows = append(rows, measureRuntime(ctx, o, nerdctlWorkload, nerdctlRunners, "nerdctl+runc")...)
	}
	return rows
}

// shimRunners returns the ctr and nerdctl runners and a function that stops the containerd the
// bench started.
func shimRunners(o options, e env) (ctrs, nerdctls []*runtimeRunner, stop func()) {
	stop = func() {}
	runtimes := []struct{ name, typ string }{
		{"runc", "io.containerd.runc.v2"}, {"elfuse", "io.containerd.elfuse.v2"}, {"runsc", "io.containerd.runsc.v1"},
	}
	for _, rt := range runtimes {
		ctrs = append(ctrs, &runtimeRunner{name: "ctr+" + rt.name})
		nerdctls = append(nerdctls, &runtimeRunner{name: "nerdctl+" + rt.name})
	}
	all := append(slices.Clone(ctrs), nerdctls...)
	unavailable := func(why string) ([]*runtimeRunner, []*runtimeRunner, func()) {
		for _, r := range all {
			r.unavailable = why
		}
		return ctrs, nerdctls, stop
	}
	script := filepath.Join(o.repo, "scripts", "containerd2.sh")
	dir := os.Getenv("ELFUSE_CD2_DIR")
	if dir == "" {
		dir = "/tmp/elfuse-cd2"
	}
	vars, err := containerd2Env(script, dir)
	if err != nil {
		return unavailable("scripts/containerd2.sh env: " + err.Error())
	}
	bin := vars["CD2_BIN"]
	ctr := filepath.Join(bin, "ctr")
	if !isExecutable(ctr) || !isExecutable(filepath.Join(bin, "containerd")) {
		return unavailable("containerd v2 not built (scripts/containerd2.sh build)")
	}
	if exec.Command(ctr, "--address", vars["CD2_SOCK"], "version").Run() != nil {
		tmp, err := os.MkdirTemp("/tmp", "ebcd2-")
		if err != nil {
			return unavailable(err.Error())
		}
		start := exec.Command(script, "start", tmp)
		start.Stderr = os.Stderr
		out, err := start.Output()
		if err != nil {
			_ = exec.Command(script, "stop", tmp).Run()
			return unavailable(fmt.Sprintf("scripts/containerd2.sh start: %v", err))
		}
		vars = parseVars(string(out))
		stop = func() {
			c := exec.Command(script, "stop", tmp)
			c.Stderr = os.Stderr
			_ = c.Run()
		}
	}
	sock, image := vars["CD2_SOCK"], vars["CD2_IMAGE"]
	ctrArgs := func(args ...string) []string {
		return append([]string{ctr, "--address", sock, "-n", "default"}, args...)
	}
	nerdctl := filepath.Join(bin, "nerdctl")
	nerdctlArgs := func(args ...string) []string {
		return append([]string{nerdctl, "--address", sock, "--namespace", "default",
			"--data-root", filepath.Join(vars["CD2_DIR"], "nerdctl")}, args...)
	}
	shimOf := map[string]string{
		"io.containerd.elfuse.v2": filepath.Join(filepath.Dir(e.elfuse), "containerd-shim-elfuse-v2"),
		"io.containerd.runsc.v1":  filepath.Join(bin, "containerd-shim-runsc-v1"),
	}
	for i, rt := range runtimes {
		if s, ok := shimOf[rt.typ]; ok && !isExecutable(s) {
			why := "no " + s + " (make all builds it)"
			if rt.name == "runsc" {
				why = "gVisor's shim not built (scripts/bench-setup.sh, then scripts/containerd2.sh build)"
			}
			ctrs[i].unavailable, nerdctls[i].unavailable = why, why
			continue
		}
		typ := rt.typ
		ctrs[i].once = func(ctx context.Context, timeout time.Duration) (time.Duration, error) {
			id := newContainerID("ctr")
			took, err := runOnce(ctx, timeout, ctrArgs("run", "--rm", "--runtime", typ, image, id, "true"), "")
			if err != nil {
				// Leave nothing behind for the next repetition.
				quietRun(ctrArgs("tasks", "delete", "-f", id)...)
				quietRun(ctrArgs("containers", "delete", id)...)
			}
			return took, err
		}
		if !isExecutable(nerdctl) {
			nerdctls[i].unavailable = "nerdctl not built (scripts/containerd2.sh build)"
			continue
		}
		nerdctls[i].once = func(ctx context.Context, timeout time.Duration) (time.Duration, error) {
			name := newContainerID("nerdctl")
			took, err := runOnce(ctx, timeout, nerdctlArgs("run", "--rm", "--net", "none", "--name", name, "--runtime", typ, image, "true"), "")
			if err != nil {
				quietRun(nerdctlArgs("rm", "-f", name)...)
			}
			return took, err
		}
	}
	return ctrs, nerdctls, stop
}

func containerd2Env(script, dir string) (map[string]string, error) {
	out, err := exec.Command(script, "env", dir).Output()
	if err != nil {
		return nil, err
	}
	return parseVars(string(out)), nil
}

func parseVars(s string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}
