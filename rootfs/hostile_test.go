package rootfs_test

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/elfuse/elfuse/image/imagetest"
	"github.com/elfuse/elfuse/rootfs"
)

// HostileCase is one layer stack that tries to reach outside the root.
// outside is an absolute directory beside the root holding a file "secret";
// rel is the same directory relative to the root ("../outside").
type hostileCase struct {
	name   string
	layers func(t *testing.T, outside, rel string) [][]byte
	limit  bool // refused by a limit rather than by path safety
}

func tars(t *testing.T, layers ...[]E) [][]byte {
	var out [][]byte
	for _, l := range layers {
		out = append(out, imagetest.Tar(t, l...))
	}
	return out
}

// HostileCases is the corpus of layers that must be refused.
func hostileCases() []hostileCase {
	return []hostileCase{
		{name: "dotdot file", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: rel + "/pwned", Body: "x"}})
		}},
		{name: "dotdot inside name", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: "a/b/../../" + rel + "/pwned", Body: "x"}})
		}},
		{name: "dotdot dir", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: rel + "/newdir/"}})
		}},
		{name: "absolute file", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: o + "/pwned", Body: "x"}})
		}},
		{name: "absolute symlink entry name", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: o + "/lnk", Type: tar.TypeSymlink, Link: "/"}})
		}},
		{name: "symlink in lower layer to absolute outside, then write through it", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: "escape", Type: tar.TypeSymlink, Link: o}}, []E{{Name: "escape/pwned", Body: "x"}})
		}},
		{name: "symlink in lower layer climbing out, then write through it", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: "a/"}, {Name: "a/escape", Type: tar.TypeSymlink, Link: "../" + rel}}, []E{{Name: "a/escape/pwned", Body: "x"}})
		}},
		{name: "symlink then write in the same layer", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: "escape", Type: tar.TypeSymlink, Link: rel}, {Name: "escape/pwned", Body: "x"}})
		}},
		{name: "symlink then overwrite existing outside file", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: "escape", Type: tar.TypeSymlink, Link: o}}, []E{{Name: "escape/secret", Body: "overwritten"}})
		}},
		{name: "symlink chain out", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: "d/"}, {Name: "d/up", Type: tar.TypeSymlink, Link: ".."}, {Name: "a", Type: tar.TypeSymlink, Link: "d/up/d/up/" + rel}},
				[]E{{Name: "a/pwned", Body: "x"}})
		}},
		{name: "symlink then mkdir through it", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: "escape", Type: tar.TypeSymlink, Link: o}}, []E{{Name: "escape/newdir/"}})
		}},
		{name: "symlink then whiteout through it", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: "escape", Type: tar.TypeSymlink, Link: o}}, []E{{Name: "escape/.wh.secret"}})
		}},
		{name: "symlink then opaque through it", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: "escape", Type: tar.TypeSymlink, Link: o}}, []E{{Name: "escape/.wh..wh..opq"}})
		}},
		{name: "whiteout climbing out", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: rel + "/.wh.secret"}})
		}},
		{name: "hard link to outside by dotdot", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: "leak", Type: tar.TypeLink, Link: rel + "/secret"}})
		}},
		{name: "hard link to outside by absolute name", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: "leak", Type: tar.TypeLink, Link: o + "/secret"}})
		}},
		{name: "hard link through a symlink to outside", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: "escape", Type: tar.TypeSymlink, Link: o}}, []E{{Name: "leak", Type: tar.TypeLink, Link: "escape/secret"}})
		}},
		{name: "device node climbing out", layers: func(t *testing.T, o, rel string) [][]byte {
			return tars(t, []E{{Name: rel + "/null", Type: tar.TypeChar, Major: 1, Minor: 3}})
		}},
		{name: "huge sparse file", limit: true, layers: func(t *testing.T, o, rel string) [][]byte {
			return [][]byte{imagetest.SparseTar("huge", 1<<40)}
		}},
	}
}

func TestHostileLayersAreRefused(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
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
			before := snapshot(t, sandbox, root)
			_, err := unpack(t, root, rootfs.Options{Limits: rootfs.Limits{MaxBytes: 64 << 20}}, tc.layers(t, outside, "../outside")...)
			if err == nil {
				t.Fatal("hostile layer was accepted")
			}
			want := rootfs.ErrUnsafeEntry
			if tc.limit {
				want = rootfs.ErrLimit
			}
			if !errors.Is(err, want) {
				t.Errorf("error %q does not wrap %v", err, want)
			}
			t.Logf("refused: %v", err)
			if after := snapshot(t, sandbox, root); !reflect.DeepEqual(before, after) {
				t.Errorf("something outside the root changed:\nbefore %v\nafter  %v", before, after)
			}
			if _, err := os.Lstat(filepath.Join(root, "leak")); err == nil {
				t.Error("hard link to outside was created")
			}
		})
	}
}
