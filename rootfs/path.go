package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrUnsafeEntry is wrapped by every error that refuses a layer entry because it
// would land outside the root or reach outside it.
var ErrUnsafeEntry = errors.New("unsafe layer entry")

// maxSymlinkHops bounds symlink resolution inside the root, like Linux's ELOOP limit.
const maxSymlinkHops = 40

// CleanName turns a tar entry name into a clean slash-separated path relative
// to the root. It strips leading "./" and trailing "/", and refuses absolute
// names, ".." components and NUL bytes. The root itself is ".".
func CleanName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrUnsafeEntry)
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: name %q contains a NUL byte", ErrUnsafeEntry, name)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: absolute name %q", ErrUnsafeEntry, name)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: name %q has a \"..\" component", ErrUnsafeEntry, name)
		}
	}
	clean := path.Clean(name)
	if clean == "/" || strings.HasPrefix(clean, "/") || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%w: name %q leaves the root", ErrUnsafeEntry, name)
	}
	return clean, nil
}

// resolver maps clean relative paths to real paths under root without
// following any symlink that would leave it.
type resolver struct {
	root string // absolute host path of the root directory
}

// host returns the host path of a resolved (symlink-free) relative path.
func (r *resolver) host(rel string) string {
	if rel == "." {
		return r.root
	}
	return filepath.Join(r.root, filepath.FromSlash(rel))
}

// resolveDir resolves the directory rel (clean, relative) to a symlink-free
// relative path, following symlinks only while they stay inside the root.
// Missing directories are created with mode 0o755 when create is true; the
// created paths are reported through made.
func (r *resolver) resolveDir(rel string, create bool, made func(string)) (string, error) {
	return r.resolveDirFrom(".", rel, create, made)
}

// resolveDirFrom is resolveDir of rel taken relative to from, a directory resolveDir returned.
func (r *resolver) resolveDirFrom(from, rel string, create bool, made func(string)) (string, error) {
	hops := 0
	return r.walkFrom(from, rel, create, made, &hops)
}

func (r *resolver) walk(rel string, create bool, made func(string), hops *int) (string, error) {
	return r.walkFrom(".", rel, create, made, hops)
}

func (r *resolver) walkFrom(cur, rel string, create bool, made func(string), hops *int) (string, error) {
	if rel == "." || rel == "" {
		return cur, nil
	}
	parts := strings.Split(rel, "/")
	for _, c := range parts {
		if c == "." || c == "" {
			continue
		}
		if c == ".." {
			// Only reachable through a symlink target; step up but never past the root.
			if cur == "." {
				return "", fmt.Errorf("%w: %q climbs above the root", ErrUnsafeEntry, rel)
			}
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		if create {
			// Most missing parents are new: try to make one before looking.
			if err := os.Mkdir(r.host(next), 0o755); err == nil {
				if made != nil {
					made(next)
				}
				cur = next
				continue
			}
		}
		fi, err := os.Lstat(r.host(next))
		switch {
		case errors.Is(err, os.ErrNotExist):
			if !create {
				return "", fmt.Errorf("resolve %q: %w", rel, err)
			}
			if err := os.Mkdir(r.host(next), 0o755); err != nil {
				return "", fmt.Errorf("create parent %q: %w", next, err)
			}
			if made != nil {
				made(next)
			}
			cur = next
		case err != nil:
			return "", fmt.Errorf("resolve %q: %w", rel, err)
		case fi.Mode()&os.ModeSymlink != 0:
			*hops++
			if *hops > maxSymlinkHops {
				return "", fmt.Errorf("%w: too many symlinks resolving %q", ErrUnsafeEntry, rel)
			}
			target, err := os.Readlink(r.host(next))
			if err != nil {
				return "", fmt.Errorf("read symlink %q: %w", next, err)
			}
			if strings.HasPrefix(target, "/") {
				return "", fmt.Errorf("%w: %q goes through symlink %q -> %q (absolute): refusing to write through it", ErrUnsafeEntry, rel, next, target)
			}
			// Resolve the target relative to the symlink's directory, with ".."
			// handled component by component so it can never climb past the root.
			joined := cur + "/" + target
			res, err := r.walk(joined, false, nil, hops)
			if err != nil {
				if errors.Is(err, ErrUnsafeEntry) {
					return "", fmt.Errorf("%w: %q goes through symlink %q -> %q which leaves the root", ErrUnsafeEntry, rel, next, target)
				}
				return "", fmt.Errorf("%q goes through symlink %q -> %q: %w", rel, next, target, err)
			}
			cur = res
		case fi.IsDir():
			cur = next
		default:
			return "", fmt.Errorf("%w: %q: %q is not a directory", ErrUnsafeEntry, rel, next)
		}
	}
	return cur, nil
}

// split returns the directory and base name of a clean relative path.
func split(rel string) (dir, base string) {
	dir, base = path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	return dir, base
}
