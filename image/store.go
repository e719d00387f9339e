package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/elfuse/elfuse/rootfs"
)

// ErrNotFound is wrapped by errors for an image that is not in the store.
var ErrNotFound = errors.New("image not found")

// Store is an on-disk image store. Its zero value is not usable; call Open.
//
// Layout under Dir():
//
//	blobs/sha256/<hex>       manifests, indexes, configs, compressed layers
//	sysroots/<id>/rootfs     read-only unpacked root of image <id>
//	sysroots/<id>/meta.json  what the unpack could not apply (rootless)
//	containers/<name>/       writable views of running containers (locked while running)
//	index.json               image names to manifests
//	tmp/                     in-progress downloads and unpacks
//	lock, locks/             file locks
//
// On macOS sysroots/, containers/ and the unpacks' tmp/ are on a case-sensitive APFS volume,
// sysroots.sparsebundle attached at volume/ (volume/sysroots, volume/containers, volume/tmp).
type Store struct {
	dir string
	// vol is where sysroots, unpacks and container views live (the store itself but on macOS);
	// set by volume().
	volOnce sync.Once
	vol     string
	volErr  error
	// Limits bound what one image may unpack to; zero fields take
	// rootfs.DefaultLimits.
	Limits rootfs.Limits
	// Rootless forces ownership to be recorded rather than applied even
	// when running as root (it is always so when not root).
	Rootless bool
	// Logger receives progress and notes; nil means slog.Default().
	Logger *slog.Logger
}

// Entry is one named image in the store.
type Entry struct {
	// Name is the full reference the image was pulled or loaded as
	// (docker.io/library/busybox:latest, example.com/app@sha256:...), or
	// "" for an unnamed image loaded from an archive.
	Name string `json:"name"`
	// Repository and Tag split Name; Tag is "" for a digest reference.
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	// Digest is the digest of the image manifest.
	Digest string `json:"digest"`
	// IndexDigest is the digest of the multi-platform index it came from.
	IndexDigest string `json:"indexDigest,omitempty"`
	// ID is the digest of the image config, as Docker shows it.
	ID string `json:"id"`
	// Platform is os/arch[/variant].
	Platform string `json:"platform"`
	// Size is the unpacked size in bytes.
	Size int64 `json:"size"`
	// Added is when the name was last pulled or loaded.
	Added time.Time `json:"added"`
}

// key is the index key of an entry.
func (e *Entry) key() string {
	if e.Name != "" {
		return e.Name
	}
	return "@" + e.ID
}

type indexFile struct {
	Version int               `json:"version"`
	Images  map[string]*Entry `json:"images"`
}

// DefaultDir is the store location: $ELFUSE_HOME if set, else
// /var/lib/elfuse for root, else $XDG_DATA_HOME/elfuse
// (~/.local/share/elfuse).
func DefaultDir() string {
	if d := os.Getenv("ELFUSE_HOME"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/elfuse"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "elfuse")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "elfuse-"+fmt.Sprint(os.Geteuid()))
	}
	return filepath.Join(home, ".local", "share", "elfuse")
}

// Open opens (creating if needed) the store at dir.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", dir, err)
	}
	for _, d := range []string{abs, filepath.Join(abs, "blobs", "sha256"), filepath.Join(abs, "sysroots"), filepath.Join(abs, "tmp"), filepath.Join(abs, "locks")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	// Unpacks are made in tmp and renamed into sysroots: spread them over the file system.
	markTopDir(filepath.Join(abs, "tmp"))
	return &Store{dir: abs}, nil
}

// volume returns the directory holding sysroots/, containers/ and the unpacks' tmp/: the store
// itself, or on macOS its case-sensitive volume (attached, and made, on first use).
func (s *Store) volume() (string, error) {
	s.volOnce.Do(func() {
		v, err := sysrootVolume(s.dir)
		if err != nil {
			s.volErr = fmt.Errorf("image store volume: %w", err)
			return
		}
		for _, d := range []string{"sysroots", "containers", "tmp"} {
			if err := os.MkdirAll(filepath.Join(v, d), 0o755); err != nil {
				s.volErr = fmt.Errorf("image store volume: %w", err)
				return
			}
		}
		if v != s.dir {
			markTopDir(filepath.Join(v, "tmp"))
		}
		s.vol = v
	})
	return s.vol, s.volErr
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// blobPath returns the path of a blob, refusing malformed digests (which
// could otherwise name a path outside the store).
func (s *Store) blobPath(h v1.Hash) (string, error) {
	if err := checkHash(h); err != nil {
		return "", err
	}
	return filepath.Join(s.dir, "blobs", h.Algorithm, h.Hex), nil
}

func checkHash(h v1.Hash) error {
	if h.Algorithm != "sha256" || len(h.Hex) != 64 {
		return fmt.Errorf("unsupported digest %q (want sha256)", h.String())
	}
	if _, err := hex.DecodeString(h.Hex); err != nil || strings.ToLower(h.Hex) != h.Hex {
		return fmt.Errorf("malformed digest %q", h.String())
	}
	return nil
}

func sha256Hash(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

func (s *Store) sysrootDir(id string) (string, error) {
	h, err := v1.NewHash(id)
	if err != nil {
		return "", fmt.Errorf("image id %q: %w", id, err)
	}
	if err := checkHash(h); err != nil {
		return "", err
	}
	vol, err := s.volume()
	if err != nil {
		return "", err
	}
	return filepath.Join(vol, "sysroots", h.Hex), nil
}

// storeLock takes the store-wide lock: shared for adding images, exclusive
// for garbage collection.
func (s *Store) storeLock(exclusive bool) (*fileLock, error) {
	return lockFile(filepath.Join(s.dir, "lock"), exclusive)
}

func (s *Store) readIndex() (*indexFile, error) {
	idx := &indexFile{Version: 1, Images: map[string]*Entry{}}
	b, err := os.ReadFile(filepath.Join(s.dir, "index.json"))
	if errors.Is(err, os.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	if err := json.Unmarshal(b, idx); err != nil {
		return nil, fmt.Errorf("parse image index: %w", err)
	}
	if idx.Images == nil {
		idx.Images = map[string]*Entry{}
	}
	return idx, nil
}

func (s *Store) writeIndex(idx *indexFile) error {
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("encode image index: %w", err)
	}
	return writeFileAtomic(filepath.Join(s.dir, "index.json"), filepath.Join(s.dir, "tmp"), b)
}

// updateIndex runs fn on the index under the index lock and saves it.
func (s *Store) updateIndex(fn func(*indexFile) error) error {
	l, err := lockFile(filepath.Join(s.dir, "locks", "index.lock"), true)
	if err != nil {
		return err
	}
	defer l.unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(idx); err != nil {
		return err
	}
	return s.writeIndex(idx)
}

func writeFileAtomic(path, tmpDir string, b []byte) error {
	f, err := os.CreateTemp(tmpDir, "write-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// List returns the images in the store, sorted by name.
func (s *Store) List() ([]Entry, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(idx.Images))
	for _, e := range idx.Images {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// find returns the index keys matching ref: a name (with Docker defaults),
// a digest reference matching a stored manifest or index digest, or an image
// ID or unique ID prefix (with or without "sha256:").
func find(idx *indexFile, ref string) ([]string, error) {
	if r, err := name.ParseReference(ref); err == nil {
		canon := CanonicalName(r)
		if _, ok := idx.Images[canon]; ok {
			return []string{canon}, nil
		}
		if d, ok := r.(name.Digest); ok {
			repo := repository(d)
			var keys []string
			for k, e := range idx.Images {
				if e.Repository == repo && (e.Digest == d.DigestStr() || e.IndexDigest == d.DigestStr()) {
					keys = append(keys, k)
				}
			}
			if len(keys) > 0 {
				sort.Strings(keys)
				return keys[:1], nil
			}
		}
	}
	hexPart := strings.TrimPrefix(ref, "sha256:")
	if len(hexPart) >= 4 && len(hexPart) <= 64 {
		if _, err := hex.DecodeString(hexPart + strings.Repeat("0", len(hexPart)%2)); err == nil {
			ids := map[string]bool{}
			var keys []string
			for k, e := range idx.Images {
				if strings.HasPrefix(strings.TrimPrefix(e.ID, "sha256:"), hexPart) {
					ids[e.ID] = true
					keys = append(keys, k)
				}
			}
			if len(ids) > 1 {
				return nil, fmt.Errorf("image ID prefix %q is ambiguous", ref)
			}
			if len(keys) > 0 {
				sort.Strings(keys)
				return keys, nil
			}
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
}
