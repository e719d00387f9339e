package image_test

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/elfuse/elfuse/image"
	"github.com/elfuse/elfuse/image/imagetest"
	"github.com/elfuse/elfuse/rootfs"
)

type E = imagetest.Entry

var ctx = context.Background()

func openStore(t *testing.T, dir string) *image.Store {
	t.Helper()
	s, err := image.Open(dir)
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

func blobCount(t *testing.T, s *image.Store) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Dir(), "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func hasBlob(s *image.Store, h v1.Hash) bool {
	_, err := os.Stat(filepath.Join(s.Dir(), "blobs", h.Algorithm, h.Hex))
	return err == nil
}

func TestPullSingleLayer(t *testing.T) {
	host := imagetest.Registry(t)
	img := imagetest.Image(t, runtime.GOARCH, []string{"/bin/hello"},
		imagetest.Layer(t, E{Name: "bin/hello", Body: "#!hello", Mode: 0o755}, E{Name: "etc/os-release", Body: "ID=test\n"}))
	ref := host + "/test/single:v1"
	imagetest.Push(t, ref, img)

	s := openStore(t, t.TempDir())
	e, err := s.Pull(ctx, ref, image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantDigest, _ := img.Digest()
	wantID, _ := img.ConfigName()
	if e.Name != ref || e.Tag != "v1" || e.Repository != host+"/test/single" || e.Digest != wantDigest.String() || e.ID != wantID.String() {
		t.Errorf("entry %+v", e)
	}
	if e.Platform != "linux/"+runtime.GOARCH || e.Size != int64(len("#!hello")+len("ID=test\n")) {
		t.Errorf("platform %q size %d", e.Platform, e.Size)
	}
	r, err := s.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Config.Entrypoint, []string{"/bin/hello"}) || r.Config.WorkingDir != "/work" || r.Config.User != "1000:1000" ||
		!reflect.DeepEqual(r.Config.Cmd, []string{"--help"}) || len(r.Config.Env) != 2 {
		t.Errorf("config %+v", r.Config)
	}
	if got := readFile(t, filepath.Join(r.Sysroot, "bin/hello")); got != "#!hello" {
		t.Errorf("bin/hello = %q", got)
	}
	for _, alias := range []string{e.ID, e.ID[7:19], host + "/test/single@" + e.Digest} {
		if r2, err := s.Resolve(alias); err != nil || r2.Sysroot != r.Sysroot {
			t.Errorf("Resolve(%q): %v", alias, err)
		}
	}
	if _, err := s.Resolve(host + "/test/single:nope"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("missing tag: %v", err)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
	// A second pull is served from the store and keeps it consistent.
	if _, err := s.Pull(ctx, ref, image.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := blobCount(t, s); n != 3 {
		t.Errorf("%d blobs, want 3 (manifest, config, layer)", n)
	}
}

func TestPullThreeLayersWhiteoutOpaqueHardLink(t *testing.T) {
	host := imagetest.Registry(t)
	img := imagetest.Image(t, runtime.GOARCH, []string{"/bin/sh"},
		imagetest.Layer(t,
			E{Name: "etc/"}, E{Name: "etc/motd", Body: "hello"}, E{Name: "etc/removed", Body: "x"},
			E{Name: "var/cache/"}, E{Name: "var/cache/a", Body: "a"}, E{Name: "var/cache/b/"}, E{Name: "var/cache/b/c", Body: "c"},
			E{Name: "usr/bin/python3.12", Body: "py", Mode: 0o755}),
		imagetest.Layer(t,
			E{Name: "etc/.wh.removed"},
			E{Name: "var/cache/"}, E{Name: "var/cache/.wh..wh..opq"}, E{Name: "var/cache/fresh", Body: "fresh"}),
		imagetest.Layer(t,
			E{Name: "usr/bin/python3", Type: tar.TypeLink, Link: "usr/bin/python3.12"}),
	)
	ref := host + "/test/three:latest"
	imagetest.Push(t, ref, img)
	s := openStore(t, t.TempDir())
	if _, err := s.Pull(ctx, ref, image.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	root := r.Sysroot
	if readFile(t, filepath.Join(root, "etc/motd")) != "hello" {
		t.Error("etc/motd")
	}
	for _, gone := range []string{"etc/removed", "etc/.wh.removed", "var/cache/a", "var/cache/b", "var/cache/.wh..wh..opq"} {
		if _, err := os.Lstat(filepath.Join(root, gone)); err == nil {
			t.Errorf("%s survived", gone)
		}
	}
	if readFile(t, filepath.Join(root, "var/cache/fresh")) != "fresh" {
		t.Error("var/cache/fresh")
	}
	a, _ := os.Stat(filepath.Join(root, "usr/bin/python3.12"))
	b, err := os.Stat(filepath.Join(root, "usr/bin/python3"))
	if err != nil || !os.SameFile(a, b) {
		t.Errorf("hard link across layers: %v", err)
	}
}

func TestPullMultiArchIndex(t *testing.T) {
	host := imagetest.Registry(t)
	mk := func(arch string) v1.Image {
		return imagetest.Image(t, arch, []string{"/bin/" + arch},
			imagetest.Layer(t, E{Name: "etc/arch", Body: arch}, E{Name: "bin/" + arch, Body: "elf-" + arch, Mode: 0o755}))
	}
	amd, arm := mk("amd64"), mk("arm64")
	idx := imagetest.Index(t, amd, arm)
	ref := host + "/test/multi:1.0"
	imagetest.PushIndex(t, ref, idx)

	s := openStore(t, t.TempDir())
	p, err := image.ParsePlatform("linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Pull(ctx, ref, image.PullOptions{Platform: &p})
	if err != nil {
		t.Fatal(err)
	}
	armDigest, _ := arm.Digest()
	idxDigest, _ := idx.Digest()
	if e.Platform != "linux/arm64/v8" || e.Digest != armDigest.String() || e.IndexDigest != idxDigest.String() {
		t.Errorf("entry %+v", e)
	}
	r, err := s.Resolve(ref)
	if err != nil {
		t.Fatal(err)
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
	// Resolvable by the index digest too.
	if _, err := s.Resolve(host + "/test/multi@" + idxDigest.String()); err != nil {
		t.Error(err)
	}
	// The default is the host's platform.
	other := openStore(t, t.TempDir())
	e2, err := other.Pull(ctx, ref, image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e2.Platform, "linux/"+runtime.GOARCH) {
		t.Errorf("default platform pulled %s", e2.Platform)
	}
	// A platform the index lacks is an error naming what it has.
	bad := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v9"}
	if _, err := other.Pull(ctx, ref, image.PullOptions{Platform: &bad}); err == nil || !strings.Contains(err.Error(), "linux/amd64") {
		t.Errorf("missing platform: %v", err)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

func TestRemoveKeepsSharedLayer(t *testing.T) {
	host := imagetest.Registry(t)
	base := imagetest.Layer(t, E{Name: "lib/libc.so", Body: "libc"})
	a := imagetest.Image(t, runtime.GOARCH, []string{"/a"}, base, imagetest.Layer(t, E{Name: "a", Body: "a"}))
	b := imagetest.Image(t, runtime.GOARCH, []string{"/b"}, base, imagetest.Layer(t, E{Name: "b", Body: "b"}))
	imagetest.Push(t, host+"/test/a:1", a)
	imagetest.Push(t, host+"/test/b:1", b)
	s := openStore(t, t.TempDir())
	for _, r := range []string{host + "/test/a:1", host + "/test/b:1"} {
		if _, err := s.Pull(ctx, r, image.PullOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := blobCount(t, s); n != 7 {
		t.Errorf("%d blobs, want 7 (2 manifests, 2 configs, 3 layers)", n)
	}
	baseDigest, _ := base.Digest()
	removed, rep, err := s.Remove(host + "/test/a:1")
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || rep.Blobs != 3 || rep.Sysroots != 1 {
		t.Errorf("removed %v, report %+v; want 1 entry, 3 blobs, 1 sysroot", removed, rep)
	}
	if !hasBlob(s, baseDigest) {
		t.Fatal("shared layer removed")
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	rb, err := s.Resolve(host + "/test/b:1")
	if err != nil || readFile(t, filepath.Join(rb.Sysroot, "lib/libc.so")) != "libc" {
		t.Fatalf("b after removing a: %v", err)
	}
	if _, err := s.Resolve(host + "/test/a:1"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("a still resolves: %v", err)
	}
	if _, _, err := s.Remove(host + "/test/a:1"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("second remove: %v", err)
	}
	// Removing by ID removes the last one and frees everything.
	if _, _, err := s.Remove(rb.ID[7:19]); err != nil {
		t.Fatal(err)
	}
	if n := blobCount(t, s); n != 0 {
		t.Errorf("%d blobs left", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "sysroots")); len(ents) != 0 {
		t.Errorf("%d sysroots left", len(ents))
	}
}

func TestPruneRemovesLeftovers(t *testing.T) {
	host := imagetest.Registry(t)
	img := imagetest.Image(t, runtime.GOARCH, nil, imagetest.Layer(t, E{Name: "f", Body: "f"}))
	imagetest.Push(t, host+"/test/p:1", img)
	s := openStore(t, t.TempDir())
	if _, err := s.Pull(ctx, host+"/test/p:1", image.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	// What a killed pull leaves: a partial blob, a partial unpack, an orphan blob.
	os.WriteFile(filepath.Join(s.Dir(), "tmp", "blob-123"), []byte("partial"), 0o644)
	os.MkdirAll(filepath.Join(s.Dir(), "tmp", "unpack-456", "rootfs", "etc"), 0o755)
	orphan := strings.Repeat("ab", 32)
	os.WriteFile(filepath.Join(s.Dir(), "blobs", "sha256", orphan), []byte("orphan"), 0o444)
	rep, err := s.Prune()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blobs != 1 || rep.Temporary != 2 || rep.Sysroots != 0 {
		t.Errorf("report %+v", rep)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

func TestConcurrentPullsOfTheSameImage(t *testing.T) {
	host := imagetest.Registry(t)
	img := imagetest.Image(t, runtime.GOARCH, nil,
		imagetest.Layer(t, E{Name: "a/1", Body: strings.Repeat("1", 100000)}),
		imagetest.Layer(t, E{Name: "b/2", Body: strings.Repeat("2", 100000)}, E{Name: "a/.wh.1"}))
	ref := host + "/test/conc:1"
	imagetest.Push(t, ref, img)
	dir := t.TempDir()
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := image.Open(dir)
			if err == nil {
				_, err = s.Pull(ctx, ref, image.PullOptions{})
			}
			if err == nil && i%3 == 0 {
				_, err = s.Prune() // garbage collection racing with pulls
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("pull %d: %v", i, err)
		}
	}
	s := openStore(t, dir)
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	list, _ := s.List()
	if len(list) != 1 {
		t.Fatalf("%d images", len(list))
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "sysroots")); len(ents) != 1 {
		t.Errorf("%d sysroots", len(ents))
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(ents) != 0 {
		t.Errorf("tmp holds %d leftovers", len(ents))
	}
	r, err := s.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.Sysroot, "a/1")); err == nil {
		t.Error("whiteout not applied")
	}
	if fi, err := os.Stat(filepath.Join(r.Sysroot, "b/2")); err != nil || fi.Size() != 100000 {
		t.Errorf("b/2: %v", err)
	}
}

// corruptingRegistry serves blobs with one byte flipped.
func corruptingRegistry(t *testing.T) string {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:") {
			rec := httptest.NewRecorder()
			reg.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if len(body) > 0 {
				body[len(body)/2] ^= 0xff
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestCorruptBlobIsRefused(t *testing.T) {
	host := corruptingRegistry(t)
	img := imagetest.Image(t, runtime.GOARCH, nil, imagetest.Layer(t, E{Name: "f", Body: strings.Repeat("x", 5000)}))
	imagetest.Push(t, host+"/test/corrupt:1", img)
	s := openStore(t, t.TempDir())
	_, err := s.Pull(ctx, host+"/test/corrupt:1", image.PullOptions{Backoff: remote.Backoff{Steps: 1}})
	if err == nil {
		t.Fatal("corrupt blob accepted")
	}
	t.Logf("refused: %v", err)
	if n := blobCount(t, s); n != 0 {
		t.Errorf("%d blobs stored", n)
	}
	if list, _ := s.List(); len(list) != 0 {
		t.Errorf("image listed: %v", list)
	}
}

func TestRetriesTransientErrors(t *testing.T) {
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	var failures atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/") && failures.Add(1) <= 2 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img := imagetest.Image(t, runtime.GOARCH, nil, imagetest.Layer(t, E{Name: "f", Body: "f"}))
	failures.Store(-1000) // let the push through
	imagetest.Push(t, host+"/test/flaky:1", img)
	failures.Store(0)
	s := openStore(t, t.TempDir())
	bo := remote.Backoff{Duration: 10e6, Factor: 2, Steps: 4}
	if _, err := s.Pull(ctx, host+"/test/flaky:1", image.PullOptions{Backoff: bo}); err != nil {
		t.Fatalf("pull with 2 transient failures: %v", err)
	}
	if failures.Load() < 3 {
		t.Errorf("only %d manifest requests", failures.Load())
	}
}

func TestHostileImagesAreRefused(t *testing.T) {
	host := imagetest.Registry(t)
	sandbox := t.TempDir()
	outside := filepath.Join(sandbox, "outside")
	os.Mkdir(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
	storeDir := filepath.Join(sandbox, "store")
	// The sysroot is <store>/tmp/unpack-*/rootfs while unpacking, so
	// "../../../../outside" climbs from it to the sandbox.
	climb := "../../../../outside"
	cases := map[string][]v1.Layer{
		"dotdot":   {imagetest.Layer(t, E{Name: climb + "/pwned", Body: "x"})},
		"absolute": {imagetest.Layer(t, E{Name: outside + "/pwned", Body: "x"})},
		"symlink-then-write": {
			imagetest.Layer(t, E{Name: "escape", Type: tar.TypeSymlink, Link: outside}),
			imagetest.Layer(t, E{Name: "escape/pwned", Body: "x"}),
		},
		"relative-symlink-then-write": {
			imagetest.Layer(t, E{Name: "escape", Type: tar.TypeSymlink, Link: climb}),
			imagetest.Layer(t, E{Name: "escape/secret", Body: "overwritten"}),
		},
		"hardlink-outside": {imagetest.Layer(t, E{Name: "leak", Type: tar.TypeLink, Link: outside + "/secret"})},
		"sparse-bomb":      {imagetest.RawLayer(t, imagetest.SparseTar("huge", 1<<40))},
	}
	openStore(t, storeDir)
	before := snapshot(t, sandbox, storeDir)
	for name, layers := range cases {
		t.Run(name, func(t *testing.T) {
			ref := host + "/hostile/" + name + ":1"
			imagetest.Push(t, ref, imagetest.Image(t, runtime.GOARCH, nil, layers...))
			s := openStore(t, storeDir)
			s.Limits = rootfs.Limits{MaxBytes: 1 << 30}
			_, err := s.Pull(ctx, ref, image.PullOptions{})
			if err == nil {
				t.Fatal("hostile image pulled")
			}
			if !errors.Is(err, rootfs.ErrUnsafeEntry) && !errors.Is(err, rootfs.ErrLimit) {
				t.Errorf("unexpected error kind: %v", err)
			}
			t.Logf("refused: %v", err)
			if list, _ := s.List(); len(list) != 0 {
				t.Errorf("hostile image listed")
			}
			for _, sub := range []string{"sysroots", "tmp"} {
				if ents, _ := os.ReadDir(filepath.Join(storeDir, sub)); len(ents) != 0 {
					t.Errorf("%s holds %d entries after a refused pull", sub, len(ents))
				}
			}
		})
	}
	if after := snapshot(t, sandbox, storeDir); !reflect.DeepEqual(before, after) {
		t.Errorf("outside the store changed:\nbefore %v\nafter  %v", before, after)
	}
	if readFile(t, filepath.Join(outside, "secret")) != "secret" {
		t.Error("secret overwritten")
	}
	// Refused pulls leave only unreferenced blobs, which prune frees.
	s := openStore(t, storeDir)
	if _, err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	if n := blobCount(t, s); n != 0 {
		t.Errorf("%d blobs after prune", n)
	}
}

func snapshot(t *testing.T, dir, skip string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		out[p] = fmt.Sprintf("%v %v %d", fi.Mode(), fi.ModTime(), fi.Size())
		return nil
	})
	return out
}
