package rootfs

import (
	"errors"
	"io/fs"
	"reflect"
	"testing"
)

func TestSparseBundleArgs(t *testing.T) {
	b := SparseBundleFor("/Users/me/sysroot/")
	if b.Image != "/Users/me/sysroot.sparsebundle" || b.MountPoint != "/Users/me/sysroot" {
		t.Fatalf("bundle for /Users/me/sysroot/: %+v", b)
	}
	want := map[string][]string{
		"create": {"hdiutil", "create", "-type", "SPARSEBUNDLE", "-fs", "Case-sensitive APFS", "-size", "64g", "-volname", "sysroot", "/Users/me/sysroot.sparsebundle"},
		"attach": {"hdiutil", "attach", "-nobrowse", "-mountpoint", "/Users/me/sysroot", "/Users/me/sysroot.sparsebundle"},
		"detach": {"hdiutil", "detach", "/Users/me/sysroot"},
	}
	got := map[string][]string{"create": b.CreateArgs(), "attach": b.AttachArgs(), "detach": b.DetachArgs()}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("argument vectors:\n got %q\nwant %q", got, want)
	}
	b2 := SparseBundle{Image: "/s/img.sparsebundle", MountPoint: "/s/vol", Size: "512g", VolumeName: "elfuse images"}
	if a := b2.CreateArgs(); !reflect.DeepEqual(a, []string{"hdiutil", "create", "-type", "SPARSEBUNDLE", "-fs", "Case-sensitive APFS",
		"-size", "512g", "-volname", "elfuse images", "/s/img.sparsebundle"}) {
		t.Errorf("create with size and name: %q", a)
	}
}

// fakeHost records the commands and answers from maps.
type fakeHost struct {
	existing map[string]bool
	mounted  map[string]bool
	failOn   string // the hdiutil verb that fails
	ran      [][]string
	made     []string
}

func (h *fakeHost) exists(p string) (bool, error) { return h.existing[p], nil }
func (h *fakeHost) mountedAt(p string) (bool, error) {
	if !h.existing[p] {
		return false, &fs.PathError{Op: "statfs", Path: p, Err: fs.ErrNotExist}
	}
	return h.mounted[p], nil
}
func (h *fakeHost) mkdirAll(p string) error {
	h.made = append(h.made, p)
	h.existing[p] = true
	return nil
}
func (h *fakeHost) run(argv []string) error {
	h.ran = append(h.ran, argv)
	if argv[1] == h.failOn {
		return errors.New("hdiutil: " + argv[1] + " failed")
	}
	switch argv[1] {
	case "create":
		h.existing[argv[len(argv)-1]] = true
	case "attach":
		h.mounted[argv[4]] = true
	}
	return nil
}

func TestEnsureSparseBundle(t *testing.T) {
	b := SparseBundleFor("/work/sr")
	create, attach := b.CreateArgs(), b.AttachArgs()

	// First use: create, then attach.
	h := &fakeHost{existing: map[string]bool{"/work": true}, mounted: map[string]bool{}}
	ran, err := ensureSparseBundle(h, b)
	if err != nil || !reflect.DeepEqual(ran, [][]string{create, attach}) {
		t.Fatalf("first use: ran %q, %v", ran, err)
	}
	// Attached already: nothing to do.
	if ran, err := ensureSparseBundle(h, b); err != nil || len(ran) != 0 {
		t.Fatalf("already attached: ran %q, %v", ran, err)
	}
	// Made before but detached: attach only.
	h.mounted = map[string]bool{}
	if ran, err := ensureSparseBundle(h, b); err != nil || !reflect.DeepEqual(ran, [][]string{attach}) {
		t.Fatalf("detached: ran %q, %v", ran, err)
	}
	// A failing create stops before attach and says so.
	h = &fakeHost{existing: map[string]bool{}, mounted: map[string]bool{}, failOn: "create"}
	if ran, err := ensureSparseBundle(h, b); err == nil || len(ran) != 1 {
		t.Fatalf("failing create: ran %q, %v", ran, err)
	}
	// The image name must end in .sparsebundle (hdiutil would add it and attach would miss).
	if _, err := ensureSparseBundle(h, SparseBundle{Image: "/x/img", MountPoint: "/x/m"}); err == nil {
		t.Error("image without .sparsebundle accepted")
	}
}
