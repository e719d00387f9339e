package image_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"

	"github.com/elfuse/elfuse/image"
	"github.com/elfuse/elfuse/image/imagetest"
	"github.com/elfuse/elfuse/rootfs"
)

// rootTar is a small root file system as `tar -C root -cf - .` writes it.
func rootTar(t *testing.T) []byte {
	return imagetest.Tar(t,
		E{Name: "./"}, E{Name: "./bin/"},
		E{Name: "./bin/busybox", Body: "\x7fELF busybox", Mode: 0o755},
		E{Name: "./bin/sh", Type: tar.TypeSymlink, Link: "busybox"},
		E{Name: "./bin/ls", Type: tar.TypeLink, Link: "./bin/busybox"},
		E{Name: "./etc/"}, E{Name: "./etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\n"},
		E{Name: "./tmp/", Mode: 0o1777}, E{Name: "./root/", Mode: 0o700},
	)
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImportPlainGzipAndZstd(t *testing.T) {
	s := openStore(t, t.TempDir())
	raw := rootTar(t)
	e, err := s.Import(ctx, bytes.NewReader(raw), "busybox", image.ImportOptions{
		Changes: []string{`CMD ["/bin/sh"]`, "ENV PATH=/bin HOME=/root", "WORKDIR /root", "LABEL org.example.a=b,c"},
		Message: "test import",
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "docker.io/library/busybox:latest" || e.Repository != "docker.io/library/busybox" || e.Tag != "latest" ||
		e.Platform != "linux/"+runtime.GOARCH || e.IndexDigest != "" {
		t.Errorf("entry %+v", e)
	}
	r, err := s.Resolve("busybox")
	if err != nil {
		t.Fatal(err)
	}
	want := image.Config{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin", "HOME=/root"}, WorkingDir: "/root",
		Labels: map[string]string{"org.example.a": "b,c"}}
	if !reflect.DeepEqual(r.Config, want) {
		t.Errorf("config %+v, want %+v", r.Config, want)
	}
	root := r.Sysroot
	if readFile(t, filepath.Join(root, "bin/busybox")) != "\x7fELF busybox" || readFile(t, filepath.Join(root, "etc/passwd")) == "" {
		t.Error("files missing")
	}
	if l, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh -> %q: %v", l, err)
	}
	a, _ := os.Stat(filepath.Join(root, "bin/busybox"))
	b, err := os.Stat(filepath.Join(root, "bin/ls"))
	if err != nil || !os.SameFile(a, b) {
		t.Errorf("hard link: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || fi.Mode()&os.ModeSticky == 0 {
		t.Errorf("tmp mode: %v %v", fi, err)
	}
	if e.Size != int64(len("\x7fELF busybox")+len("root:x:0:0:root:/root:/bin/sh\n")) {
		t.Errorf("size %d", e.Size)
	}

	// gzip and zstd input give the same layer (it is re-compressed) and
	// --platform sets the config's platform.
	arm := v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	g, err := s.Import(ctx, bytes.NewReader(gzipped(t, raw)), "example.com/team/root:gz", image.ImportOptions{Platform: &arm})
	if err != nil {
		t.Fatal(err)
	}
	if g.Platform != "linux/arm64/v8" || g.Tag != "gz" {
		t.Errorf("gzip entry %+v", g)
	}
	var zbuf bytes.Buffer
	zw, _ := zstd.NewWriter(&zbuf)
	zw.Write(raw)
	zw.Close()
	z, err := s.Import(ctx, &zbuf, "", image.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if z.Name != "" {
		t.Errorf("unnamed import named %q", z.Name)
	}
	layers := func(e *image.Entry) []v1.Descriptor {
		b, err := os.ReadFile(filepath.Join(s.Dir(), "blobs", "sha256", strings.TrimPrefix(e.Digest, "sha256:")))
		if err != nil {
			t.Fatal(err)
		}
		m, err := v1.ParseManifest(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return m.Layers
	}
	l1, l2, l3 := layers(e), layers(g), layers(z)
	if len(l1) != 1 || l1[0].Digest != l2[0].Digest || l1[0].Digest != l3[0].Digest || l1[0].MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
		t.Errorf("layers differ: %v %v %v", l1, l2, l3)
	}
	if _, err := s.Resolve(z.ID); err != nil {
		t.Errorf("unnamed image by ID: %v", err)
	}
	list, err := s.List()
	if err != nil || len(list) != 3 {
		t.Fatalf("list %v: %v", list, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}

	// Removable like a pulled image; the shared layer stays for the others.
	if _, _, err := s.Remove("busybox"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve("busybox"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("removed image resolves: %v", err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"example.com/team/root:gz", z.ID} {
		if _, _, err := s.Remove(ref); err != nil {
			t.Fatal(err)
		}
	}
	if n := blobCount(t, s); n != 0 {
		t.Errorf("%d blobs left", n)
	}
}

func TestImportRefusesHostileTar(t *testing.T) {
	sandbox := t.TempDir()
	outside := filepath.Join(sandbox, "outside")
	os.Mkdir(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
	storeDir := filepath.Join(sandbox, "store")
	climb := "../../../../outside"
	cases := map[string][]byte{
		"dotdot":                      imagetest.Tar(t, E{Name: climb + "/pwned", Body: "x"}),
		"absolute":                    imagetest.Tar(t, E{Name: outside + "/pwned", Body: "x"}),
		"symlink-then-write":          imagetest.Tar(t, E{Name: "escape", Type: tar.TypeSymlink, Link: outside}, E{Name: "escape/pwned", Body: "x"}),
		"relative-symlink-then-write": imagetest.Tar(t, E{Name: "escape", Type: tar.TypeSymlink, Link: climb}, E{Name: "escape/secret", Body: "overwritten"}),
		"hardlink-outside":            imagetest.Tar(t, E{Name: "leak", Type: tar.TypeLink, Link: outside + "/secret"}),
		"sparse-bomb":                 imagetest.SparseTar("huge", 1<<40),
	}
	openStore(t, storeDir)
	before := snapshot(t, sandbox, storeDir)
	for name, tarBytes := range cases {
		t.Run(name, func(t *testing.T) {
			s := openStore(t, storeDir)
			s.Limits = rootfs.Limits{MaxBytes: 1 << 30}
			_, err := s.Import(ctx, bytes.NewReader(gzipped(t, tarBytes)), "hostile/"+name, image.ImportOptions{})
			if err == nil {
				t.Fatal("hostile tar imported")
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
					t.Errorf("%s holds %d entries after a refused import", sub, len(ents))
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
	s := openStore(t, storeDir)
	if _, err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	if n := blobCount(t, s); n != 0 {
		t.Errorf("%d blobs after prune", n)
	}
}

func TestImportDecompressionBombIsBounded(t *testing.T) {
	// A tar of 96 MiB of zeros gzips to about 100 KiB. With a 1 MiB limit
	// the stream budget (limit + 25% + 64 MiB) stops the import while it
	// reads the input, before anything is stored.
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	const size = 96 << 20
	tw.WriteHeader(&tar.Header{Name: "zeros", Mode: 0o644, Size: size, Typeflag: tar.TypeReg})
	zeros := make([]byte, 1<<20)
	for i := 0; i < size/len(zeros); i++ {
		tw.Write(zeros)
	}
	tw.Close()
	zw.Close()
	s := openStore(t, t.TempDir())
	s.Limits = rootfs.Limits{MaxBytes: 1 << 20}
	_, err := s.Import(ctx, &buf, "bomb", image.ImportOptions{})
	if !errors.Is(err, rootfs.ErrLimit) {
		t.Fatalf("bomb: %v", err)
	}
	t.Logf("refused: %v", err)
	if n := blobCount(t, s); n != 0 {
		t.Errorf("%d blobs stored", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(ents) != 0 {
		t.Errorf("tmp holds %d entries", len(ents))
	}
}

func TestImportRejectsBadInput(t *testing.T) {
	s := openStore(t, t.TempDir())
	raw := rootTar(t)
	cases := []struct {
		name  string
		input []byte
		ref   string
		opts  image.ImportOptions
		want  string
	}{
		{"empty", nil, "x", image.ImportOptions{}, "empty input"},
		{"not-tar", []byte(strings.Repeat("hello world\n", 100)), "x", image.ImportOptions{}, "not a tar"},
		{"xz", append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, raw...), "x", image.ImportOptions{}, "xz"},
		{"bad-gzip", append([]byte{0x1f, 0x8b}, raw...), "x", image.ImportOptions{}, "gzip"},
		{"digest-name", raw, "x@sha256:" + strings.Repeat("a", 64), image.ImportOptions{}, "digest"},
		{"bad-name", raw, "UPPER/case", image.ImportOptions{}, "reference"},
		{"bad-change", raw, "x", image.ImportOptions{Changes: []string{"RUN rm -rf /"}}, "unsupported instruction RUN"},
		{"windows", raw, "x", image.ImportOptions{Platform: &v1.Platform{OS: "windows", Architecture: "amd64"}}, "linux"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Import(ctx, bytes.NewReader(c.input), c.ref, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if n := blobCount(t, s); n != 0 {
		t.Errorf("%d blobs stored", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "tmp")); len(ents) != 0 {
		t.Errorf("tmp holds %d entries", len(ents))
	}
}
