package image

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/elfuse/elfuse/rootfs"
)

// PruneReport tells what garbage collection freed.
type PruneReport struct {
	Blobs      int   // blobs removed
	Sysroots   int   // unpacked sysroots removed
	Temporary  int   // leftovers of interrupted pulls and dead containers removed
	BytesFreed int64 // size of the removed blobs
	// InUse counts the unreferenced sysroots kept because a running container uses them (they
	// go with a later prune).
	InUse int
}

// RemoveOptions configure RemoveImage.
type RemoveOptions struct {
	// Force removes the names of an image a running container uses. Its sysroot stays until
	// the last such container ends; a later prune frees it.
	Force bool
}

// Remove removes an image name (or all names of an image given by ID) and
// frees the blobs and sysroot no other name references. It returns the
// removed entries. An image a running container uses is refused (ErrInUse).
func (s *Store) Remove(ref string) ([]Entry, *PruneReport, error) {
	return s.RemoveImage(ref, RemoveOptions{})
}

// RemoveImage is Remove with options.
func (s *Store) RemoveImage(ref string, opts RemoveOptions) ([]Entry, *PruneReport, error) {
	l, err := s.storeLock(true)
	if err != nil {
		return nil, nil, err
	}
	defer l.unlock()
	var removed []Entry
	// held are the use locks of images losing their last name, taken exclusively: no container
	// of them can start until the sysroots are gone.
	held := map[string]*fileLock{}
	defer func() {
		for _, l := range held {
			l.unlock()
		}
	}()
	err = s.updateIndex(func(idx *indexFile) error {
		keys, err := find(idx, ref)
		if err != nil {
			return err
		}
		// A name removes that name only; an ID removes every name of it.
		if r, perr := name.ParseReference(ref); perr == nil {
			if _, ok := idx.Images[CanonicalName(r)]; ok {
				keys = []string{CanonicalName(r)}
			}
		}
		gone := map[string]bool{} // IDs whose last name goes
		for _, k := range keys {
			gone[idx.Images[k].ID] = true
		}
		for k, e := range idx.Images {
			if !slices.Contains(keys, k) {
				delete(gone, e.ID)
			}
		}
		for id := range gone {
			h, err := v1.NewHash(id)
			if err != nil {
				return fmt.Errorf("image %s: %w", id, err)
			}
			hl, err := s.holdIfUnused(h.Hex)
			if err != nil {
				return err
			}
			if hl == nil {
				if !opts.Force {
					return fmt.Errorf("cannot remove %s (image %s): %w; stop the container first, or use --force to remove the name and keep the sysroot until it ends",
						ref, shortHex(h.Hex), ErrInUse)
				}
				continue
			}
			held[h.Hex] = hl
		}
		for _, k := range keys {
			removed = append(removed, *idx.Images[k])
			delete(idx.Images, k)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	rep, err := s.collect(held)
	if err != nil {
		return removed, nil, err
	}
	return removed, rep, nil
}

// Prune frees every blob and sysroot no image name references, and the
// leftovers of interrupted pulls.
func (s *Store) Prune() (*PruneReport, error) {
	l, err := s.storeLock(true)
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	return s.collect(nil)
}

func shortHex(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// referenced returns the blob digests (hex) and sysroot IDs (hex) the index
// references.
func (s *Store) referenced(idx *indexFile) (map[string]bool, map[string]bool, error) {
	blobs, roots := map[string]bool{}, map[string]bool{}
	for _, e := range idx.Images {
		for _, d := range []string{e.Digest, e.IndexDigest, e.ID} {
			if d == "" {
				continue
			}
			h, err := v1.NewHash(d)
			if err != nil {
				return nil, nil, fmt.Errorf("image %s: %w", e.Name, err)
			}
			blobs[h.Hex] = true
		}
		h, _ := v1.NewHash(e.ID)
		roots[h.Hex] = true
		m, err := s.manifest(e.Digest)
		if err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", e.Name, err)
		}
		for _, l := range m.Layers {
			blobs[l.Digest.Hex] = true
		}
	}
	return blobs, roots, nil
}

func (s *Store) manifest(digest string) (*v1.Manifest, error) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return nil, err
	}
	p, err := s.blobPath(h)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", digest, err)
	}
	return m, nil
}

// collect removes unreferenced blobs and sysroots but those running containers use; the caller
// holds the exclusive store lock, so no pull is in progress, and the use locks in held
// (by sysroot hex), exclusively.
func (s *Store) collect(given map[string]*fileLock) (*PruneReport, error) {
	held := maps.Clone(given) // and the use locks taken here, released on return
	if held == nil {
		held = map[string]*fileLock{}
	}
	defer func() {
		for id, l := range held {
			if given[id] == nil {
				l.unlock()
			}
		}
	}()
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	blobs, roots, err := s.referenced(idx)
	if err != nil {
		return nil, fmt.Errorf("garbage collection: %w", err)
	}
	rep := &PruneReport{}
	var errs []error
	bdir := filepath.Join(s.dir, "blobs", "sha256")
	ents, err := os.ReadDir(bdir)
	if err != nil {
		return nil, fmt.Errorf("garbage collection: %w", err)
	}
	for _, de := range ents {
		if blobs[de.Name()] {
			continue
		}
		if fi, err := de.Info(); err == nil {
			rep.BytesFreed += fi.Size()
		}
		if err := os.Remove(filepath.Join(bdir, de.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Blobs++
	}
	vol, err := s.volume()
	if err != nil {
		return nil, fmt.Errorf("garbage collection: %w", err)
	}
	sdir := filepath.Join(vol, "sysroots")
	ents, err = os.ReadDir(sdir)
	if err != nil {
		return nil, fmt.Errorf("garbage collection: %w", err)
	}
	for _, de := range ents {
		if roots[de.Name()] {
			continue
		}
		if held[de.Name()] == nil {
			hl, err := s.holdIfUnused(de.Name())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if hl == nil {
				rep.InUse++
				continue
			}
			held[de.Name()] = hl
		}
		if err := rootfs.RemoveAll(filepath.Join(sdir, de.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		rep.Sysroots++
	}
	n, err := s.staleContainers()
	rep.Temporary += n
	if err != nil {
		errs = append(errs, err)
	}
	tmps := []string{filepath.Join(s.dir, "tmp")}
	if vol != s.dir {
		tmps = append(tmps, filepath.Join(vol, "tmp"))
	}
	for _, d := range append(tmps, filepath.Join(s.dir, "locks")) {
		sub := filepath.Base(d)
		ents, err = os.ReadDir(d)
		if err != nil {
			return nil, fmt.Errorf("garbage collection: %w", err)
		}
		for _, de := range ents {
			if sub == "locks" && de.Name() == "index.lock" {
				continue
			}
			if sub == "locks" && strings.HasPrefix(de.Name(), "use-") {
				// A use lock goes only with its sysroot, and only while nobody holds it (a
				// container starting now would otherwise hold a lock rmi cannot see).
				id := strings.TrimSuffix(strings.TrimPrefix(de.Name(), "use-"), ".lock")
				if _, err := os.Lstat(filepath.Join(sdir, id)); err == nil {
					continue
				}
				if held[id] == nil {
					hl, err := s.holdIfUnused(id)
					if err != nil || hl == nil {
						continue
					}
					held[id] = hl
				}
			}
			if err := rootfs.RemoveAll(filepath.Join(d, de.Name())); err != nil {
				errs = append(errs, err)
				continue
			}
			if sub == "tmp" {
				rep.Temporary++
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("garbage collection: %w", err)
	}
	return rep, nil
}

// Check verifies the store's consistency: every name's manifest, config and
// layers are present with the right digests, and its sysroot is complete.
func (s *Store) Check() error {
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	var errs []error
	for k, e := range idx.Images {
		m, err := s.manifest(e.Digest)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		if m.Config.Digest.String() != e.ID {
			errs = append(errs, fmt.Errorf("%s: manifest config %s differs from ID %s", k, m.Config.Digest, e.ID))
		}
		ds := []v1.Hash{m.Config.Digest}
		for _, l := range m.Layers {
			ds = append(ds, l.Digest)
		}
		for _, d := range ds {
			if err := s.verifyBlob(d); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
			}
		}
		dir, err := s.sysrootDir(e.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "meta.json")); err != nil {
			errs = append(errs, fmt.Errorf("%s: sysroot incomplete: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Store) verifyBlob(d v1.Hash) error {
	p, err := s.blobPath(d)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	if got := sha256Hash(b); got != d {
		return fmt.Errorf("blob %s is corrupt (hashes to %s)", d, got)
	}
	return nil
}
