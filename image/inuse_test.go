package image_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/elfuse/elfuse/image"
	"github.com/elfuse/elfuse/image/imagetest"
)

// TestRemoveImageInUse: rmi refuses an image a running container holds, --force removes the name
// but keeps the sysroot until the container ends, and prune frees it afterwards; a container of
// a removed image cannot start; prune removes the directories of dead containers only.
func TestRemoveImageInUse(t *testing.T) {
	host := imagetest.Registry(t)
	img := imagetest.Image(t, runtime.GOARCH, []string{"/bin/sh"}, imagetest.Layer(t, E{Name: "bin/sh", Body: "sh", Mode: 0o755}))
	ref := host + "/test/inuse:1"
	imagetest.Push(t, ref, img)
	s := openStore(t, t.TempDir())
	if _, err := s.Pull(ctx, ref, image.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.NewContainer(res)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(c.Dir); err != nil || !fi.IsDir() {
		t.Fatalf("container dir: %v", err)
	}

	// Refused while the container runs, and nothing changes.
	_, _, err = s.Remove(ref)
	if !errors.Is(err, image.ErrInUse) {
		t.Fatalf("remove of an image in use: %v, want ErrInUse", err)
	}
	if !strings.Contains(err.Error(), "--force") {
		t.Errorf("error does not say how to force it: %v", err)
	}
	t.Logf("refused: %v", err)
	if list, _ := s.List(); len(list) != 1 {
		t.Fatalf("images after a refused rmi: %v", list)
	}
	// A prune keeps it too (it is named) and keeps the running container's directory.
	if _, err := s.Prune(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir); err != nil {
		t.Fatalf("prune removed a running container's directory: %v", err)
	}

	// Forced: the name goes, the sysroot stays while the container runs.
	removed, rep, err := s.RemoveImage(ref, image.RemoveOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || rep.InUse != 1 || rep.Sysroots != 0 {
		t.Errorf("forced remove: removed %v, report %+v; want 1 entry, 1 sysroot kept", removed, rep)
	}
	if _, err := os.Stat(filepath.Join(res.Sysroot, "bin", "sh")); err != nil {
		t.Fatalf("sysroot of a running container removed: %v", err)
	}
	if _, err := s.Resolve(ref); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("name still resolves: %v", err)
	}
	// While the sysroot is kept, a container resolved before the removal may still start
	// (docker runs a container of an untagged image too); a prune keeps the sysroot for both.
	c2, err := s.NewContainer(res)
	if err != nil {
		t.Fatalf("second container of the kept sysroot: %v", err)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("container dir after Release: %v", err)
	}
	if rep, err := s.Prune(); err != nil || rep.InUse != 1 {
		t.Fatalf("prune with one container left: %+v, %v; want the sysroot kept", rep, err)
	}

	// The last container ends: the next prune frees the sysroot.
	if err := c2.Release(); err != nil {
		t.Fatal(err)
	}
	rep2, err := s.Prune()
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Sysroots != 1 || rep2.InUse != 0 {
		t.Errorf("prune after the container ended: %+v, want 1 sysroot freed", rep2)
	}
	if _, err := os.Stat(res.Sysroot); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sysroot after prune: %v", err)
	}
	if _, err := s.NewContainer(res); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("container of a removed image: %v, want ErrNotFound", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), "containers")); len(ents) != 0 {
		t.Errorf("container directories left: %d", len(ents))
	}
}

// TestRemoveAfterContainerEnds: with the container released, rmi removes the image as usual;
// prune removes what a killed container left.
func TestRemoveAfterContainerEnds(t *testing.T) {
	host := imagetest.Registry(t)
	img := imagetest.Image(t, runtime.GOARCH, nil, imagetest.Layer(t, E{Name: "f", Body: "f"}))
	ref := host + "/test/ended:1"
	imagetest.Push(t, ref, img)
	s := openStore(t, t.TempDir())
	if _, err := s.Pull(ctx, ref, image.PullOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.NewContainer(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	// What a killed `elfuse run` leaves: its directory, unlocked. Prune removes it.
	dead := filepath.Join(s.Dir(), "containers", "c-dead")
	if err := os.MkdirAll(filepath.Join(dead, "rootfs", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if rep, err := s.Prune(); err != nil || rep.Temporary != 1 {
		t.Errorf("prune of a dead container: %+v, %v", rep, err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("dead container dir: %v", err)
	}
	_, rep, err := s.Remove(ref)
	if err != nil {
		t.Fatalf("remove after the container ended: %v", err)
	}
	if rep.Sysroots != 1 {
		t.Errorf("report %+v, want 1 sysroot", rep)
	}
}
