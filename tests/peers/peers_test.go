//go:build linux

package peers

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/elfuse/elfuse/tests/termtest"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cfg is what the suites need; TestMain fills it.
var cfg struct {
	skip     string // non-empty: why every test skips
	root     string // the repository
	runtime  string // absolute path of the runtime under test
	dir      string // ELFUSE_PEERS_DIR
	csock    string // containerd's socket
	dhost    string // dockerd's -H address
	image    string // the image as docker and podman name it
	ctrImage string // the image as containerd names it
	archive  string // the docker-archive the image was loaded from
}

// docker is Debian's client, of the daemon's version.
const docker = "/usr/bin/docker"

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Getenv("ELFUSE_PEERS") != "1" {
		cfg.skip = "the peer suites run with ELFUSE_PEERS=1 (make test-peers): they install and start containerd and dockerd"
		return m.Run()
	}
	if os.Geteuid() != 0 {
		cfg.skip = "the peer suites need root (containerd and dockerd mount file systems)"
		return m.Run()
	}
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "peers:", err)
		return 1
	}
	cfg.root = root
	rt := os.Getenv("ELFUSE_PEER_RUNTIME")
	if rt == "" {
		rt = "build/elfuse-runtime"
	}
	if !filepath.IsAbs(rt) {
		rt = filepath.Join(root, rt)
	}
	if fi, err := os.Stat(rt); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		fmt.Fprintf(os.Stderr, "peers: no runtime binary at %s (make all builds build/elfuse-runtime; ELFUSE_PEER_RUNTIME=/usr/sbin/runc tests the harness)\n", rt)
		return 1
	}
	cfg.runtime = rt
	script := filepath.Join(root, "scripts", "peers-setup.sh")
	env := append(os.Environ(), "ELFUSE_PEER_RUNTIME="+rt)
	status := exec.Command(script, "status")
	status.Env = env
	started := status.Run() != nil
	setup := exec.Command("timeout", "-s", "KILL", "600", script, "start")
	setup.Env, setup.Stdout, setup.Stderr = env, os.Stderr, os.Stderr
	if err := setup.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "peers: scripts/peers-setup.sh start failed: %v\n", err)
		if started {
			stopPeers(script, env)
		}
		return 1
	}
	if started && os.Getenv("ELFUSE_PEERS_KEEP") != "1" {
		defer stopPeers(script, env)
	}
	envCmd := exec.Command(script, "env")
	envCmd.Env = env
	out, err := envCmd.Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "peers: scripts/peers-setup.sh env: %v\n", err)
		return 1
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	cfg.dir = vars["ELFUSE_PEERS_DIR"]
	cfg.csock = vars["ELFUSE_PEERS_CONTAINERD"]
	cfg.dhost = vars["ELFUSE_PEERS_DOCKER"]
	cfg.image = vars["ELFUSE_PEERS_IMAGE"]
	cfg.ctrImage = vars["ELFUSE_PEERS_CTR_IMAGE"]
	cfg.archive = vars["ELFUSE_PEERS_ARCHIVE"]
	fmt.Fprintf(os.Stderr, "peers: runtime %s; containerd %s; dockerd %s\n", cfg.runtime, cfg.csock, cfg.dhost)
	return m.Run()
}

func stopPeers(script string, env []string) {
	stop := exec.Command("timeout", "-s", "KILL", "180", script, "stop")
	stop.Env, stop.Stdout, stop.Stderr = env, os.Stderr, os.Stderr
	if err := stop.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "peers: scripts/peers-setup.sh stop: %v\n", err)
	}
}

// repoRoot finds the directory of go.mod above the working directory.
func repoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("no go.mod above the working directory")
		}
		d = p
	}
}

// need skips the test when the suites are off, and logs the daemons' new log lines if it fails.
func need(t *testing.T) {
	t.Helper()
	if cfg.skip != "" {
		t.Skip(cfg.skip)
	}
	for _, l := range []string{"containerd/containerd.log", "docker/dockerd.log"} {
		path := filepath.Join(cfg.dir, l)
		var off int64
		if fi, err := os.Stat(path); err == nil {
			off = fi.Size()
		}
		t.Cleanup(func() {
			if !t.Failed() {
				return
			}
			f, err := os.Open(path)
			if err != nil {
				return
			}
			defer f.Close()
			if _, err := f.Seek(off, io.SeekStart); err != nil {
				return
			}
			b, _ := io.ReadAll(io.LimitReader(f, 64<<10))
			if s := strings.TrimSpace(string(b)); s != "" {
				t.Logf("%s during this test:\n%s", l, s)
			}
		})
	}
}

var seq atomic.Int64

// newID returns a container name unique to this test process.
func newID(prefix string) string {
	return fmt.Sprintf("elfuse-peers-%s-%d-%d", prefix, os.Getpid(), seq.Add(1))
}

// result is one finished command.
type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %s\nstdout: %q\nstderr: %q", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// run runs argv with stdin from /dev/null, in its own process group that is killed after timeout,
// and returns its output and exit status; it fails the test when the command cannot run or times out.
func run(t *testing.T, timeout time.Duration, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: o.String(), stderr: e.String(), took: time.Since(start)}
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("%s: timed out after %s\nstdout: %q\nstderr: %q", strings.Join(argv, " "), timeout, r.stdout, r.stderr)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return r
}

// mustRun is run that also requires exit status 0.
func mustRun(t *testing.T, timeout time.Duration, argv ...string) result {
	t.Helper()
	r := run(t, timeout, argv...)
	if r.code != 0 {
		t.Fatalf("%s: %s", strings.Join(argv, " "), r)
	}
	return r
}

// term is a command under a pty (tests/termtest).
type term = termtest.Term

func startTerm(t *testing.T, argv ...string) *term { return termtest.Start(t, argv...) }

// eventually polls cond every 50ms until it holds, and fails the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runQuiet runs a cleanup command, ignoring its output.
func runQuiet(argv ...string) error {
	return exec.Command(argv[0], argv[1:]...).Run()
}
