//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPullFixtureDeterministic builds a small fixture twice: the digests must be the same, the
// images must share their first four layers, and every probe file must be there.
func TestPullFixtureDeterministic(t *testing.T) {
	a, err := buildPullFixture(0.05)
	if err != nil {
		t.Fatal(err)
	}
	b, err := buildPullFixture(0.05)
	if err != nil {
		t.Fatal(err)
	}
	if a.A.digest != b.A.digest || a.B.digest != b.B.digest {
		t.Errorf("digests differ between builds: %s %s, %s %s", a.A.digest, b.A.digest, a.B.digest, b.B.digest)
	}
	if a.A.digest == a.B.digest || a.A.configHex == a.B.configHex {
		t.Error("images A and B are the same")
	}
	la, _ := a.A.img.Layers()
	lb, _ := a.B.img.Layers()
	if len(la) != 5 || len(lb) != 5 {
		t.Fatalf("%d and %d layers, want 5", len(la), len(lb))
	}
	for i := range 5 {
		da, _ := la[i].Digest()
		db, _ := lb[i].Digest()
		if (da == db) != (i < 4) {
			t.Errorf("layer %d: A %s, B %s", i, da, db)
		}
	}
	if len(a.A.check.sums) != len(probes) || len(a.A.check.symlinks) != len(probeLinks) {
		t.Errorf("probes found: %d files of %d, %d symlinks of %d", len(a.A.check.sums), len(probes),
			len(a.A.check.symlinks), len(probeLinks))
	}
	if a.A.check.sums["app/VERSION"] == a.B.check.sums["app/VERSION"] {
		t.Error("app/VERSION is the same in A and B")
	}
}

// TestTreeCheck extracts image A's layers in order with a minimal extractor and checks that the
// tree passes verify, and that a changed probe file or a missing file fails it.
func TestTreeCheck(t *testing.T) {
	fx, err := buildPullFixture(0.05)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, l := range fx.Layers[:5] {
		extract(t, l.gz, root)
	}
	if err := fx.A.check.verify(root); err != nil {
		t.Fatal(err)
	}
	if err := fx.B.check.verify(root); err == nil || !strings.Contains(err.Error(), "app/") {
		t.Errorf("A's tree passes B's check: %v", err)
	}
	if err := os.Remove(filepath.Join(root, "etc/hostname")); err != nil {
		t.Fatal(err)
	}
	if err := fx.A.check.verify(root); err == nil {
		t.Error("a missing file passes")
	}
}

func extract(t *testing.T, gz []byte, root string) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		case tar.TypeLink:
			err = os.Link(filepath.Join(root, h.Linkname), p)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				os.Remove(p)
				err = os.WriteFile(p, b, 0o644)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkPullFixture is how long generating the full fixture takes.
func BenchmarkPullFixture(b *testing.B) {
	for range b.N {
		fx, err := buildPullFixture(1)
		if err != nil {
			b.Fatal(err)
		}
		pi := fx.info()
		b.Logf("%s compressed, %s tar, %d files: %s", mb(pi.CompressedBytes), mb(pi.UncompressedBytes), pi.Files, pi.summary())
	}
}
