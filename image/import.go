package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"

	"github.com/elfuse/elfuse/rootfs"
)

// ImportOptions configure Import.
type ImportOptions struct {
	// Platform is the image's platform; nil means the host's (HostPlatform).
	Platform *v1.Platform
	// Changes are Dockerfile instructions applied to the image config, as
	// `docker import --change` takes them (see ApplyChanges).
	Changes []string
	// Message is the comment of the image's history entry.
	Message string
}

// Import makes a single-layer image from a root file system tar read from r
// (uncompressed, gzip or zstd) and adds it to the store under ref (Docker
// defaults apply: "busybox" is docker.io/library/busybox:latest; "" leaves
// the image unnamed, listed by ID only), like `docker import`.
//
// The tar is re-compressed with gzip into the store's blob store and unpacked
// by the same path as a pulled image: the layer and config are verified
// against their digests, the size limits apply, and an archive with unsafe
// entries (paths or links leaving the root) is refused with an error wrapping
// rootfs.ErrUnsafeEntry or rootfs.ErrLimit, leaving no name and no sysroot.
func (s *Store) Import(ctx context.Context, r io.Reader, ref string, opts ImportOptions) (*Entry, error) {
	src := source{}
	if ref != "" {
		nr, err := ParseReference(ref, false)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		t, ok := nr.(name.Tag)
		if !ok {
			return nil, fmt.Errorf("import: name %q has a digest: want NAME[:TAG]", ref)
		}
		src.name, src.repo, src.tag = CanonicalName(t), repository(t), t.TagStr()
	}
	what := src.name
	if what == "" {
		what = "<none>"
	}
	plat := HostPlatform()
	if opts.Platform != nil {
		plat = *opts.Platform
	}
	if plat.OS != "linux" || plat.Architecture == "" {
		return nil, fmt.Errorf("import %s: platform %s: elfuse runs linux images", what, FormatPlatform(plat))
	}
	var cfg v1.Config
	if err := ApplyChanges(&cfg, opts.Changes); err != nil {
		return nil, fmt.Errorf("import %s: %w", what, err)
	}

	l, err := s.storeLock(false)
	if err != nil {
		return nil, err
	}
	defer l.unlock()

	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "import-*.tar.gz")
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", what, err)
	}
	spool := f.Name()
	defer os.Remove(spool)
	diffID, err := s.spoolLayer(ctx, r, f)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write layer: %w", cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", what, err)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return os.Open(spool) },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("import %s: layer: %w", what, err)
	}
	got, err := layer.DiffID()
	if err != nil {
		return nil, fmt.Errorf("import %s: layer: %w", what, err)
	}
	if got != diffID {
		return nil, fmt.Errorf("import %s: layer changed while importing (diff ID %s, want %s)", what, got, diffID)
	}

	now := v1.Time{Time: time.Now().UTC()}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: now, CreatedBy: "elfuse import", Comment: opts.Message},
	})
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", what, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("import %s: config: %w", what, err)
	}
	cf = cf.DeepCopy()
	cf.Created = now
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = plat.OS, plat.Architecture, plat.Variant, plat.OSVersion
	cf.Config = cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("import %s: config: %w", what, err)
	}
	src.img = img
	e, err := s.add(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", what, err)
	}
	s.log().Debug("imported", "ref", what, "digest", e.Digest, "platform", e.Platform)
	return e, nil
}

// spoolLayer reads a root file system tar (uncompressed, gzip or zstd) from
// r and writes it gzip-compressed to w, bounded by the store's size limit
// (against decompression bombs). It returns the digest of the uncompressed
// tar (the layer's diff ID).
func (s *Store) spoolLayer(ctx context.Context, r io.Reader, w io.Writer) (v1.Hash, error) {
	br := bufio.NewReaderSize(ctxReader{ctx, r}, 1<<16)
	magic, _ := br.Peek(6)
	switch {
	case len(magic) == 0:
		if _, err := br.ReadByte(); err != nil && !errors.Is(err, io.EOF) {
			return v1.Hash{}, fmt.Errorf("read archive: %w", err)
		}
		return v1.Hash{}, fmt.Errorf("empty input: want a tar archive")
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return v1.Hash{}, fmt.Errorf("xz-compressed input is not supported: decompress it first or use gzip or zstd")
	case bytes.HasPrefix(magic, []byte("BZh")):
		return v1.Hash{}, fmt.Errorf("bzip2-compressed input is not supported: decompress it first or use gzip or zstd")
	}
	ur, closeFn, err := decompress(br)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("read archive: %w", err)
	}
	defer closeFn()
	tr := bufio.NewReaderSize(budgetReader{ur, s.streamBudget()}, 1<<16)
	head, err := tr.Peek(512)
	if err != nil && !errors.Is(err, io.EOF) {
		return v1.Hash{}, fmt.Errorf("read archive: %w", err)
	}
	if !looksLikeTar(head) {
		return v1.Hash{}, fmt.Errorf("input is not a tar archive")
	}
	gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("compress layer: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(gz, h), tr); err != nil {
		if errors.Is(err, rootfs.ErrLimit) {
			return v1.Hash{}, err
		}
		return v1.Hash{}, fmt.Errorf("read archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return v1.Hash{}, fmt.Errorf("compress layer: %w", err)
	}
	return hashOf(h), nil
}

// streamBudget is the bound on the uncompressed bytes of all layers of one
// image.
func (s *Store) streamBudget() *streamBudget {
	lim := s.Limits
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = rootfs.DefaultLimits.MaxBytes
	}
	return &streamBudget{left: lim.MaxBytes + lim.MaxBytes/4 + 64<<20}
}

// looksLikeTar tells whether block starts a tar archive: a header whose
// checksum is right, or the zero block that ends an empty archive.
func looksLikeTar(block []byte) bool {
	if len(block) < 512 {
		return false
	}
	block = block[:512]
	if bytes.Count(block, []byte{0}) == 512 {
		return true
	}
	field := strings.TrimRight(strings.TrimLeft(string(block[148:156]), " \x00"), " \x00")
	want, err := strconv.ParseInt(field, 8, 64)
	if err != nil {
		return false
	}
	var unsigned, signed int64
	for i, c := range block {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return want == unsigned || want == signed
}
