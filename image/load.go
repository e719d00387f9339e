package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// LoadOptions configure Load.
type LoadOptions struct {
	// Platform selects from multi-platform indexes; nil means the host's.
	Platform *v1.Platform
}

// Annotations naming the images of an OCI layout.
const (
	annotationRefName        = "org.opencontainers.image.ref.name"
	annotationContainerdName = "io.containerd.image.name"
)

// maxArchiveMember bounds a single file extracted from an OCI layout archive.
const maxArchiveMember = 64 << 30

// Load adds the images of an OCI image layout (a directory, or a tar of one
// as `docker save` writes since Docker 25) or of a classic `docker save`
// archive (manifest.json) to the store, and returns their entries.
func (s *Store) Load(ctx context.Context, file string, opts LoadOptions) ([]Entry, error) {
	l, err := s.storeLock(false)
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	fi, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if fi.IsDir() {
		return s.loadLayout(ctx, file, opts)
	}
	members, err := tarMembers(file)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	switch {
	case members["oci-layout"] && members["index.json"]:
		tmp, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "load-")
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		defer os.RemoveAll(tmp)
		if err := extractLayout(file, tmp); err != nil {
			return nil, fmt.Errorf("load %s: %w", file, err)
		}
		return s.loadLayout(ctx, tmp, opts)
	case members["manifest.json"]:
		return s.loadDockerArchive(ctx, file)
	default:
		return nil, fmt.Errorf("load %s: neither an OCI layout nor a docker save archive", file)
	}
}

func tarMembers(file string) (map[string]bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		out[path.Clean(strings.TrimPrefix(hdr.Name, "./"))] = true
	}
}

// extractLayout extracts the parts of an OCI layout (oci-layout, index.json,
// blobs/<alg>/<hex>) as regular files, ignoring everything else.
func extractLayout(file, dst string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
			continue
		}
		n := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		parts := strings.Split(n, "/")
		ok := n == "oci-layout" || n == "index.json" ||
			(len(parts) == 3 && parts[0] == "blobs" && isWord(parts[1]) && isWord(parts[2]))
		if !ok {
			continue
		}
		if hdr.Size > maxArchiveMember {
			return fmt.Errorf("archive member %s too large", n)
		}
		out := filepath.Join(dst, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		w, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, io.LimitReader(tr, hdr.Size))
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w", n, err)
		}
	}
}

func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '+') {
			return false
		}
	}
	return true
}

// layoutName names an image of an OCI layout from its annotations; a bare
// tag (as `docker save` writes in org.opencontainers.image.ref.name) is not a
// name on its own.
func layoutName(ann map[string]string) (name.Reference, bool) {
	for _, k := range []string{annotationContainerdName, annotationRefName} {
		v := ann[k]
		if v == "" || (k == annotationRefName && !strings.ContainsAny(v, "/:@")) {
			continue
		}
		if r, err := name.ParseReference(v); err == nil {
			return r, true
		}
	}
	return nil, false
}

func (s *Store) loadLayout(ctx context.Context, dir string, opts LoadOptions) ([]Entry, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", dir, err)
	}
	want, explicit := HostPlatform(), false
	if opts.Platform != nil {
		want, explicit = *opts.Platform, true
	}
	var out []Entry
	for _, d := range im.Manifests {
		src := source{manifestDigest: d.Digest}
		if r, ok := layoutName(d.Annotations); ok {
			src.name, src.repo = CanonicalName(r), repository(r)
			if t, ok := r.(name.Tag); ok {
				src.tag = t.TagStr()
			}
		}
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", d.Digest, err)
			}
			cim, err := child.IndexManifest()
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", d.Digest, err)
			}
			raw, err := child.RawManifest()
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", d.Digest, err)
			}
			if sha256Hash(raw) != d.Digest {
				return nil, fmt.Errorf("load: index %s digest mismatch", d.Digest)
			}
			sel, err := selectManifest(cim, want, explicit)
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", d.Digest, err)
			}
			img, err := child.Image(sel.Digest)
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", sel.Digest, err)
			}
			src.img, src.manifestDigest = img, sel.Digest
			src.indexRaw, src.indexDigest = raw, d.Digest
		case d.MediaType.IsImage():
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", d.Digest, err)
			}
			src.img = img
		default:
			s.log().Info("load: skipping non-image manifest", "digest", d.Digest.String(), "mediaType", string(d.MediaType))
			continue
		}
		e, err := s.add(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", d.Digest, err)
		}
		out = append(out, *e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("load %s: no images in the layout", dir)
	}
	return out, nil
}

// dockerManifestEntry is one element of a docker save manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func (s *Store) loadDockerArchive(ctx context.Context, file string) ([]Entry, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	mf, err := readArchiveMember(file, "manifest.json", 64<<20)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	var entries []dockerManifestEntry
	if err := json.Unmarshal(mf, &entries); err != nil {
		return nil, fmt.Errorf("load %s: manifest.json: %w", file, err)
	}
	var out []Entry
	for i, me := range entries {
		var tags []name.Tag
		for _, t := range me.RepoTags {
			tag, err := name.NewTag(t)
			if err != nil {
				return nil, fmt.Errorf("load %s: tag %q: %w", file, t, err)
			}
			tags = append(tags, tag)
		}
		var img v1.Image
		if len(tags) > 0 {
			img, err = tarball.Image(opener, &tags[0])
		} else if len(entries) == 1 {
			img, err = tarball.Image(opener, nil)
		} else {
			s.log().Info("load: skipping untagged image in a multi-image archive", "n", i)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", file, err)
		}
		if len(tags) == 0 {
			e, err := s.add(ctx, source{img: img})
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", file, err)
			}
			out = append(out, *e)
		}
		for _, t := range tags {
			e, err := s.add(ctx, source{img: img, name: CanonicalName(t), repo: repository(t), tag: t.TagStr()})
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", file, err)
			}
			out = append(out, *e)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("load %s: no images in the archive", file)
	}
	return out, nil
}

func readArchiveMember(file, member string, max int64) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s not found", member)
		}
		if err != nil {
			return nil, fmt.Errorf("read archive: %w", err)
		}
		if path.Clean(strings.TrimPrefix(hdr.Name, "./")) != member {
			continue
		}
		if hdr.Size > max {
			return nil, fmt.Errorf("%s too large", member)
		}
		return io.ReadAll(io.LimitReader(tr, hdr.Size))
	}
}
