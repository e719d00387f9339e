package image

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/elfuse/elfuse/rootfs"
)

// Config is what `elfuse run` needs from an image's config to start its
// entrypoint.
type Config struct {
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Cmd        []string          `json:"cmd,omitempty"`
	Env        []string          `json:"env,omitempty"`
	WorkingDir string            `json:"workingDir,omitempty"`
	User       string            `json:"user,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	StopSignal string            `json:"stopSignal,omitempty"`
}

// Resolved is an image ready to run.
type Resolved struct {
	Entry
	// Config is the image's process configuration.
	Config Config
	// Sysroot is the read-only unpacked root directory. Give each container
	// its own view with rootfs.NewContainerView; never write here.
	Sysroot string
	// Unpacked tells what the unpack could not apply to the host file system
	// (ownership, device nodes and xattrs when not root), keyed by path
	// relative to Sysroot.
	Unpacked *rootfs.Result
}

// Resolve finds an image by name (Docker defaults apply: "busybox" is
// docker.io/library/busybox:latest), by digest reference, or by ID or unique
// ID prefix, and returns its config and sysroot. An image not in the store
// gives an error wrapping ErrNotFound.
func (s *Store) Resolve(ref string) (*Resolved, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	keys, err := find(idx, ref)
	if err != nil {
		return nil, err
	}
	e := idx.Images[keys[0]]
	h, err := v1.NewHash(e.ID)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	p, err := s.blobPath(h)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", ref, err)
	}
	defer f.Close()
	cf, err := v1.ParseConfigFile(f)
	if err != nil {
		return nil, fmt.Errorf("image %s config: %w", ref, err)
	}
	dir, err := s.sysrootDir(e.ID)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return nil, fmt.Errorf("image %s sysroot: %w", ref, err)
	}
	var mt meta
	if err := json.Unmarshal(b, &mt); err != nil {
		return nil, fmt.Errorf("image %s sysroot metadata: %w", ref, err)
	}
	c := cf.Config
	return &Resolved{
		Entry: *e,
		Config: Config{
			Entrypoint: c.Entrypoint,
			Cmd:        c.Cmd,
			Env:        c.Env,
			WorkingDir: c.WorkingDir,
			User:       c.User,
			Labels:     c.Labels,
			StopSignal: c.StopSignal,
		},
		Sysroot:  filepath.Join(dir, "rootfs"),
		Unpacked: mt.Unpacked,
	}, nil
}
