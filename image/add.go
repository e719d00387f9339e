package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/elfuse/elfuse/rootfs"
)

// source is one image to add to the store.
type source struct {
	img            v1.Image
	name           string  // canonical name, "" for none
	repo, tag      string  // split name
	manifestDigest v1.Hash // expected manifest digest, zero if unknown
	indexRaw       []byte  // raw index the image was selected from, if any
	indexDigest    v1.Hash
	// selfVerifying tells that img's layer readers check the blob's digest and size
	// themselves and fail at the end on a mismatch (go-containerregistry's remote layers do),
	// so storing a blob need not hash it a second time.
	selfVerifying bool
}

// blobRetries is how often one blob download is tried.
const blobRetries = 3

// add stores an image's blobs (each verified), unpacks its sysroot if no
// image with the same ID has one yet, and records its name. The caller
// holds the shared store lock.
func (s *Store) add(ctx context.Context, src source) (*Entry, error) {
	rawManifest, err := src.img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	mdig := sha256Hash(rawManifest)
	if src.manifestDigest != (v1.Hash{}) && src.manifestDigest != mdig {
		return nil, fmt.Errorf("manifest digest mismatch: want %s, got %s", src.manifestDigest, mdig)
	}
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", mdig, err)
	}
	if err := checkHash(m.Config.Digest); err != nil {
		return nil, fmt.Errorf("manifest %s config: %w", mdig, err)
	}
	rawConfig, err := src.img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if got := sha256Hash(rawConfig); got != m.Config.Digest || (m.Config.Size != 0 && int64(len(rawConfig)) != m.Config.Size) {
		return nil, fmt.Errorf("config digest mismatch: manifest says %s (%d bytes), got %s (%d bytes)", m.Config.Digest, m.Config.Size, got, len(rawConfig))
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, fmt.Errorf("parse config %s: %w", m.Config.Digest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image %s has %d layers but its config lists %d diff IDs", mdig, len(m.Layers), len(cfg.RootFS.DiffIDs))
	}
	layers := make([]v1.Layer, len(m.Layers))
	for i, l := range m.Layers {
		if err := checkHash(l.Digest); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		if err := checkHash(cfg.RootFS.DiffIDs[i]); err != nil {
			return nil, fmt.Errorf("layer %d diff ID: %w", i, err)
		}
		if !isLayerType(l.MediaType) {
			return nil, fmt.Errorf("layer %d (%s) has unsupported media type %q", i, l.Digest, l.MediaType)
		}
		if layers[i], err = src.img.LayerByDigest(l.Digest); err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
		}
	}
	for _, b := range [][]byte{rawConfig, rawManifest, src.indexRaw} {
		if b == nil {
			continue
		}
		if err := s.putBlob(b); err != nil {
			return nil, err
		}
	}

	// The layers are fetched in parallel while the sysroot is unpacked: layer i is applied as
	// soon as its blob is stored and layers 0..i-1 are applied.
	f := s.fetchLayers(ctx, m.Layers, layers, src.selfVerifying)
	defer f.stop()
	id := m.Config.Digest.String()
	size, err := s.ensureSysroot(ctx, id, m, cfg, f.wait)
	if err != nil {
		return nil, err
	}
	// The sysroot may have been there already: the image still needs all its blobs.
	for i := range m.Layers {
		if err := f.wait(i); err != nil {
			return nil, err
		}
	}
	e := &Entry{
		Name:       src.name,
		Repository: src.repo,
		Tag:        src.tag,
		Digest:     mdig.String(),
		ID:         id,
		Platform:   FormatPlatform(configPlatform(cfg)),
		Size:       size,
		Added:      time.Now().UTC(),
	}
	if src.indexRaw != nil {
		e.IndexDigest = src.indexDigest.String()
	}
	err = s.updateIndex(func(idx *indexFile) error {
		idx.Images[e.key()] = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

func configPlatform(cfg *v1.ConfigFile) v1.Platform {
	return v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}
}

func isLayerType(mt types.MediaType) bool {
	switch mt {
	case types.DockerLayer, types.DockerUncompressedLayer, types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer:
		return true
	}
	return false
}

// maxParallelFetches bounds the layer downloads one add runs at a time.
const maxParallelFetches = 4

// layerFetch is the background download of an image's layer blobs.
type layerFetch struct {
	done   []chan struct{} // closed when layer i's blob is stored or has failed
	errs   []error         // layer i's error, set before done[i] is closed
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// fetchLayers starts storing the blobs of descs (read from layers), at most maxParallelFetches at
// a time, in layer order.
func (s *Store) fetchLayers(ctx context.Context, descs []v1.Descriptor, layers []v1.Layer, selfVerifying bool) *layerFetch {
	ctx, cancel := context.WithCancel(ctx)
	f := &layerFetch{done: make([]chan struct{}, len(descs)), errs: make([]error, len(descs)), cancel: cancel}
	for i := range f.done {
		f.done[i] = make(chan struct{})
	}
	sem := make(chan struct{}, maxParallelFetches)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for i, l := range descs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				f.errs[i] = ctx.Err()
				close(f.done[i])
				continue
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer func() { <-sem }()
				s.log().Debug("fetch layer", "n", i+1, "of", len(descs), "digest", l.Digest.String(), "size", l.Size)
				if err := s.ensureBlob(ctx, l.Digest, l.Size, layers[i].Compressed, selfVerifying); err != nil {
					f.errs[i] = fmt.Errorf("layer %d (%s): %w", i, l.Digest, err)
				}
				close(f.done[i])
			}()
		}
	}()
	return f
}

// wait blocks until layer i's blob is stored and returns its error.
func (f *layerFetch) wait(i int) error {
	<-f.done[i]
	return f.errs[i]
}

// stop cancels the downloads still running and waits for them to end, so that nothing writes
// to the store after add returns.
func (f *layerFetch) stop() {
	f.cancel()
	f.wg.Wait()
}

// putBlob stores a small blob held in memory.
func (s *Store) putBlob(b []byte) error {
	h := sha256Hash(b)
	p, err := s.blobPath(h)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(p); err == nil && fi.Size() == int64(len(b)) {
		return nil
	}
	return writeFileAtomic(p, filepath.Join(s.dir, "tmp"), b)
}

// ensureBlob stores the blob with digest want (and size, if > 0) read from
// open, unless the store has it. Each attempt writes a temporary file while
// hashing it and renames it into place only when digest and size match. When
// selfVerifying, open's reader checks the digest itself (and fails at the
// end of the blob on a mismatch) and the blob is not hashed again here.
func (s *Store) ensureBlob(ctx context.Context, want v1.Hash, size int64, open func() (io.ReadCloser, error), selfVerifying bool) error {
	p, err := s.blobPath(want)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(p); err == nil && (size <= 0 || fi.Size() == size) {
		return nil
	}
	var lastErr error
	for attempt := 0; attempt < blobRetries; attempt++ {
		if attempt > 0 {
			delay := time.Duration(attempt*attempt) * 250 * time.Millisecond
			s.log().Info("retrying blob download", "digest", want.String(), "attempt", attempt+1, "err", lastErr)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
		}
		lastErr = s.fetchBlob(ctx, p, want, size, open, selfVerifying)
		if lastErr == nil || ctx.Err() != nil {
			return lastErr
		}
	}
	return lastErr
}

func (s *Store) fetchBlob(ctx context.Context, p string, want v1.Hash, size int64, open func() (io.ReadCloser, error), selfVerifying bool) error {
	rc, err := open()
	if err != nil {
		return fmt.Errorf("open blob: %w", err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), "blob-*")
	if err != nil {
		return fmt.Errorf("store blob: %w", err)
	}
	defer os.Remove(f.Name())
	var h hash.Hash
	w := io.Writer(struct{ io.Writer }{f}) // hide (*os.File).ReadFrom, which would copy in 32 KiB writes
	if !selfVerifying || size <= 0 {
		h = sha256.New()
		w = io.MultiWriter(f, h)
	}
	r := io.Reader(rc)
	if size > 0 {
		r = io.LimitReader(rc, size+1)
	}
	n, err := io.CopyBuffer(w, ctxReader{ctx, r}, make([]byte, 256<<10))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download blob: %w", err)
	}
	if h != nil {
		if got := hashOf(h); got != want {
			return fmt.Errorf("blob digest mismatch: want %s, got %s", want, got)
		}
	}
	if size > 0 && n != size {
		return fmt.Errorf("blob size mismatch: want %d, got %d", size, n)
	}
	if err := os.Chmod(f.Name(), 0o444); err != nil {
		return fmt.Errorf("store blob: %w", err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("store blob: %w", err)
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// meta is written beside each sysroot.
type meta struct {
	ID       string         `json:"id"`
	Unpacked *rootfs.Result `json:"unpacked"`
}

// ensureSysroot unpacks the image's layers into sysroots/<id> unless it is
// there, and returns the unpacked size. Concurrent callers for one ID wait
// for each other; the sysroot appears by a rename, complete or not at all.
// Before applying layer i it calls ready(i), which returns once that layer's blob is stored.
func (s *Store) ensureSysroot(ctx context.Context, id string, m *v1.Manifest, cfg *v1.ConfigFile, ready func(int) error) (int64, error) {
	dst, err := s.sysrootDir(id)
	if err != nil {
		return 0, err
	}
	l, err := lockFile(filepath.Join(s.dir, "locks", filepath.Base(dst)+".lock"), true)
	if err != nil {
		return 0, err
	}
	defer l.unlock()
	if b, err := os.ReadFile(filepath.Join(dst, "meta.json")); err == nil {
		var mt meta
		if err := json.Unmarshal(b, &mt); err == nil && mt.Unpacked != nil {
			return mt.Unpacked.Size, nil
		}
	}
	tmp, err := os.MkdirTemp(filepath.Join(filepath.Dir(filepath.Dir(dst)), "tmp"), "unpack-") // beside sysroots/, for the rename
	if err != nil {
		return 0, fmt.Errorf("unpack: %w", err)
	}
	defer func() {
		if tmp != "" {
			if err := rootfs.RemoveAll(tmp); err != nil {
				s.log().Warn("cannot remove temporary unpack", "dir", tmp, "err", err)
			}
		}
	}()
	root := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		return 0, fmt.Errorf("unpack: %w", err)
	}
	u, err := rootfs.NewUnpacker(root, rootfs.Options{Limits: s.Limits, Rootless: s.Rootless, Logger: s.log()})
	if err != nil {
		return 0, fmt.Errorf("unpack: %w", err)
	}
	budget := s.streamBudget()
	for i, l := range m.Layers {
		if err := ready(i); err != nil {
			return 0, err
		}
		s.log().Debug("unpack layer", "n", i+1, "of", len(m.Layers), "digest", l.Digest.String())
		if err := s.applyLayer(ctx, u, l, cfg.RootFS.DiffIDs[i], budget); err != nil {
			return 0, fmt.Errorf("unpack layer %d (%s): %w", i, l.Digest, err)
		}
	}
	res, err := u.Finish()
	if err != nil {
		return 0, fmt.Errorf("unpack: %w", err)
	}
	for _, n := range res.Notes {
		s.log().Info("unpack note", "image", id, "note", n)
	}
	b, err := json.Marshal(meta{ID: id, Unpacked: res})
	if err != nil {
		return 0, fmt.Errorf("unpack: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "meta.json"), b, 0o644); err != nil {
		return 0, fmt.Errorf("unpack: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return 0, fmt.Errorf("unpack: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		// A leftover without meta.json (older layout or manual tampering).
		if err := rootfs.RemoveAll(dst); err != nil {
			return 0, fmt.Errorf("unpack: %w", err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return 0, fmt.Errorf("unpack: %w", err)
	}
	tmp = ""
	return res.Size, nil
}

// streamBudget bounds the uncompressed bytes read over all layers of one
// image, against decompression bombs (file data is also bounded by the
// unpacker; this covers headers, padding and trailing data).
type streamBudget struct{ left int64 }

type budgetReader struct {
	r io.Reader
	b *streamBudget
}

func (br budgetReader) Read(p []byte) (int, error) {
	if br.b.left <= 0 {
		return 0, fmt.Errorf("%w: layer data expands past the image's limit", rootfs.ErrLimit)
	}
	if int64(len(p)) > br.b.left {
		p = p[:br.b.left]
	}
	n, err := br.r.Read(p)
	br.b.left -= int64(n)
	return n, err
}

func (s *Store) applyLayer(ctx context.Context, u *rootfs.Unpacker, l v1.Descriptor, diffID v1.Hash, budget *streamBudget) error {
	p, err := s.blobPath(l.Digest)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("open blob: %w", err)
	}
	defer f.Close()
	ur, closeFn, err := decompress(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return err
	}
	defer closeFn()
	h := sha256.New()
	// Decompression and the diff ID hash run ahead in their own goroutine, overlapping with the
	// unpacker's file system calls.
	r := newReadAhead(io.TeeReader(budgetReader{ur, budget}, h))
	defer r.stop()
	if err := u.Apply(ctx, r); err != nil {
		return err
	}
	// Hash what follows the tar's end marker too: the diff ID covers it.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return fmt.Errorf("read layer: %w", err)
	}
	r.stop()
	if got := hashOf(h); got != diffID {
		return fmt.Errorf("diff ID mismatch: config says %s, layer has %s", diffID, got)
	}
	return nil
}

// readAhead reads its source in a goroutine, up to readAheadChunks chunks ahead of its reader.
type readAhead struct {
	full, free chan []byte
	quit       chan struct{}
	exited     chan struct{}
	err        error  // the source's error (io.EOF at the end), set before full is closed
	buf, cur   []byte // chunk being read and its unread part
	stopped    bool
}

const (
	readAheadChunk  = 256 << 10
	readAheadChunks = 8
)

func newReadAhead(src io.Reader) *readAhead {
	r := &readAhead{full: make(chan []byte, readAheadChunks), free: make(chan []byte, readAheadChunks),
		quit: make(chan struct{}), exited: make(chan struct{})}
	for range readAheadChunks {
		r.free <- make([]byte, readAheadChunk)
	}
	go r.fill(src)
	return r
}

func (r *readAhead) fill(src io.Reader) {
	defer close(r.exited)
	defer close(r.full)
	for {
		var b []byte
		select {
		case b = <-r.free:
		case <-r.quit:
			r.err = errors.New("read-ahead stopped")
			return
		}
		n, err := io.ReadFull(src, b)
		if n > 0 {
			r.full <- b[:n] // never blocks: at most readAheadChunks buffers exist
		}
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		if err != nil {
			r.err = err
			return
		}
	}
}

func (r *readAhead) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(r.cur) == 0 {
		if r.buf != nil {
			r.free <- r.buf[:cap(r.buf)]
			r.buf = nil
		}
		b, ok := <-r.full
		if !ok {
			return 0, r.err
		}
		r.buf, r.cur = b, b
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// stop ends the goroutine and waits for it, so the source can be closed; the source's state is
// then safe to read (the hash).
func (r *readAhead) stop() {
	if r.stopped {
		return
	}
	r.stopped = true
	close(r.quit)
	<-r.exited
}

func hashOf(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

// decompress sniffs gzip, zstd or a plain tar.
func decompress(br *bufio.Reader) (io.Reader, func(), error) {
	magic, _ := br.Peek(4)
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, func() { zr.Close() }, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<27))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return zr, zr.Close, nil
	default:
		return br, func() {}, nil
	}
}
