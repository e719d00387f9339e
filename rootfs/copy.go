package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// CopyTree copies the tree at src to dst (which must not exist), keeping
// symlinks, hard links, modes and mtimes, and ownership and device nodes when
// running as root. Directory metadata is applied after their contents.
func CopyTree(src, dst string) error {
	type inode struct{ dev, ino uint64 }
	links := map[inode]string{}
	root := os.Geteuid() == 0
	var dirs []string
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		out := filepath.Join(dst, rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		hdr := &tar.Header{Mode: int64(fi.Mode().Perm()), ModTime: fi.ModTime()}
		if fi.Mode()&os.ModeSetuid != 0 {
			hdr.Mode |= 0o4000
		}
		if fi.Mode()&os.ModeSetgid != 0 {
			hdr.Mode |= 0o2000
		}
		if fi.Mode()&os.ModeSticky != 0 {
			hdr.Mode |= 0o1000
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st != nil {
			hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
		}
		switch {
		case fi.IsDir():
			if err := os.Mkdir(out, 0o700); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
			dirs = append(dirs, rel)
			return nil
		case st != nil && st.Nlink > 1:
			key := inode{uint64(st.Dev), uint64(st.Ino)}
			if first, ok := links[key]; ok {
				if err := linkNoFollow(first, out); err != nil {
					return fmt.Errorf("copy: %w", err)
				}
				return nil
			}
			links[key] = out
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return fmt.Errorf("copy: %w", err)
			}
			if err := os.Symlink(target, out); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
		case fi.Mode().IsRegular():
			if err := copyFile(p, out); err != nil {
				return err
			}
		case fi.Mode()&(os.ModeDevice|os.ModeCharDevice|os.ModeNamedPipe) != 0:
			if !root && fi.Mode()&os.ModeNamedPipe == 0 {
				return nil // device nodes need root; the unpack recorded them
			}
			hdr.Typeflag = tar.TypeFifo
			if fi.Mode()&os.ModeCharDevice != 0 {
				hdr.Typeflag = tar.TypeChar
			} else if fi.Mode()&os.ModeDevice != 0 {
				hdr.Typeflag = tar.TypeBlock
			}
			if st != nil {
				hdr.Devmajor, hdr.Devminor = devNumbers(st)
			}
			if err := mknod(out, hdr); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
		default:
			return nil // sockets and the like are not copied
		}
		if root {
			if err := os.Lchown(out, hdr.Uid, hdr.Gid); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			if err := os.Chmod(out, tarMode(hdr)); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
		}
		if err := setTimes(out, hdr); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	for _, rel := range dirs {
		fi, err := os.Lstat(filepath.Join(src, rel))
		if err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		out := filepath.Join(dst, rel)
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && root {
			if err := os.Lchown(out, int(st.Uid), int(st.Gid)); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
		}
		if err := os.Chmod(out, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		if err := setTimes(out, &tar.Header{ModTime: fi.ModTime()}); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	_, err = io.Copy(out, in)
	err = errors.Join(err, out.Close())
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}
