//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The http-wrk row (issue 4): requests per second of the Go net/http server of bench/workloads/http
// (its `serve ADDR` mode) under each runner, driven by the host's wrk over 127.0.0.1.
//
// One run: start the server on 127.0.0.1:0 and read the address it prints once listening; one
// GET from the bench, whose 1 KiB body is checked; `wrk -t1 -c8 -dD http://ADDR/`, whose output
// must show no socket errors and no non-2xx/3xx responses; SIGTERM to the server (through the
// runtime's `kill` for containers), which must exit 0 within stopGrace having served at least
// every request wrk counted. Start-up and stop are not timed: the measure is wrk's requests/s.
//
// So that the table stays "lower is better", the time columns are what wrkRequests requests take
// at the measured rate (wrkRequests / req/s); the ratio is native's rate over the runner's, and
// the note gives req/s. The containers run with the host's network (runc: a spec without a network
// namespace; runsc: --network=host, gVisor's hostinet), since a load generator on the host cannot
// reach a container's own loopback.
const (
	wrkWorkload = "http-wrk"
	wrkThreads  = 1
	wrkConns    = 8
	// wrkRequests is the request count the time columns are given for.
	wrkRequests = 10000
	// serveStart bounds the server's start-up (qemu-user and runsc are the slow ones).
	serveStart = 30 * time.Second
	// stopGrace is how long the server has to exit after SIGTERM.
	stopGrace = 10 * time.Second
)

// wrkDuration is how long wrk drives the server in one run.
func wrkDuration(quick bool) time.Duration {
	if quick {
		return 2 * time.Second
	}
	return 5 * time.Second
}

// wrkWanted says whether the bench runs the http-wrk row: in the full bench, or when named.
func wrkWanted(o options) bool {
	if o.only != "" {
		return slices.Contains(strings.Split(o.only, ","), wrkWorkload)
	}
	return !o.quick
}

// serveRunner is how one runner starts the server and asks it to stop.
type serveRunner struct {
	// argv starts the server; id names the container (empty for the process runners).
	argv func() (argv []string, id string)
	// term asks the server to stop (SIGTERM), given the started command and the container id.
	term func(cmd *exec.Cmd, id string) error
	// cleanup removes a container a failed run left behind.
	cleanup func(id string)
	// killOK accepts SIGKILL when SIGTERM does not stop the server within stopGrace (elfuse, which
	// ignores SIGTERM itself when it does not pass it on); the served count is then not checked.
	killOK bool
}

// wrkRows measures the http-wrk row under the given runners (the program runners, in table order).
func wrkRows(ctx context.Context, o options, e env, bin string, runners []*Runner) []Row {
	fmt.Fprintf(os.Stderr, "elfuse-bench: %s (wrk -t%d -c%d -d%s against the Go net/http server on 127.0.0.1)\n",
		wrkWorkload, wrkThreads, wrkConns, wrkDuration(o.quick))
	wrk, wrkErr := exec.LookPath("wrk")
	bundle, bundleErr := hostNetBundle(e.bundles)
	rows := make([]Row, len(runners))
	servers := make([]*serveRunner, len(runners))
	active := make([]bool, len(runners))
	for i, r := range runners {
		rows[i] = Row{Workload: wrkWorkload, Runner: r.Name, Status: "ok", OpLabel: "1 request"}
		servers[i] = serveRunnerFor(e, r, bin, bundle)
		switch {
		case r.Skipped != "":
			rows[i].Status, rows[i].Reason = "skipped", r.Skipped
		case r.Unavailable != "":
			rows[i].Status, rows[i].Reason = "unavailable", r.Unavailable
		case wrkErr != nil:
			rows[i].Status, rows[i].Reason = "unavailable", "wrk not installed (run scripts/bench-setup.sh)"
		case bundleErr != nil && servers[i].cleanup != nil:
			rows[i].Status, rows[i].Reason = "failed", "bundle: "+bundleErr.Error()
		case servers[i].argv == nil:
			rows[i].Status, rows[i].Reason = "n/a", "no server mode for this runner"
		default:
			active[i] = true
		}
		if rows[i].Status != "ok" {
			rows[i].OpLabel = ""
		}
	}
	for rep := 0; rep < o.warmups+o.reps; rep++ {
		for k := range runners {
			i := (k + rep) % len(runners)
			if !active[i] || ctx.Err() != nil {
				continue
			}
			rate, err := wrkOnce(ctx, wrk, wrkDuration(o.quick), servers[i])
			if err != nil {
				active[i] = false
				rows[i].Status, rows[i].Reason, rows[i].Times, rows[i].OpLabel = "failed", clip(err.Error(), 300), nil, ""
				if errors.Is(err, errWrongOutput) {
					rows[i].Status = "wrong"
				}
				fmt.Fprintf(os.Stderr, "  %s: %s: %v\n", runners[i].Name, rows[i].Status, err)
				continue
			}
			if rep >= o.warmups {
				rows[i].Times = append(rows[i].Times, wrkRequests/rate)
			}
		}
	}
	var native float64
	for i := range rows {
		rows[i].summarize()
		if rows[i].Runner == "native" && rows[i].Status == "ok" {
			native = rows[i].Median
		}
	}
	for i := range rows {
		if rows[i].Status != "ok" {
			continue
		}
		if native > 0 {
			rows[i].Ratio = rows[i].Median / native
		}
		rows[i].Rate, rows[i].RateUnit = wrkRequests/rows[i].Median, "req/s"
		rows[i].PerOpNs = rows[i].Median / wrkRequests * 1e9
	}
	return rows
}

// serveRunnerFor returns how runner r runs the server: the process runners as they run every
// workload, the containers from the host-network bundle.
func serveRunnerFor(e env, r *Runner, bin, bundle string) *serveRunner {
	args := []string{"serve", "127.0.0.1:0"}
	signalProc := func(cmd *exec.Cmd, _ string) error { return cmd.Process.Signal(syscall.SIGTERM) }
	switch {
	case r.Name == "native" || isElfuse(r.Name) || r.Name == "qemu-x86_64":
		return &serveRunner{
			argv:   func() ([]string, string) { return r.command(wrkWorkload, bin, args) },
			term:   signalProc,
			killOK: isElfuse(r.Name),
		}
	case r.Name == "runc":
		root := filepath.Join(e.ctrRoot, "runc")
		return &serveRunner{
			argv: func() ([]string, string) {
				id := newContainerID("runc")
				return []string{e.runc, "--root", root, "run", "--bundle", bundle, id}, id
			},
			term: func(_ *exec.Cmd, id string) error {
				return exec.Command(e.runc, "--root", root, "kill", id, "TERM").Run()
			},
			cleanup: func(id string) { quietRun(e.runc, "--root", root, "delete", "--force", id) },
		}
	case strings.HasPrefix(r.Name, "runsc-"):
		platform := strings.TrimPrefix(r.Name, "runsc-")
		root := filepath.Join(e.ctrRoot, r.Name)
		return &serveRunner{
			argv: func() ([]string, string) {
				id := newContainerID(platform)
				return []string{e.runsc, "--root", root, "--platform=" + platform, "--network=host",
					"run", "--bundle", bundle, id}, id
			},
			term: func(_ *exec.Cmd, id string) error {
				return exec.Command(e.runsc, "--root", root, "kill", id, "TERM").Run()
			},
			cleanup: func(id string) { quietRun(e.runsc, "--root", root, "delete", "--force", id) },
		}
	}
	return &serveRunner{}
}

// hostNetBundle writes the http-wrk bundle under bundles: the bench's rootfs and config, running
// the server, with no network namespace of its own (the host's loopback).
func hostNetBundle(bundles string) (string, error) {
	dir := filepath.Join(bundles, wrkWorkload)
	spec := ociSpec(filepath.Join(bundles, "rootfs"), []string{"/w/http", "serve", "127.0.0.1:0"})
	linux := spec["linux"].(map[string]any)
	linux["namespaces"] = slices.DeleteFunc(linux["namespaces"].([]map[string]string),
		func(ns map[string]string) bool { return ns["type"] == "network" })
	js, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644)
}

// lineWriter collects a command's output and signals when its first line is complete.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first chan struct{}
	seen  bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.seen && bytes.IndexByte(w.buf.Bytes(), '\n') >= 0 {
		w.seen = true
		close(w.first)
	}
	return len(p), nil
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

var (
	wrkRate    = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)\s*$`)
	wrkCount   = regexp.MustCompile(`(?m)^\s*([0-9]+) requests in `)
	servedLine = regexp.MustCompile(`(?m)^http: served ([0-9]+) requests$`)
)

// wrkOnce starts the server with s, checks one response, runs wrk for d against it, stops the
// server and returns wrk's requests per second.
func wrkOnce(ctx context.Context, wrk string, d time.Duration, s *serveRunner) (rate float64, err error) {
	argv, id := s.argv()
	cmd := exec.Command(argv[0], argv[1:]...)
	stdout := &lineWriter{first: make(chan struct{})}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if stopped {
			return
		}
		// A failed run: kill everything it started and remove the container.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if s.cleanup != nil {
			s.cleanup(id)
		}
	}()
	why := func(what string) error {
		return fmt.Errorf("%s: %s", what, lastLine(stderr.String()))
	}
	select {
	case <-stdout.first:
	case err := <-exited:
		stopped = true
		if s.cleanup != nil {
			s.cleanup(id)
		}
		return 0, why(fmt.Sprintf("server exited before listening (%v)", err))
	case <-time.After(serveStart):
		return 0, why(fmt.Sprintf("server not listening after %s", serveStart))
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	line := strings.TrimSpace(stdout.String())
	addr, ok := strings.CutPrefix(line, "http serving ")
	if !ok || !strings.HasPrefix(addr, "127.0.0.1:") {
		return 0, fmt.Errorf("%w: server printed %q, want \"http serving 127.0.0.1:PORT\"", errWrongOutput, clip(line, 120))
	}
	url := "http://" + addr + "/"
	if err := checkGet(ctx, url); err != nil {
		return 0, err
	}

	wctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(wctx, wrk, fmt.Sprintf("-t%d", wrkThreads), fmt.Sprintf("-c%d", wrkConns),
		fmt.Sprintf("-d%ds", int(d.Seconds())), url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %v: %s", err, lastLine(string(out)))
	}
	report := string(out)
	if strings.Contains(report, "Socket errors:") {
		return 0, fmt.Errorf("wrk saw errors: %s", lineWith(report, "Socket errors:"))
	}
	if strings.Contains(report, "Non-2xx or 3xx responses:") {
		return 0, fmt.Errorf("%w: wrk: %s", errWrongOutput, lineWith(report, "Non-2xx or 3xx responses:"))
	}
	mr, mc := wrkRate.FindStringSubmatch(report), wrkCount.FindStringSubmatch(report)
	if mr == nil || mc == nil {
		return 0, fmt.Errorf("wrk output without a request count and rate: %q", clip(report, 200))
	}
	rate, _ = strconv.ParseFloat(mr[1], 64)
	count, _ := strconv.ParseInt(mc[1], 10, 64)
	if rate <= 0 || count <= 0 {
		return 0, fmt.Errorf("wrk made no requests: %q", clip(report, 200))
	}

	if err := s.term(cmd, id); err != nil {
		return 0, fmt.Errorf("stop the server: %v", err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			if s.cleanup != nil {
				s.cleanup(id)
			}
			return 0, why(fmt.Sprintf("server did not exit cleanly on SIGTERM (%v)", err))
		}
	case <-time.After(stopGrace):
		if !s.killOK {
			return 0, fmt.Errorf("server still running %s after SIGTERM", stopGrace)
		}
		stopped = true
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return rate, nil
	}
	m := servedLine.FindStringSubmatch(stderr.String())
	if m == nil {
		return 0, why("server did not report the requests it served")
	}
	if served, _ := strconv.ParseInt(m[1], 10, 64); served < count+1 {
		return 0, fmt.Errorf("%w: server served %d requests, wrk counted %d (+1 check)", errWrongOutput, served, count)
	}
	return rate, nil
}

// checkGet makes one GET of url and checks it answers 200 with the workload's 1 KiB body.
func checkGet(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("check GET: %w", err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("check GET: body: %w", err)
	}
	want := make([]byte, 1024)
	for i := range want {
		want[i] = 'a' + byte(i%26)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		return fmt.Errorf("%w: check GET: status %d, %d-byte body (want 200 and the 1 KiB pattern)", errWrongOutput, resp.StatusCode, len(got))
	}
	return nil
}

// lineWith returns the first line of s containing sub, trimmed.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
