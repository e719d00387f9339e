package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/elfuse/elfuse/rootfs"
)

// ErrInUse is wrapped by the error for removing an image a running container uses.
var ErrInUse = errors.New("image is in use by a running container")

// Container is a running container's hold on the store: a private directory for its writable
// view of the image's sysroot, and a shared lock on that sysroot which tells rmi and prune that
// the image is in use. The locks are flock(2) locks, so a container that dies without Release
// holds nothing (its directory is removed by the next prune).
type Container struct {
	// Dir is the container's own directory, on the same volume as the sysroot (give it to
	// rootfs.NewContainerView).
	Dir     string
	dirLock *fileLock // exclusive on Dir itself: the container is running
	useLock *fileLock // shared on locks/use-<id>.lock: the image is in use
}

// useLockPath is the lock running containers of image idHex hold shared.
func (s *Store) useLockPath(idHex string) string {
	return filepath.Join(s.dir, "locks", "use-"+idHex+".lock")
}

// NewContainer marks res's image as in use and makes a directory for one container of it. It
// fails if the image was removed since it was resolved. Call Release when the container ends.
func (s *Store) NewContainer(res *Resolved) (*Container, error) {
	h, err := v1.NewHash(res.ID)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", res.ID, err)
	}
	if err := checkHash(h); err != nil {
		return nil, err
	}
	use, err := s.lockInUse(h.Hex)
	if err != nil {
		return nil, err
	}
	// rmi decides under an exclusive hold of the same lock: holding it shared, the sysroot is
	// either still there now or gone for good.
	if _, err := os.Stat(filepath.Join(filepath.Dir(res.Sysroot), "meta.json")); err != nil {
		use.unlock()
		return nil, fmt.Errorf("image %s was removed: %w", res.Name, ErrNotFound)
	}
	vol, err := s.volume()
	if err != nil {
		use.unlock()
		return nil, err
	}
	dir, err := os.MkdirTemp(filepath.Join(vol, "containers"), "c-")
	if err != nil {
		use.unlock()
		return nil, fmt.Errorf("container directory: %w", err)
	}
	dl, err := lockDir(dir, unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		os.Remove(dir)
		use.unlock()
		return nil, err
	}
	return &Container{Dir: dir, dirLock: dl, useLock: use}, nil
}

// Release removes the container's directory (its view must be torn down first) and drops its
// hold on the image.
func (c *Container) Release() error {
	if c.dirLock == nil {
		return nil
	}
	err := rootfs.RemoveAll(c.Dir)
	c.dirLock.unlock()
	c.useLock.unlock()
	c.dirLock, c.useLock = nil, nil
	return err
}

// lockInUse takes image idHex's use lock shared. A prune may remove the lock file of a removed
// image while this waits for it: the lock is retaken until it is on the file at the path.
func (s *Store) lockInUse(idHex string) (*fileLock, error) {
	p := s.useLockPath(idHex)
	for {
		l, err := lockFile(p, false)
		if err != nil {
			return nil, err
		}
		var held, now unix.Stat_t
		if unix.Fstat(int(l.f.Fd()), &held) == nil && unix.Stat(p, &now) == nil && held.Dev == now.Dev && held.Ino == now.Ino {
			return l, nil
		}
		l.unlock()
	}
}

// lockDir takes an flock on a directory.
func lockDir(dir string, how int) (*fileLock, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &fileLock{f: f}, nil
}

// holdIfUnused takes the use lock of image idHex exclusively when no container holds it, so
// that none can start until release; it returns nil when a container runs the image.
func (s *Store) holdIfUnused(idHex string) (*fileLock, error) {
	p := s.useLockPath(idHex)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", p, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		f.Close()
		return nil, nil
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return &fileLock{f: f}, nil
}

// staleContainers removes the directories of containers that no longer run (their process
// died without Release), tearing down what may still be mounted there.
func (s *Store) staleContainers() (int, error) {
	vol, err := s.volume()
	if err != nil {
		return 0, err
	}
	d := filepath.Join(vol, "containers")
	ents, err := os.ReadDir(d)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	n := 0
	var errs []error
	for _, de := range ents {
		if !de.IsDir() || !strings.HasPrefix(de.Name(), "c-") {
			continue
		}
		p := filepath.Join(d, de.Name())
		l, err := lockDir(p, unix.LOCK_EX|unix.LOCK_NB)
		if err != nil {
			continue // running (or unreadable): leave it
		}
		err = rootfs.RemoveContainerDir(p)
		l.unlock()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
