//go:build linux && amd64

package syscall

import (
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Resolver maps guest paths to host paths. With a sysroot (the seed CLI's
// --sysroot), a guest absolute path resolves under the sysroot first and
// falls back to the host, except under the guest's system directories,
// which never fall back.
type Resolver struct {
	sysroot string
}

// NewResolver returns a resolver; sysroot may be empty.
func NewResolver(sysroot string) *Resolver {
	if sysroot != "" {
		sysroot = path.Clean(sysroot)
	}
	return &Resolver{sysroot: sysroot}
}

var systemDirs = []string{"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32", "/usr", "/etc", "/var", "/tmp", "/run"}

func isSystemPath(p string) bool {
	for _, d := range systemDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// GuestCwd is the working directory a new sandbox starts in: the host's.
func (r *Resolver) GuestCwd() (string, error) { return os.Getwd() }

// Resolve returns the host path for guest path p, relative paths taken
// from the guest directory cwd.
func (r *Resolver) Resolve(cwd, p string, follow bool) (string, error) {
	if p == "" {
		return "", unix.ENOENT
	}
	if !path.IsAbs(p) {
		// Joined without cleaning: ".." after a symlink is the host's to resolve.
		if cwd == "/" {
			p = "/" + p
		} else {
			p = cwd + "/" + p
		}
		if r.sysroot != "" && strings.HasPrefix(p, r.sysroot+"/") {
			return p, nil
		}
	}
	if r.sysroot == "" {
		return p, nil
	}
	clean := path.Clean(p)
	in := r.sysroot + clean
	if isSystemPath(clean) {
		return in, nil
	}
	var st unix.Stat_t
	if unix.Lstat(in, &st) == nil {
		return in, nil
	}
	return p, nil
}
