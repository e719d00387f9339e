package imagecmd_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/urfave/cli/v2"

	"github.com/elfuse/elfuse/cmd/elfuse/imagecmd"
	"github.com/elfuse/elfuse/image"
	"github.com/elfuse/elfuse/image/imagetest"
)

type E = imagetest.Entry

// run runs the elfuse app with the image commands and returns its output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := &cli.App{Name: "elfuse", Commands: imagecmd.Commands(), Writer: &out, ErrWriter: &errOut,
		ExitErrHandler: func(*cli.Context, error) {}}
	err := app.Run(append([]string{"elfuse"}, args...))
	return out.String() + errOut.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := run(t, args...)
	if err != nil {
		t.Fatalf("elfuse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestPullImagesRmiPrune(t *testing.T) {
	host := imagetest.Registry(t)
	base := imagetest.Layer(t, E{Name: "lib/libc.so", Body: "libc"})
	mk := func(arch, file string) v1.Image {
		return imagetest.Image(t, arch, []string{"/" + file}, base, imagetest.Layer(t, E{Name: file, Body: arch}))
	}
	imagetest.Push(t, host+"/app/one:v1", mk(runtime.GOARCH, "one"))
	imagetest.PushIndex(t, host+"/app/multi:latest", imagetest.Index(t, mk("amd64", "m"), mk("arm64", "m")))
	store := t.TempDir()

	out := mustRun(t, "pull", "--store", store, host+"/app/one:v1")
	if !strings.Contains(out, host+"/app/one:v1: pulled sha256:") {
		t.Errorf("pull output %q", out)
	}
	mustRun(t, "pull", "--store", store, "--platform", "linux/arm64", host+"/app/multi")
	if out, err := run(t, "pull", "--store", store, "--platform", "windows/amd64", host+"/app/multi"); err == nil {
		t.Errorf("bad platform accepted: %s", out)
	}

	out = mustRun(t, "images", "--store", store)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "TAG/DIGEST") {
		t.Fatalf("images:\n%s", out)
	}
	if !strings.Contains(out, host+"/app/multi") || !strings.Contains(out, "linux/arm64/v8") || !strings.Contains(out, "latest") {
		t.Errorf("images lacks the arm64 image:\n%s", out)
	}

	s, _ := image.Open(store)
	r, err := s.Resolve(host + "/app/multi")
	if err != nil || r.Config.Entrypoint[0] != "/m" {
		t.Fatalf("resolve: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(r.Sysroot, "m")); string(b) != "arm64" {
		t.Errorf("arm64 file %q", b)
	}

	out = mustRun(t, "rmi", "--store", store, host+"/app/one:v1")
	if !strings.Contains(out, "Untagged: "+host+"/app/one:v1") {
		t.Errorf("rmi output %q", out)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("store inconsistent after rmi: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(r.Sysroot, "lib/libc.so")); string(b) != "libc" {
		t.Error("shared layer's files gone")
	}
	if _, err := run(t, "rmi", "--store", store, host+"/app/one:v1"); err == nil {
		t.Error("rmi of a missing image succeeded")
	}
	out = mustRun(t, "image", "prune", "--store", store)
	if !strings.Contains(out, "Deleted: 0 blobs") {
		t.Errorf("prune after rmi found garbage: %q", out)
	}
	out = mustRun(t, "images", "-q", "--store", store)
	if strings.TrimSpace(out) != r.ID[7:19] {
		t.Errorf("images -q = %q", out)
	}
}

func TestLoadOCILayoutAndDockerArchive(t *testing.T) {
	img := imagetest.Image(t, runtime.GOARCH, []string{"/hi"}, imagetest.Layer(t, E{Name: "hi", Body: "hi"}))
	dir := t.TempDir()

	// An OCI layout directory, as a tar (what `docker save` writes since Docker 25).
	lp, err := layout.Write(filepath.Join(dir, "layout"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
		"io.containerd.image.name":          "docker.io/library/hello:oci",
		"org.opencontainers.image.ref.name": "oci",
	})); err != nil {
		t.Fatal(err)
	}
	ociTar := filepath.Join(dir, "oci.tar")
	tarDir(t, filepath.Join(dir, "layout"), ociTar)

	// A classic docker save archive (manifest.json).
	tag, _ := name.NewTag("example.com/team/hello:saved")
	dockerTar := filepath.Join(dir, "docker.tar")
	if err := tarball.WriteToFile(dockerTar, tag, img); err != nil {
		t.Fatal(err)
	}

	store := t.TempDir()
	out := mustRun(t, "load", "--store", store, "-i", ociTar)
	if !strings.Contains(out, "loaded docker.io/library/hello:oci") {
		t.Errorf("load oci: %q", out)
	}
	out = mustRun(t, "load", "--store", store, "-i", dockerTar)
	if !strings.Contains(out, "loaded example.com/team/hello:saved") {
		t.Errorf("load docker: %q", out)
	}
	mustRun(t, "load", "--store", store, "-i", filepath.Join(dir, "layout"))

	s, _ := image.Open(store)
	for _, ref := range []string{"hello:oci", "example.com/team/hello:saved"} {
		r, err := s.Resolve(ref)
		if err != nil {
			t.Fatalf("resolve %s: %v", ref, err)
		}
		if b, _ := os.ReadFile(filepath.Join(r.Sysroot, "hi")); string(b) != "hi" {
			t.Errorf("%s: hi = %q", ref, b)
		}
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	if _, err := run(t, "load", "--store", store, "-i", filepath.Join(dir, "missing.tar")); err == nil {
		t.Error("load of a missing file succeeded")
	}
}

func tarDir(t *testing.T, src, dst string) {
	t.Helper()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		fi, _ := d.Info()
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: fi.Size(), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(tw, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestImportCommand(t *testing.T) {
	dir := t.TempDir()
	rootTar := imagetest.Tar(t, E{Name: "./"}, E{Name: "./bin/"},
		E{Name: "./bin/busybox", Body: "elf", Mode: 0o755}, E{Name: "./bin/sh", Type: tar.TypeSymlink, Link: "busybox"})
	file := filepath.Join(dir, "root.tar")
	if err := os.WriteFile(file, rootTar, 0o644); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	out := mustRun(t, "import", "--store", store, "--change", `CMD ["/bin/sh", "-c", "echo a,b"]`, "--change", "ENV A=1,2", "--change", "LABEL x=y",
		"--entrypoint", "/bin/busybox", "-m", "from a test", file, "busybox")
	if !strings.HasPrefix(out, "docker.io/library/busybox:latest: imported sha256:") || !strings.Contains(out, "linux/"+runtime.GOARCH) {
		t.Errorf("import output %q", out)
	}
	out = mustRun(t, "images", "--store", store)
	if !strings.Contains(out, "docker.io/library/busybox") || !strings.Contains(out, "latest") {
		t.Errorf("images:\n%s", out)
	}
	s, _ := image.Open(store)
	r, err := s.Resolve("busybox")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.Config.Cmd, "|") != "/bin/sh|-c|echo a,b" || strings.Join(r.Config.Entrypoint, "|") != "/bin/busybox" ||
		strings.Join(r.Config.Env, "|") != "A=1,2" || r.Config.Labels["x"] != "y" {
		t.Errorf("config %+v", r.Config)
	}
	if l, _ := os.Readlink(filepath.Join(r.Sysroot, "bin/sh")); l != "busybox" {
		t.Errorf("bin/sh -> %q", l)
	}

	// Standard input, a JSON entrypoint and another platform.
	var o bytes.Buffer
	app := &cli.App{Name: "elfuse", Commands: imagecmd.Commands(), Writer: &o, ErrWriter: &o,
		Reader: bytes.NewReader(rootTar), ExitErrHandler: func(*cli.Context, error) {}}
	if err := app.Run([]string{"elfuse", "import", "--store", store, "--platform", "linux/arm64", "-c", "USER 1",
		"--entrypoint", `["/bin/busybox", "sh"]`, "-", "example.com/me/bb:arm"}); err != nil {
		t.Fatalf("import from stdin: %v\n%s", err, o.String())
	}
	r, err = s.Resolve("example.com/me/bb:arm")
	if err != nil || r.Platform != "linux/arm64" || strings.Join(r.Config.Entrypoint, "|") != "/bin/busybox|sh" || r.Config.Cmd != nil || r.Config.User != "1" {
		t.Fatalf("stdin import: %+v %v", r, err)
	}

	for _, bad := range [][]string{
		{"import", "--store", store},
		{"import", "--store", store, filepath.Join(dir, "missing.tar"), "x"},
		{"import", "--store", store, "--platform", "linux/s390x", file, "x"},
		{"import", "--store", store, "--change", "RUN true", file, "x"},
		{"import", "--store", store, "--entrypoint", "[broken", file, "x"},
		{"import", "--store", store, file, "x@sha256:" + strings.Repeat("0", 64)},
	} {
		if out, err := run(t, bad...); err == nil {
			t.Errorf("elfuse %s succeeded: %s", strings.Join(bad, " "), out)
		}
	}
	mustRun(t, "rmi", "--store", store, "busybox", "example.com/me/bb:arm")
	if out := mustRun(t, "images", "-q", "--store", store); strings.TrimSpace(out) != "" {
		t.Errorf("images after rmi: %q", out)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestRmiImageInUse: while another process runs a container of an image (holds it as
// `elfuse run` does), `elfuse rmi` refuses it with a clear error, `rmi --force` removes its name
// and keeps its sysroot, and once the container ends `image prune` frees the sysroot.
func TestRmiImageInUse(t *testing.T) {
	if os.Getenv("ELFUSE_TEST_HOLD_STORE") != "" {
		t.Skip("helper process")
	}
	host := imagetest.Registry(t)
	ref := host + "/app/busy:1"
	imagetest.Push(t, ref, imagetest.Image(t, runtime.GOARCH, []string{"/bin/sh"}, imagetest.Layer(t, E{Name: "bin/sh", Body: "sh", Mode: 0o755})))
	store := t.TempDir()
	mustRun(t, "pull", "--store", store, ref)

	// The container: a child process holding the image until its stdin closes.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHoldContainerHelper$")
	cmd.Env = append(os.Environ(), "ELFUSE_TEST_HOLD_STORE="+store, "ELFUSE_TEST_HOLD_REF="+ref)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "held") {
		t.Fatalf("helper: %q, %v", line, err)
	}

	out, err := run(t, "rmi", "--store", store, ref)
	if err == nil {
		t.Fatalf("rmi of an image in use succeeded:\n%s", out)
	}
	if !strings.Contains(out, "in use by a running container") || !strings.Contains(out, "--force") {
		t.Errorf("rmi error does not say why or how to force it:\n%s", out)
	}
	if out := mustRun(t, "images", "--store", store); !strings.Contains(out, host+"/app/busy") {
		t.Fatalf("image gone after a refused rmi:\n%s", out)
	}
	out = mustRun(t, "rmi", "--force", "--store", store, ref)
	if !strings.Contains(out, "Untagged: "+ref) || !strings.Contains(out, "Kept: 1 sysroots") {
		t.Errorf("rmi --force output:\n%s", out)
	}
	s, err := image.Open(store)
	if err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "sysroots")); len(ents) != 1 {
		t.Errorf("%d sysroots while the container runs, want 1", len(ents))
	}

	stdin.Close() // the container ends
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	out = mustRun(t, "image", "prune", "--store", store)
	if !strings.Contains(out, "1 sysroots") {
		t.Errorf("prune after the container ended:\n%s", out)
	}
}

// TestHoldContainerHelper is TestRmiImageInUse's container process.
func TestHoldContainerHelper(t *testing.T) {
	store := os.Getenv("ELFUSE_TEST_HOLD_STORE")
	if store == "" {
		t.Skip("run by TestRmiImageInUse")
	}
	s, err := image.Open(store)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Resolve(os.Getenv("ELFUSE_TEST_HOLD_REF"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.NewContainer(res)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("held")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
}
