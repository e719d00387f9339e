package rootfs_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/elfuse/elfuse/image/imagetest"
	"github.com/elfuse/elfuse/rootfs"
)

// FuzzUnpackPaths unpacks two layers whose entry names, link targets and
// types come from the fuzzer, and checks that nothing outside the root
// changes and that accepted names are local. "$OUT" in a string stands for
// the absolute path of a directory beside the root.
func FuzzUnpackPaths(f *testing.F) {
	// The seed corpus lives in testdata/fuzz/FuzzUnpackPaths; a few more here.
	f.Add("a/b", byte('2'), "../outside", "a/b/c", byte('0'), "")
	f.Add("x", byte('1'), "$OUT/secret", "y", byte('2'), "$OUT")
	f.Add("./lib", byte('2'), "usr/lib", "lib/x", byte('0'), "")
	f.Fuzz(func(t *testing.T, name1 string, type1 byte, link1, name2 string, type2 byte, link2 string) {
		if len(name1)+len(link1)+len(name2)+len(link2) > 512 {
			return
		}
		if clean, err := rootfs.CleanName(name1); err == nil && !filepath.IsLocal(clean) && clean != "." {
			t.Fatalf("CleanName(%q) = %q, not local", name1, clean)
		}
		sandbox := t.TempDir()
		root := filepath.Join(sandbox, "root")
		outside := filepath.Join(sandbox, "outside")
		for _, d := range []string{root, outside} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		sub := func(s string) string { return strings.ReplaceAll(s, "$OUT", outside) }
		layer := func(name string, typ byte, link string) []byte {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			hdr := &tar.Header{Name: sub(name), Linkname: sub(link), Mode: 0o755, Format: tar.FormatPAX, ModTime: imagetest.MTime}
			switch typ % 6 {
			case 0:
				hdr.Typeflag, hdr.Size = tar.TypeReg, 4
			case 1:
				hdr.Typeflag = tar.TypeLink
			case 2:
				hdr.Typeflag = tar.TypeSymlink
			case 3:
				hdr.Typeflag = tar.TypeDir
			case 4:
				hdr.Typeflag = tar.TypeFifo
			case 5:
				hdr.Typeflag, hdr.Size = tar.TypeReg, 4
				hdr.Name = sub(name) + "/.wh." + filepath.Base(sub(link))
			}
			if tw.WriteHeader(hdr) != nil {
				return nil
			}
			if hdr.Size > 0 {
				tw.Write([]byte("data"))
			}
			tw.Close()
			return buf.Bytes()
		}
		l1, l2 := layer(name1, type1, link1), layer(name2, type2, link2)
		if l1 == nil || l2 == nil {
			return
		}
		before := snapshot(t, sandbox, root)
		u, err := rootfs.NewUnpacker(root, rootfs.Options{Limits: rootfs.Limits{MaxBytes: 1 << 20, MaxEntries: 100}})
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Apply(context.Background(), bytes.NewReader(l1)); err == nil {
			if err := u.Apply(context.Background(), bytes.NewReader(l2)); err == nil {
				if _, err := u.Finish(); err != nil {
					t.Logf("finish: %v", err)
				}
			}
		}
		if after := snapshot(t, sandbox, root); !reflect.DeepEqual(before, after) {
			t.Fatalf("outside of the root changed:\nbefore %v\nafter  %v", before, after)
		}
		// Nothing in the root may be a hard link to the outside secret.
		sfi, _ := os.Stat(filepath.Join(outside, "secret"))
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err == nil && os.SameFile(fi, sfi) {
				t.Fatalf("%s is the outside secret", p)
			}
			return nil
		})
	})
}
