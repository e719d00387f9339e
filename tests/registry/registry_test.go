// Package registry tests pulling images from a real registry: Debian's
// docker-registry (the Docker distribution registry v2), started on a free
// loopback port with its storage in a temporary directory. Images are pushed
// with go-containerregistry and pulled with image.Store.Pull over plain HTTP.
package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/elfuse/elfuse/cmd/elfuse/imagecmd"
	"github.com/elfuse/elfuse/image"
	"github.com/elfuse/elfuse/image/imagetest"
)

type E = imagetest.Entry

var ctx = context.Background()

// registryBinary finds docker-registry, installing Debian's package when it
// is missing and this is root on a machine with apt-get.
func registryBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("docker-registry"); err == nil {
		return p
	}
	if p := "/usr/bin/docker-registry"; isExecutable(p) {
		return p
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("docker-registry is not installed and cannot be installed here (needs root and apt-get); run scripts/setup.sh")
	}
	t.Log("docker-registry is missing: installing Debian's package")
	c, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(c, apt, "install", "-y", "-qq", "docker-registry")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("docker-registry is not installed and apt-get install failed: %v\n%s", err, out)
	}
	if p, err := exec.LookPath("docker-registry"); err == nil {
		return p
	}
	t.Skip("docker-registry is not on PATH after installing its package")
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects the registry's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startRegistry starts docker-registry on 127.0.0.1 with its storage in a
// temporary directory and returns its host:port and storage directory. It
// is stopped when the test ends.
func startRegistry(t *testing.T) (host, storage string) {
	t.Helper()
	bin := registryBinary(t)
	dir := t.TempDir()
	storage = filepath.Join(dir, "storage")
	if err := os.Mkdir(storage, 0o755); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		host = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		// No auth, no debug listener, nothing but the API on loopback.
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`, storage, host)
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", cfgPath)
		// REGISTRY_* variables would override the config (for example the
		// listen address).
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "REGISTRY_") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		logs := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Skipf("docker-registry cannot be started: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop := func() {
			select {
			case <-exited:
				return
			default:
			}
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
		}
		if lastErr = waitReady(host, exited); lastErr != nil {
			stop()
			lastErr = fmt.Errorf("%w\n%s", lastErr, logs.String())
			continue
		}
		t.Cleanup(func() {
			stop()
			if t.Failed() {
				t.Logf("docker-registry output:\n%s", logs.String())
			}
		})
		checkLoopbackOnly(t, cmd.Process.Pid)
		return host, storage
	}
	t.Skipf("docker-registry cannot be started: %v", lastErr)
	return "", ""
}

// waitReady polls the registry's API base until it answers 200.
func waitReady(host string, exited <-chan error) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("docker-registry exited at start: %v", err)
		default:
		}
		resp, err := client.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("docker-registry did not answer on %s within 15 s", host)
}

// checkLoopbackOnly verifies from /proc that every TCP socket the process
// listens on is bound to a loopback address.
func checkLoopbackOnly(t *testing.T, pid int) {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Logf("cannot check the registry's sockets: %v", err)
		return
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var listening []string
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: TCP_LISTEN
				continue
			}
			ip, port, err := parseProcAddr(f[1])
			if err != nil {
				t.Fatalf("/proc/%d/net/%s: %v", pid, table, err)
			}
			listening = append(listening, net.JoinHostPort(ip.String(), fmt.Sprint(port)))
			if !ip.IsLoopback() {
				t.Fatalf("docker-registry listens on %s, not only on loopback", net.JoinHostPort(ip.String(), fmt.Sprint(port)))
			}
		}
	}
	if len(listening) == 0 {
		t.Fatalf("docker-registry (pid %d) listens on no TCP socket", pid)
	}
	t.Logf("docker-registry listens on %v", listening)
}

// parseProcAddr decodes a /proc/net/tcp{,6} address: hex IP in host-order
// 32-bit words, colon, hex port.
func parseProcAddr(s string) (net.IP, int, error) {
	hexIP, hexPort, ok := strings.Cut(s, ":")
	if !ok || (len(hexIP) != 8 && len(hexIP) != 32) {
		return nil, 0, fmt.Errorf("bad address %q", s)
	}
	var port int
	if _, err := fmt.Sscanf(hexPort, "%x", &port); err != nil {
		return nil, 0, fmt.Errorf("bad port in %q", s)
	}
	ip := make(net.IP, len(hexIP)/2)
	for w := 0; w < len(ip)/4; w++ {
		var word uint32
		if _, err := fmt.Sscanf(hexIP[w*8:w*8+8], "%08x", &word); err != nil {
			return nil, 0, fmt.Errorf("bad address %q", s)
		}
		// The kernel prints each 32-bit word as a host-order integer;
		// these machines are little-endian.
		ip[w*4], ip[w*4+1], ip[w*4+2], ip[w*4+3] = byte(word), byte(word>>8), byte(word>>16), byte(word>>24)
	}
	return ip, port, nil
}

// busyboxTar returns the busybox root file system that scripts/demo-image.sh
// builds, if it is in the cache, else a small stand-in.
func busyboxTar(t *testing.T) (data []byte, real bool) {
	t.Helper()
	cache := os.Getenv("ELFUSE_CACHE")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache", "elfuse")
		}
	}
	matches, _ := filepath.Glob(filepath.Join(cache, "images", "busybox-*-"+runtime.GOARCH+".tar"))
	sort.Strings(matches)
	if len(matches) > 0 {
		p := matches[len(matches)-1]
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("busybox root from %s (%d bytes)", p, len(b))
		return b, true
	}
	t.Log("no busybox tar in the cache (scripts/demo-image.sh builds it): using a small stand-in")
	return imagetest.Tar(t,
		E{Name: "./"}, E{Name: "./bin/"},
		E{Name: "./bin/busybox", Body: "\x7fELF stand-in", Mode: 0o755},
		E{Name: "./bin/sh", Type: tar.TypeSymlink, Link: "busybox"},
		E{Name: "./bin/ls", Type: tar.TypeSymlink, Link: "busybox"},
		E{Name: "./etc/"}, E{Name: "./etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\n"},
		E{Name: "./etc/group", Body: "root:x:0:\n"},
		E{Name: "./tmp/", Mode: 0o1777}, E{Name: "./root/", Mode: 0o700},
	), false
}

func openStore(t *testing.T) *image.Store {
	t.Helper()
	s, err := image.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tree lists a directory's entries with type, permissions, size and link
// target, for comparing two unpacks.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%s %v", rel, fi.Mode())
		if fi.Mode().IsRegular() {
			line += fmt.Sprintf(" %d", fi.Size())
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDockerRegistry(t *testing.T) {
	host, storage := startRegistry(t)

	t.Run("busybox", func(t *testing.T) {
		data, real := busyboxTar(t)
		img := imagetest.Image(t, runtime.GOARCH, []string{"/bin/sh"}, imagetest.RawLayer(t, data))
		ref := host + "/library/busybox:latest"
		imagetest.Push(t, ref, img)
		s := openStore(t)
		e, err := s.Pull(ctx, ref, image.PullOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := img.Digest()
		if e.Digest != want.String() || e.Name != ref || e.Platform != "linux/"+runtime.GOARCH {
			t.Errorf("entry %+v, want digest %s", e, want)
		}
		r, err := s.Resolve(ref)
		if err != nil {
			t.Fatal(err)
		}
		root := r.Sysroot
		if l, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || l != "busybox" {
			t.Errorf("bin/sh -> %q: %v", l, err)
		}
		if !strings.HasPrefix(readFile(t, filepath.Join(root, "etc/passwd")), "root:x:0:0:") {
			t.Error("etc/passwd")
		}
		if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode()&fs.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
			t.Errorf("tmp: %v %v", fi, err)
		}
		bb, err := os.Stat(filepath.Join(root, "bin/busybox"))
		if err != nil || bb.Mode().Perm() != 0o755 {
			t.Fatalf("bin/busybox: %v %v", bb, err)
		}
		if real {
			host, err := os.Stat("/bin/busybox")
			if err == nil && host.Size() != bb.Size() {
				t.Errorf("bin/busybox is %d bytes, the host's %d", bb.Size(), host.Size())
			}
			links, _ := os.ReadDir(filepath.Join(root, "bin"))
			if len(links) < 100 {
				t.Errorf("only %d entries in bin", len(links))
			}
		}
		// Importing the same tar gives the same tree as pulling it.
		s2 := openStore(t)
		if _, err := s2.Import(ctx, bytes.NewReader(data), "busybox", image.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		r2, err := s2.Resolve("busybox")
		if err != nil {
			t.Fatal(err)
		}
		if a, b := tree(t, root), tree(t, r2.Sysroot); !reflect.DeepEqual(a, b) {
			t.Errorf("pulled and imported trees differ:\npulled   %v\nimported %v", a, b)
		}
		if err := s.Check(); err != nil {
			t.Error(err)
		}
	})

	t.Run("three-layers", func(t *testing.T) {
		img := imagetest.Image(t, runtime.GOARCH, []string{"/bin/sh"},
			imagetest.Layer(t,
				E{Name: "etc/"}, E{Name: "etc/motd", Body: "hello"}, E{Name: "etc/removed", Body: "x"},
				E{Name: "var/cache/"}, E{Name: "var/cache/a", Body: "a"}, E{Name: "var/cache/b/"}, E{Name: "var/cache/b/c", Body: "c"},
				E{Name: "usr/"}, E{Name: "usr/bin/"}, E{Name: "usr/bin/python3.12", Body: "py", Mode: 0o755}),
			imagetest.Layer(t,
				E{Name: "etc/.wh.removed"},
				E{Name: "var/cache/"}, E{Name: "var/cache/.wh..wh..opq"}, E{Name: "var/cache/fresh", Body: "fresh"}),
			imagetest.Layer(t,
				E{Name: "usr/bin/python3", Type: tar.TypeLink, Link: "usr/bin/python3.12"}),
		)
		ref := host + "/test/three:v3"
		imagetest.Push(t, ref, img)
		s := openStore(t)
		if _, err := s.Pull(ctx, ref, image.PullOptions{}); err != nil {
			t.Fatal(err)
		}
		r, err := s.Resolve(ref)
		if err != nil {
			t.Fatal(err)
		}
		root := r.Sysroot
		if readFile(t, filepath.Join(root, "etc/motd")) != "hello" || readFile(t, filepath.Join(root, "var/cache/fresh")) != "fresh" {
			t.Error("files of the layers missing")
		}
		for _, gone := range []string{"etc/removed", "etc/.wh.removed", "var/cache/a", "var/cache/b", "var/cache/.wh..wh..opq"} {
			if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
				t.Errorf("%s survived", gone)
			}
		}
		a, _ := os.Stat(filepath.Join(root, "usr/bin/python3.12"))
		b, err := os.Stat(filepath.Join(root, "usr/bin/python3"))
		if err != nil || !os.SameFile(a, b) {
			t.Errorf("hard link across layers: %v", err)
		}
		if err := s.Check(); err != nil {
			t.Error(err)
		}
	})

	t.Run("multi-arch", func(t *testing.T) {
		mk := func(arch string) v1.Image {
			return imagetest.Image(t, arch, []string{"/bin/" + arch},
				imagetest.Layer(t, E{Name: "etc/arch", Body: arch}, E{Name: "bin/" + arch, Body: "elf-" + arch, Mode: 0o755}))
		}
		amd, arm := mk("amd64"), mk("arm64")
		idx := imagetest.Index(t, amd, arm)
		ref := host + "/test/multi:1.0"
		imagetest.PushIndex(t, ref, idx)

		store := t.TempDir()
		var out bytes.Buffer
		app := &cli.App{Name: "elfuse", Commands: imagecmd.Commands(), Writer: &out, ErrWriter: &out,
			ExitErrHandler: func(*cli.Context, error) {}}
		if err := app.Run([]string{"elfuse", "pull", "--store", store, "--platform", "linux/arm64", ref}); err != nil {
			t.Fatalf("elfuse pull --platform linux/arm64: %v\n%s", err, out.String())
		}
		s, err := image.Open(store)
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.Resolve(ref)
		if err != nil {
			t.Fatal(err)
		}
		armDigest, _ := arm.Digest()
		idxDigest, _ := idx.Digest()
		if r.Platform != "linux/arm64/v8" || r.Digest != armDigest.String() || r.IndexDigest != idxDigest.String() {
			t.Errorf("entry %+v", r.Entry)
		}
		if readFile(t, filepath.Join(r.Sysroot, "etc/arch")) != "arm64" || readFile(t, filepath.Join(r.Sysroot, "bin/arm64")) != "elf-arm64" {
			t.Error("arm64 files missing")
		}
		if _, err := os.Stat(filepath.Join(r.Sysroot, "bin/amd64")); err == nil {
			t.Error("amd64 file in the arm64 sysroot")
		}
		if !reflect.DeepEqual(r.Config.Entrypoint, []string{"/bin/arm64"}) {
			t.Errorf("entrypoint %v", r.Config.Entrypoint)
		}
		// amd64 explicitly, from the same index.
		s2 := openStore(t)
		p := v1.Platform{OS: "linux", Architecture: "amd64"}
		e, err := s2.Pull(ctx, ref, image.PullOptions{Platform: &p})
		if err != nil {
			t.Fatal(err)
		}
		r2, err := s2.Resolve(e.ID)
		if err != nil || readFile(t, filepath.Join(r2.Sysroot, "etc/arch")) != "amd64" {
			t.Errorf("amd64 pull: %v", err)
		}
	})

	// The pushes went to docker-registry's storage.
	repos, err := os.ReadDir(filepath.Join(storage, "docker", "registry", "v2", "repositories"))
	if err != nil || len(repos) < 2 {
		t.Errorf("registry storage has %d repository namespaces: %v", len(repos), err)
	}
}

func TestParseProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0050":                         "0.0.0.0:80",
		"00000000000000000000000001000000:01BB": "[::1]:443",
		"00000000000000000000000000000000:0016": "[::]:22",
	} {
		ip, port, err := parseProcAddr(in)
		if err != nil || net.JoinHostPort(ip.String(), fmt.Sprint(port)) != want {
			t.Errorf("parseProcAddr(%q) = %v, %d, %v; want %s", in, ip, port, err, want)
		}
	}
	if _, _, err := parseProcAddr("zz"); err == nil {
		t.Error("bad address accepted")
	}
}
