//go:build linux

package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// waitFile waits for a file the container makes.
func waitFile(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(name); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not made by the container", name)
		}
	}
}

// reap collects the test process's ended children (sandbox processes
// adopted as their subreaper).
func reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

func TestRunExitCode(t *testing.T) {
	r := newRT(t)
	b := r.bundle(shArgs("echo hello from $(hostname); exit 7"))
	out, errs, code := r.run("run", "--bundle", b, "c1")
	if code != 7 {
		t.Fatalf("run: exit %d, want 7 (stderr %q)", code, errs)
	}
	if out != "hello from elfuse\n" {
		t.Errorf("run: stdout %q", out)
	}
	// run deletes the container.
	if _, _, code := r.run("state", "c1"); code == 0 {
		t.Errorf("state after run: the container is still there")
	}
	// Death by a signal is 128+N.
	b = r.bundle(shArgs("kill -SEGV $$"))
	if _, errs, code := r.run("run", "--bundle", b, "c2"); code != 128+11 {
		t.Errorf("run of a process killed by SIGSEGV: exit %d, want 139 (%s)", code, errs)
	}
}

func TestLifecycle(t *testing.T) {
	r := newRT(t)
	b := r.bundle(func(s *specs.Spec) {
		shArgs(`trap "echo got-TERM; exit 3" TERM; touch /tmp/ready; while true; do sleep 0.05; done`)(s)
		s.Annotations = map[string]string{"org.example.key": "value"}
	})
	pid := r.create("c1", b)
	st := r.state("c1")
	if st.Status != specs.StateCreated || st.Pid != pid || st.ID != "c1" || st.Bundle != b || st.Version == "" {
		t.Fatalf("state after create: %+v (pid file %d)", st, pid)
	}
	if st.Annotations["org.example.key"] != "value" {
		t.Errorf("annotations not kept: %v", st.Annotations)
	}
	r.must("start", "c1")
	if st := r.state("c1"); st.Status != specs.StateRunning || st.Pid != pid {
		t.Fatalf("state after start: %+v", st)
	}
	if _, errs, code := r.run("start", "c1"); code == 0 || !strings.Contains(errs, "running") {
		t.Errorf("second start: exit %d, %q", code, errs)
	}
	// delete of a running container fails without --force.
	if _, errs, code := r.run("delete", "c1"); code == 0 || !strings.Contains(errs, "not stopped") {
		t.Errorf("delete of a running container: exit %d, %q", code, errs)
	}
	// pid 1 ignores TERM until its trap is set, as an init does.
	waitFile(t, filepath.Join(b, "rootfs", "tmp", "ready"))
	r.must("kill", "c1", "TERM")
	ws := waitPid(t, pid, 10*time.Second)
	if !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("sandbox process: %v, want exit 3", ws)
	}
	if out, _ := os.ReadFile(r.output("c1")); string(out) != "got-TERM\n" {
		t.Errorf("container output %q", out)
	}
	if st := r.state("c1"); st.Status != specs.StateStopped {
		t.Errorf("state after the container exited: %+v", st)
	}
	if _, errs, code := r.run("kill", "c1", "TERM"); code == 0 {
		t.Errorf("kill of a stopped container succeeded (%s)", errs)
	}
	r.must("kill", "--all", "c1", "KILL") // --all tolerates a stopped container, as runc
	r.must("delete", "c1")
	if _, errs, code := r.run("state", "c1"); code == 0 || !strings.Contains(errs, "does not exist") {
		t.Errorf("state after delete: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(r.root, "c1")); !os.IsNotExist(err) {
		t.Errorf("state directory left after delete: %v", err)
	}
}

func TestSignalDeath(t *testing.T) {
	r := newRT(t)
	// The sandbox process dies by the signal that killed pid 1, so that a
	// shim's wait sees WIFSIGNALED.
	b := r.bundle(shArgs("sleep 0.2; kill -USR1 $$"))
	pid := r.create("c1", b)
	r.must("start", "c1")
	ws := waitPid(t, pid, 10*time.Second)
	if !ws.Signaled() || ws.Signal() != unix.SIGUSR1 {
		t.Errorf("sandbox process: %v, want killed by SIGUSR1", ws)
	}
	r.must("delete", "c1")
	// A created container killed before start.
	pid = r.create("c2", b)
	r.must("kill", "c2", "KILL")
	ws = waitPid(t, pid, 10*time.Second)
	if !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Errorf("created sandbox killed: %v", ws)
	}
	if st := r.state("c2"); st.Status != specs.StateStopped {
		t.Errorf("state: %s", st.Status)
	}
	// delete of a created container needs no --force.
	pid = r.create("c3", b)
	r.must("delete", "c3")
	waitPid(t, pid, 10*time.Second)
}

func TestPidFileAndStdio(t *testing.T) {
	r := newRT(t)
	b := r.bundle(shArgs("read line; echo got:$line; echo err >&2"))
	pidFile := filepath.Join(t.TempDir(), "run.pid")
	out, errs, code := r.runIn([]byte("abc\n"), "run", "--bundle", b, "--pid-file", pidFile, "c1")
	if code != 0 || out != "got:abc\n" || errs != "err\n" {
		t.Fatalf("run: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if b, err := os.ReadFile(pidFile); err != nil || len(b) == 0 {
		t.Errorf("pid file: %q %v", b, err)
	}
}

func TestLogFile(t *testing.T) {
	r := newRT(t)
	logFile := filepath.Join(t.TempDir(), "log.json")
	jsonRun := func(args ...string) (string, int) {
		full := append([]string{"--log", logFile, "--log-format", "json"}, args...)
		_, errs, code := r.run(full...)
		return errs, code
	}
	lastError := func() string {
		b, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatalf("log file not written: %v", err)
		}
		var msg string
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var e struct{ Level, Msg string }
			if err := json.Unmarshal(line, &e); err != nil {
				t.Fatalf("log line %q is not JSON: %v", line, err)
			}
			if e.Level == "error" {
				msg = e.Msg
			}
		}
		return msg
	}
	// A bad config.json.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "config.json"), []byte(`{"ociVersion": "1.0.2", "process": `), 0o644)
	errs, code := jsonRun("create", "--bundle", bad, "c1")
	if code == 0 || !strings.Contains(errs, "config.json") {
		t.Errorf("bad config.json: exit %d, %q", code, errs)
	}
	if msg := lastError(); !strings.Contains(msg, "config.json") {
		t.Errorf("log: last error %q", msg)
	}
	// A missing root filesystem.
	b := r.bundle(nil)
	os.RemoveAll(filepath.Join(b, "rootfs"))
	errs, code = jsonRun("create", "--bundle", b, "c1")
	if code == 0 || !strings.Contains(errs, "root filesystem") {
		t.Errorf("missing rootfs: exit %d, %q", code, errs)
	}
	if msg := lastError(); !strings.Contains(msg, "root filesystem") {
		t.Errorf("log: last error %q", msg)
	}
	// A missing executable.
	b = r.bundle(func(s *specs.Spec) { s.Process.Args = []string{"/no/such/program"} })
	errs, code = jsonRun("create", "--bundle", b, "c1")
	if code == 0 || !strings.Contains(errs, "/no/such/program") {
		t.Errorf("missing executable: exit %d, %q", code, errs)
	}
	if _, err := os.Stat(filepath.Join(r.root, "c1")); !os.IsNotExist(err) {
		t.Errorf("a failed create left its state directory")
	}
	// Bad arguments.
	errs, code = jsonRun("create")
	if code == 0 || !strings.Contains(errs, "argument") {
		t.Errorf("create without an id: exit %d, %q", code, errs)
	}
	errs, code = jsonRun("kill", "nosuch", "SIGNOPE")
	if code == 0 || !strings.Contains(errs, "SIGNOPE") {
		t.Errorf("kill with a bad signal: exit %d, %q", code, errs)
	}
	errs, code = jsonRun("state", "nosuch")
	if code == 0 || !strings.Contains(errs, "does not exist") {
		t.Errorf("state of no container: exit %d, %q", code, errs)
	}
	// Even a flag error is logged.
	text := filepath.Join(t.TempDir(), "log.txt")
	r.run("--log", text, "--no-such-flag", "list")
	if b, err := os.ReadFile(text); err != nil || !strings.Contains(string(b), "no-such-flag") {
		t.Errorf("flag error not in the log: %q %v", b, err)
	}
	// A good command writes the log file too.
	quiet := filepath.Join(t.TempDir(), "quiet.log")
	r.must("--log", quiet, "list")
	if _, err := os.Stat(quiet); err != nil {
		t.Errorf("log file not made: %v", err)
	}
}

func TestExec(t *testing.T) {
	r := newRT(t)
	b := r.bundle(shArgs("while true; do sleep 0.05; done"))
	pid := r.create("c1", b)
	r.must("start", "c1")
	out, errs, code := r.run("exec", "c1", "sh", "-c", "echo in-exec $HOME $FOO; exit 5")
	if code != 5 || out != "in-exec /root\n" {
		t.Errorf("exec: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	out, _, code = r.run("exec", "--env", "FOO=bar", "--cwd", "/tmp", "--user", "1:1", "c1", "sh", "-c", "echo $FOO $(pwd) $(id -u):$(id -g)")
	if code != 0 || out != "bar /tmp 1:1\n" {
		t.Errorf("exec with flags: exit %d, stdout %q", code, out)
	}
	// --process, as containerd passes it.
	proc := specs.Process{Args: []string{"sh", "-c", "echo from-process-json; exit 9"}, Cwd: "/", Env: []string{"PATH=/bin"}}
	pb, _ := json.Marshal(proc)
	pf := filepath.Join(t.TempDir(), "process.json")
	os.WriteFile(pf, pb, 0o644)
	out, _, code = r.run("exec", "--process", pf, "c1")
	if code != 9 || out != "from-process-json\n" {
		t.Errorf("exec --process: exit %d, stdout %q", code, out)
	}
	// --detach --pid-file: the pid stands for the process and ends with
	// its status; the test process is its subreaper, as a shim is.
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	r.must("exec", "--detach", "--pid-file", pidFile, "c1", "sh", "-c", "sleep 0.3; exit 6")
	pb, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	helper, _ := strconv.Atoi(string(pb))
	ws := waitPid(t, helper, 10*time.Second)
	if !ws.Exited() || ws.ExitStatus() != 6 {
		t.Errorf("exec --detach: helper %v, want exit 6", ws)
	}
	if _, errs, code := r.run("exec", "c1", "/no/such"); code == 0 || !strings.Contains(errs, "/no/such") {
		t.Errorf("exec of a missing program: exit %d, %q", code, errs)
	}
	r.must("kill", "c1", "KILL")
	waitPid(t, pid, 10*time.Second)
	if _, errs, code := r.run("exec", "c1", "true"); code == 0 || !strings.Contains(errs, "stopped") {
		t.Errorf("exec in a stopped container: exit %d, %q", code, errs)
	}
}

func TestPauseResume(t *testing.T) {
	r := newRT(t)
	b := r.bundle(shArgs("i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.02; done"))
	r.create("c1", b)
	if _, _, code := r.run("pause", "c1"); code == 0 {
		t.Errorf("pause of a created container succeeded")
	}
	r.must("start", "c1")
	count := filepath.Join(b, "rootfs", "tmp", "count")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(count); len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the container does not count")
		}
	}
	r.must("pause", "c1")
	if st := r.state("c1"); st.Status != "paused" {
		t.Fatalf("state after pause: %s", st.Status)
	}
	time.Sleep(100 * time.Millisecond)
	before, _ := os.ReadFile(count)
	time.Sleep(300 * time.Millisecond)
	after, _ := os.ReadFile(count)
	if !bytes.Equal(before, after) {
		t.Errorf("the paused container ran: %q then %q", before, after)
	}
	if _, errs, code := r.run("exec", "c1", "true"); code == 0 || !strings.Contains(errs, "paused") {
		t.Errorf("exec in a paused container: exit %d, %q", code, errs)
	}
	r.must("resume", "c1")
	if st := r.state("c1"); st.Status != specs.StateRunning {
		t.Fatalf("state after resume: %s", st.Status)
	}
	time.Sleep(300 * time.Millisecond)
	later, _ := os.ReadFile(count)
	if bytes.Equal(later, after) {
		t.Errorf("the resumed container does not run: %q", later)
	}
	if _, _, code := r.run("resume", "c1"); code == 0 {
		t.Errorf("resume of a running container succeeded")
	}
}

func TestKillAllPsList(t *testing.T) {
	r := newRT(t)
	b := r.bundle(shArgs("sleep 100 & sleep 100 & wait; echo waited"))
	pid := r.create("c1", b)
	r.must("start", "c1")
	var pids []int
	deadline := time.Now().Add(10 * time.Second)
	for len(pids) < 3 && time.Now().Before(deadline) {
		if err := json.Unmarshal([]byte(r.must("ps", "--format", "json", "c1")), &pids); err != nil {
			t.Fatalf("ps json: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(pids) != 3 || pids[0] != 1 {
		t.Fatalf("ps: %v, want pid 1 and two sleeps", pids)
	}
	table := r.must("ps", "c1")
	if lines := strings.Fields(table); len(lines) != 4 || lines[0] != "PID" || lines[1] != "1" {
		t.Errorf("ps table: %q", table)
	}
	// Second container in the same root.
	b2 := r.bundle(shArgs("sleep 100"))
	r.create("c2", b2)
	out := r.must("list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[0], "STATUS") ||
		!strings.Contains(lines[1], "c1") || !strings.Contains(lines[1], "running") ||
		!strings.Contains(lines[2], "c2") || !strings.Contains(lines[2], "created") {
		t.Errorf("list table:\n%s", out)
	}
	if q := r.must("list", "-q"); q != "c1\nc2\n" {
		t.Errorf("list -q: %q", q)
	}
	var sts []struct {
		ID     string `json:"id"`
		Pid    int    `json:"pid"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.must("list", "--format", "json")), &sts); err != nil || len(sts) != 2 ||
		sts[0].ID != "c1" || sts[0].Pid != pid || sts[1].Status != "created" {
		t.Errorf("list json: %+v %v", sts, err)
	}
	// kill --all ends the sleeps; pid 1 (sh, no handler) ignores TERM as
	// an init does, then its wait returns.
	r.must("kill", "--all", "c1", "TERM")
	ws := waitPid(t, pid, 10*time.Second)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Errorf("after kill --all: %v", ws)
	}
	r.must("delete", "c1")
	r.must("delete", "c2")
	reap()
}

func TestHooks(t *testing.T) {
	r := newRT(t)
	dir := t.TempDir()
	hook := func(name string) specs.Hook {
		timeout := 5
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + filepath.Join(dir, name) + ".json; echo $HOOKENV >> " + filepath.Join(dir, "order")},
			Env: []string{"HOOKENV=" + name}, Timeout: &timeout}
	}
	b := r.bundle(func(s *specs.Spec) {
		shArgs("sleep 0.3")(s)
		s.Hooks = &specs.Hooks{
			Prestart: []specs.Hook{hook("prestart")}, CreateRuntime: []specs.Hook{hook("createRuntime")},
			CreateContainer: []specs.Hook{hook("createContainer")}, StartContainer: []specs.Hook{hook("startContainer")},
			Poststart: []specs.Hook{hook("poststart")}, Poststop: []specs.Hook{hook("poststop")},
		}
	})
	pid := r.create("c1", b)
	r.must("start", "c1")
	waitPid(t, pid, 10*time.Second)
	r.must("delete", "c1")
	order, _ := os.ReadFile(filepath.Join(dir, "order"))
	if got := strings.Fields(string(order)); strings.Join(got, " ") != "prestart createRuntime createContainer startContainer poststart poststop" {
		t.Errorf("hooks ran in order %v", got)
	}
	for _, k := range []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"} {
		var st specs.State
		b, err := os.ReadFile(filepath.Join(dir, k+".json"))
		if err == nil {
			err = json.Unmarshal(b, &st)
		}
		if err != nil || st.ID != "c1" || st.Bundle == "" || st.Version == "" {
			t.Errorf("%s hook: state %q: %v", k, b, err)
		}
		if k == "poststart" && (st.Status != specs.StateRunning || st.Pid != pid) {
			t.Errorf("poststart state: %+v", st)
		}
		if k == "poststop" && st.Status != specs.StateStopped {
			t.Errorf("poststop state: %+v", st)
		}
	}
	// A failing createRuntime hook fails create and leaves nothing.
	fail := r.bundle(func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo hook-broke >&2; exit 1"}}}}
	})
	_, errs, code := r.run("create", "--bundle", fail, "c2")
	if code == 0 || !strings.Contains(errs, "hook-broke") {
		t.Errorf("failing hook: exit %d, %q", code, errs)
	}
	if _, _, code := r.run("state", "c2"); code == 0 {
		t.Errorf("a container whose hook failed is still there")
	}
	reap()
}

func TestSandboxKilled(t *testing.T) {
	r := newRT(t)
	b := r.bundle(shArgs("sleep 100 & sleep 100"))
	pid := r.create("victim-c1", b)
	r.must("start", "victim-c1")
	helperPid := filepath.Join(t.TempDir(), "exec.pid")
	r.must("exec", "--detach", "--pid-file", helperPid, "victim-c1", "sleep", "100")
	if n := len(processesOf("victim-c1")); n != 2 {
		t.Fatalf("%d host processes for the container, want the sandbox and one exec helper", n)
	}
	unix.Kill(pid, unix.SIGKILL)
	ws := waitPid(t, pid, 10*time.Second)
	if !ws.Signaled() || ws.Signal() != unix.SIGKILL {
		t.Errorf("sandbox: %v", ws)
	}
	if st := r.state("victim-c1"); st.Status != specs.StateStopped || st.Pid != 0 {
		t.Errorf("state of a killed sandbox: %+v", st)
	}
	// Nothing of the container outlives its sandbox: the exec helper ends
	// with it.
	hb, _ := os.ReadFile(helperPid)
	hp, _ := strconv.Atoi(string(hb))
	hws := waitPid(t, hp, 10*time.Second)
	if !hws.Signaled() || hws.Signal() != unix.SIGKILL {
		t.Errorf("exec helper after its sandbox was killed: %v", hws)
	}
	if left := processesOf("victim-c1"); len(left) != 0 {
		t.Errorf("host processes left after kill -9 of the sandbox: %v", left)
	}
	for _, cmd := range [][]string{{"kill", "victim-c1", "TERM"}, {"ps", "victim-c1"}, {"exec", "victim-c1", "true"}, {"pause", "victim-c1"}} {
		if _, _, code := r.run(cmd...); code == 0 {
			t.Errorf("%v on a dead sandbox succeeded", cmd)
		}
	}
	r.must("delete", "victim-c1")
}

func TestTwoContainers(t *testing.T) {
	r := newRT(t)
	b1 := r.bundle(shArgs("sleep 0.3; echo one"))
	b2 := r.bundle(shArgs("sleep 0.3; echo two; exit 2"))
	type result struct {
		out  string
		code int
	}
	res := make(chan result, 2)
	for i, b := range []string{b1, b2} {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var o bytes.Buffer
			cmd := r.cmd(ctx, "run", "--bundle", b, fmt.Sprintf("two-%d", i))
			cmd.Stdout = &o
			err := cmd.Run()
			code := 0
			if ee, ok := err.(interface{ ExitCode() int }); ok && err != nil {
				code = ee.ExitCode()
			}
			res <- result{o.String(), code}
		}()
	}
	got := map[string]int{}
	for i := 0; i < 2; i++ {
		r := <-res
		got[r.out] = r.code
	}
	if got["one\n"] != 0 || got["two\n"] != 2 || len(got) != 2 {
		t.Errorf("two containers at once: %v", got)
	}
}

// recvFD receives one descriptor over a unix socket connection.
func recvFD(l *net.UnixListener) (*os.File, error) {
	l.SetDeadline(time.Now().Add(20 * time.Second))
	c, err := l.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	defer c.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("console socket: control message: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("console socket: rights: %v", err)
	}
	// Non-blocking, so that read deadlines work on it.
	unix.SetNonblock(fds[0], true)
	return os.NewFile(uintptr(fds[0]), "console"), nil
}

// consoleFrom starts receiving a pty master; the returned function
// waits for it.
func consoleFrom(t *testing.T, l *net.UnixListener) func() *os.File {
	type res struct {
		f   *os.File
		err error
	}
	ch := make(chan res, 1)
	go func() {
		f, err := recvFD(l)
		ch <- res{f, err}
	}()
	return func() *os.File {
		t.Helper()
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		return r.f
	}
}

// expect reads from f until want appears.
func expect(t *testing.T, f *os.File, want string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 1024)
	deadline := time.Now().Add(15 * time.Second)
	f.SetReadDeadline(deadline)
	for !bytes.Contains(got, []byte(want)) {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("console: waiting for %q: %v; read %q", want, err, got)
		}
	}
	return string(got)
}

func TestConsoleSocket(t *testing.T) {
	r := newRT(t)
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b := r.bundle(func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.ConsoleSize = &specs.Box{Height: 33, Width: 111}
		s.Process.Args = []string{"sh"}
	})
	// create without a console socket is refused for a terminal.
	if _, errs, code := r.run("create", "--bundle", b, "c0"); code == 0 || !strings.Contains(errs, "console socket") {
		t.Errorf("terminal without a console socket: exit %d, %q", code, errs)
	}
	recv := consoleFrom(t, l)
	pid := r.create("c1", b, "--console-socket", sock)
	master := recv()
	defer master.Close()
	r.must("start", "c1")
	// Typed once the shell prompts: a shell setting up its line editor
	// may flush what came before.
	expect(t, master, "# ")
	master.Write([]byte("echo hi-$((6*7)); stty size; tty\n"))
	out := expect(t, master, "hi-42")
	if !strings.Contains(out, "/dev/") { // unless it came in the same read
		out += expect(t, master, "/dev/")
	}
	if !strings.Contains(out, "33 111") {
		t.Errorf("console size not applied: %q", out)
	}
	master.Write([]byte("exit 3\n"))
	ws := waitPid(t, pid, 10*time.Second)
	if !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("sandbox: %v, want exit 3", ws)
	}
	// exec --tty with a console socket.
	b2 := r.bundle(shArgs("sleep 30"))
	pid = r.create("c2", b2)
	r.must("start", "c2")
	recv = consoleFrom(t, l)
	helperPid := filepath.Join(t.TempDir(), "exec.pid")
	// (An interactive sh exec'd on a tty stops after its banner: a sandbox
	// issue, reported; a non-interactive one shows the pty.)
	r.must("exec", "--tty", "--detach", "--console-socket", sock, "--pid-file", helperPid, "c2",
		"sh", "-c", "read x; tty; echo exec-$x; exit 4")
	m2 := recv()
	defer m2.Close()
	m2.Write([]byte("42\n"))
	if out := expect(t, m2, "exec-42"); !strings.Contains(out, "/dev/pts/") {
		t.Errorf("exec --tty: stdio is not the pty: %q", out)
	}
	hb, _ := os.ReadFile(helperPid)
	hp, _ := strconv.Atoi(string(hb))
	if ws := waitPid(t, hp, 10*time.Second); !ws.Exited() || ws.ExitStatus() != 4 {
		t.Errorf("exec --tty helper: %v, want exit 4", ws)
	}
	r.must("delete", "--force", "c2")
	waitPid(t, pid, 10*time.Second)
}

func TestConfinement(t *testing.T) {
	r := newRT(t)
	b := r.bundle(shArgs(`cat /etc/passwd; echo ---; ls /..; echo ---; ls /; echo ---; cat /etc/link; echo ---; cat ../../../../hostname-link; echo ---; cd /tmp/../../..; pwd`))
	rootfs := filepath.Join(b, "rootfs")
	os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte("container-passwd-marker\n"), 0o644)
	os.WriteFile(filepath.Join(rootfs, "etc", "shadow"), []byte("container-shadow-marker\n"), 0o600)
	os.Symlink("/etc/shadow", filepath.Join(rootfs, "etc", "link"))
	os.Symlink("../../../../../../etc/hostname", filepath.Join(rootfs, "hostname-link"))
	os.WriteFile(filepath.Join(rootfs, "etc", "hostname"), []byte("container-hostname-marker\n"), 0o644)
	out, errs, code := r.run("run", "--bundle", b, "c1")
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, errs)
	}
	parts := strings.Split(out, "---\n")
	if len(parts) != 6 {
		t.Fatalf("output: %q", out)
	}
	if parts[0] != "container-passwd-marker\n" {
		t.Errorf("/etc/passwd: %q", parts[0])
	}
	if parts[1] != parts[2] || !strings.Contains(parts[1], "bin") {
		t.Errorf("ls /.. %q differs from ls / %q", parts[1], parts[2])
	}
	if parts[3] != "container-shadow-marker\n" {
		t.Errorf("a link to /etc/shadow reads %q", parts[3])
	}
	if parts[4] != "container-hostname-marker\n" {
		t.Errorf("a link climbing out of the root reads %q", parts[4])
	}
	if parts[5] != "/\n" {
		t.Errorf("cd above the root: pwd %q", parts[5])
	}
}

func TestFeaturesSpec(t *testing.T) {
	r := newRT(t)
	var f struct {
		OCIVersionMax string            `json:"ociVersionMax"`
		Hooks         []string          `json:"hooks"`
		Annotations   map[string]string `json:"annotations"`
		Linux         struct {
			Seccomp struct{ Enabled *bool } `json:"seccomp"`
		} `json:"linux"`
	}
	if err := json.Unmarshal([]byte(r.must("features")), &f); err != nil {
		t.Fatal(err)
	}
	if f.OCIVersionMax != specs.Version || len(f.Hooks) != 6 || f.Linux.Seccomp.Enabled == nil ||
		!strings.Contains(f.Annotations["io.github.elfuse.ignored"], "linux.seccomp") {
		t.Errorf("features: %+v", f)
	}
	dir := t.TempDir()
	r.must("spec", "--bundle", dir)
	if _, errs, code := r.run("spec", "--bundle", dir); code == 0 || !strings.Contains(errs, "exists") {
		t.Errorf("spec over an existing config.json: exit %d, %q", code, errs)
	}
	// An unknown mount type is a clear error.
	b := r.bundle(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "nfs", Source: "server:/x"})
	})
	if _, errs, code := r.run("create", "--bundle", b, "c1"); code == 0 || !strings.Contains(errs, `"nfs"`) {
		t.Errorf("nfs mount: exit %d, %q", code, errs)
	}
}

func TestMountsAndEvents(t *testing.T) {
	r := newRT(t)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "data"), []byte("bound-data\n"), 0o644)
	b := r.bundle(func(s *specs.Spec) {
		shArgs(`cat /mnt/data; echo x > /dev/shm/f && cat /dev/shm/f; echo -n z > /dev/null; head -c 4 /dev/zero | od -An -tx1; ` +
			`hostname; while [ ! -e /tmp/stop ]; do sleep 0.05; done`)(s)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: host, Options: []string{"rbind", "ro"}})
		lim := int64(512 << 20)
		s.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &lim}}
		s.Hostname = "box"
	})
	outFile := filepath.Join(t.TempDir(), "out")
	f, _ := os.Create(outFile)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := r.cmd(ctx, "run", "--bundle", b, "c1")
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.waitStatus("c1", "running")
	var ev struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			Memory struct {
				Usage struct{ Limit, Usage uint64 } `json:"usage"`
			} `json:"memory"`
			CPU struct {
				Usage struct{ User, Kernel uint64 } `json:"usage"`
			} `json:"cpu"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.must("events", "--stats", "c1")), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "stats" || ev.ID != "c1" || ev.Data.Memory.Usage.Limit != 512<<20 || ev.Data.Memory.Usage.Usage == 0 {
		t.Errorf("events --stats: %+v", ev)
	}
	if _, errs, code := r.run("update", "--memory", "1g", "c1"); code == 0 || !strings.Contains(errs, "memory") {
		t.Errorf("update --memory: exit %d, %q (the guest RAM cannot change yet)", code, errs)
	}
	r.must("update", "--pids-limit", "10", "c1")
	os.WriteFile(filepath.Join(b, "rootfs", "tmp", "stop"), nil, 0o644)
	cmd.Wait()
	f.Close()
	out, _ := os.ReadFile(outFile)
	if want := "bound-data\nx\n 00 00 00 00\nbox\n"; string(out) != want {
		t.Errorf("mounts: output %q, want %q", out, want)
	}
}

// TestNetworkNamespace: a spec's network namespace without a path is a new
// one, holding only loopback, up (runc's default spec asks for one); with
// the namespace left out, the container shares the caller's.
func TestNetworkNamespace(t *testing.T) {
	r := newRT(t)
	list := "ip -o link | cut -d: -f2 | tr -d ' ' | sort | tr '\\n' ,; ip -o link show lo | grep -c UP"
	b := r.bundle(shArgs(list))
	out, errs, code := r.run("run", "--bundle", b, "c1")
	if code != 0 || out != "lo,1\n" {
		t.Errorf("new network namespace: exit %d, %q (stderr %q), want only lo, up", code, out, errs)
	}
	b = r.bundle(func(s *specs.Spec) {
		shArgs(list)(s)
		var keep []specs.LinuxNamespace
		for _, ns := range s.Linux.Namespaces {
			if ns.Type != specs.NetworkNamespace {
				keep = append(keep, ns)
			}
		}
		s.Linux.Namespaces = keep
	})
	out, errs, code = r.run("run", "--bundle", b, "c2")
	if code != 0 || !strings.Contains(out, "lo,") || strings.Count(out, ",") < 2 {
		t.Errorf("the caller's network namespace: exit %d, %q (stderr %q), want the host's interfaces", code, out, errs)
	}
}

// TestReadonlyRoot: root.readonly makes writes to the root file system
// fail with EROFS; a tmpfs mount over it stays writable.
func TestReadonlyRoot(t *testing.T) {
	r := newRT(t)
	b := r.bundle(func(s *specs.Spec) {
		shArgs("touch /etc/x 2>&1; mkdir /newdir 2>&1; echo ok > /dev/shm/f && cat /dev/shm/f")(s)
		s.Root.Readonly = true
	})
	out, errs, code := r.run("run", "--bundle", b, "c1")
	if code != 0 || strings.Count(out, "Read-only file system") != 2 || !strings.HasSuffix(out, "ok\n") {
		t.Errorf("read-only root: exit %d, %q (stderr %q)", code, out, errs)
	}
	b = r.bundle(func(s *specs.Spec) {
		shArgs("touch /etc/x && echo written")(s)
		s.Root.Readonly = false
	})
	if out, errs, code := r.run("run", "--bundle", b, "c2"); code != 0 || out != "written\n" {
		t.Errorf("writable root: exit %d, %q (stderr %q)", code, out, errs)
	}
}

// TestUnknownCapability: a capability elfuse does not know is refused at
// create, with its name.
func TestUnknownCapability(t *testing.T) {
	r := newRT(t)
	b := r.bundle(func(s *specs.Spec) {
		shArgs("true")(s)
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_TEST")
	})
	if _, errs, code := r.run("run", "--bundle", b, "c1"); code == 0 || !strings.Contains(errs, "CAP_TEST") {
		t.Errorf("unknown capability: exit %d, stderr %q", code, errs)
	}
}

// TestEscapes: nothing outside the container's root is reachable through
// links to "/" or climbing "..", absolute links inside a bind mount,
// /proc/self/root and /proc/PID/cwd, or a unix socket bound through a
// link that climbs out (syslogd binds /dev/log).
func TestEscapes(t *testing.T) {
	r := newRT(t)
	host := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("host-secret\n"), 0o644)
	os.Symlink("/etc", filepath.Join(host, "abs"))
	os.Symlink("../../../../../../../../..", filepath.Join(host, "up"))
	b := r.bundle(func(s *specs.Spec) {
		shArgs(`cat /esc-root/etc/passwd; echo ---; cat /mnt/abs/passwd; echo ---; ls /mnt/up/ | grep -c esc-root; echo ---; ` +
			`cat /proc/self/root/etc/passwd; echo ---; cat /proc/1/cwd/../../../etc/passwd; echo ---; ` +
			`cat /esc-up` + outside + `/secret 2>&1 | grep -c host-secret; echo ---; ` +
			`syslogd -n -O /tmp/syslog & sleep 1; kill $!; echo ---; ` +
			`cat /proc/self/root/../../..` + outside + `/secret 2>&1 | grep -c host-secret; true`)(s)
		// /dev is the root filesystem's, where the link to the log socket is.
		var ms []specs.Mount
		for _, m := range s.Mounts {
			if m.Destination != "/dev" {
				ms = append(ms, m)
			}
		}
		s.Mounts = append(ms, specs.Mount{Destination: "/mnt", Type: "bind", Source: host, Options: []string{"rbind"}})
	})
	rootfs := filepath.Join(b, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, outside), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc", "passwd"), []byte("container-passwd\n"), 0o644)
	os.Symlink("/", filepath.Join(rootfs, "esc-root"))
	os.Symlink("../../../../../../../../..", filepath.Join(rootfs, "esc-up"))
	// The socket's path climbs out of the root: it must land inside.
	os.MkdirAll(filepath.Join(rootfs, "dev"), 0o755)
	os.Symlink("../../../../../../../.."+outside+"/log", filepath.Join(rootfs, "dev", "log"))
	out, errs, code := r.run("run", "--bundle", b, "c1")
	if code != 0 {
		t.Fatalf("run: exit %d: %s %s", code, out, errs)
	}
	parts := strings.Split(out, "---\n")
	want := []string{"container-passwd\n", "container-passwd\n", "1\n", "container-passwd\n", "container-passwd\n", "0\n", "", "0\n"}
	if len(parts) != len(want) {
		t.Fatalf("output: %q (stderr %q)", out, errs)
	}
	for i := range want {
		if parts[i] != want[i] {
			t.Errorf("part %d: %q, want %q", i, parts[i], want[i])
		}
	}
	if _, err := os.Lstat(filepath.Join(outside, "log")); err == nil {
		t.Errorf("the unix socket was bound outside the root, at %s/log", outside)
	}
}

// TestSyntheticProc: the container's /proc is elfuse's: its processes
// only, the spec's mounts in order in mountinfo, the spec's capabilities,
// sysctls and OOM score adjustment.
func TestSyntheticProc(t *testing.T) {
	r := newRT(t)
	b := r.bundle(func(s *specs.Spec) {
		shArgs(`sleep 5 & set -- /proc/[0-9]*; echo $#; echo ---; cut -d' ' -f5,8 /proc/self/mountinfo; echo ---; ` +
			`grep CapEff /proc/self/status; echo ---; cat /proc/sys/net/ipv4/ip_forward /proc/self/oom_score_adj; echo ---; ` +
			`cat /proc/$!/cmdline | tr '\0' ' '; echo; echo ---; readlink /proc/self/exe; kill $!`)(s)
		s.Process.Capabilities = &specs.LinuxCapabilities{Effective: []string{"CAP_CHOWN", "CAP_KILL"},
			Permitted: []string{"CAP_CHOWN", "CAP_KILL"}, Bounding: []string{"CAP_CHOWN", "CAP_KILL"}}
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		adj := 200
		s.Process.OOMScoreAdj = &adj
	})
	out, errs, code := r.run("run", "--bundle", b, "c1")
	if code != 0 && code != 143 {
		t.Fatalf("run: exit %d: %s %s", code, out, errs)
	}
	parts := strings.Split(out, "---\n")
	if len(parts) != 6 {
		t.Fatalf("output: %q (stderr %q)", out, errs)
	}
	// A glob in the shell itself: a pipeline's processes may or may not
	// have started when ls reads /proc.
	if parts[0] != "2\n" { // sh and sleep
		t.Errorf("processes in /proc: %q, want 2", parts[0])
	}
	// The default spec's mounts, in order, with their types (the devices
	// bound into /dev come between them).
	wantMounts := []string{"/ rootfs", "/proc proc", "/dev tmpfs", "/dev/pts devpts", "/dev/shm tmpfs",
		"/dev/mqueue mqueue", "/sys sysfs", "/sys/fs/cgroup cgroup"}
	got := strings.Split(strings.TrimSpace(parts[1]), "\n")
	i := 0
	for _, line := range got {
		if i < len(wantMounts) && line == wantMounts[i] {
			i++
		}
	}
	if i != len(wantMounts) {
		t.Errorf("mountinfo: %q, want %q in order", got, wantMounts)
	}
	if parts[2] != "CapEff:\t0000000000000021\n" {
		t.Errorf("status: %q", parts[2])
	}
	if parts[3] != "1\n200\n" {
		t.Errorf("sysctl and oom_score_adj: %q", parts[3])
	}
	if parts[4] != "sleep 5 \n" {
		t.Errorf("cmdline of the background sleep: %q", parts[4])
	}
	if parts[5] != "/bin/sh\n" && parts[5] != "/bin/busybox\n" {
		t.Errorf("exe: %q", parts[5])
	}
}

// TestPreserveFDs: --preserve-fds passes descriptors after stdio to the
// container's process (create/run) and to an exec'd one, as fds 3 and up.
func TestPreserveFDs(t *testing.T) {
	r := newRT(t)
	b := r.bundle(shArgs(`echo to-three >&3; cat <&4; while [ ! -e /tmp/stop ]; do sleep 0.05; done`))
	out3 := filepath.Join(t.TempDir(), "three")
	f3, _ := os.Create(out3)
	in4 := filepath.Join(t.TempDir(), "four")
	os.WriteFile(in4, []byte("from-four\n"), 0o644)
	f4, _ := os.Open(in4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := r.cmd(ctx, "run", "--preserve-fds", "2", "--bundle", b, "c1")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.ExtraFiles = []*os.File{f3, f4}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f3.Close()
	f4.Close()
	r.waitStatus("c1", "running")
	// exec: one preserved descriptor, a pipe the process writes to.
	pr, pw, _ := os.Pipe()
	ex := r.cmd(ctx, "exec", "--preserve-fds", "1", "c1", "sh", "-c", "echo exec-three >&3")
	ex.ExtraFiles = []*os.File{pw}
	if err := ex.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	got, _ := io.ReadAll(pr)
	if err := ex.Wait(); err != nil || string(got) != "exec-three\n" {
		t.Errorf("exec --preserve-fds: %v, fd 3 got %q", err, got)
	}
	os.WriteFile(filepath.Join(b, "rootfs", "tmp", "stop"), nil, 0o644)
	cmd.Wait()
	if b, _ := os.ReadFile(out3); string(b) != "to-three\n" {
		t.Errorf("fd 3 of the container: %q", b)
	}
	if stdout.String() != "from-four\n" {
		t.Errorf("fd 4 read back: %q", stdout.String())
	}
}
