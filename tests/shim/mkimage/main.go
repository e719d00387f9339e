// Command mkimage writes a single-layer container image as a docker-archive tarball (what
// `docker save` writes; `ctr image import`, `nerdctl load` and `docker load` read it) from a
// root file system tar, such as scripts/demo-image.sh's busybox, or from single host files:
//
//	go run ./tests/shim/mkimage -rootfs "$(scripts/demo-image.sh)" -ref docker.io/elfuse/busybox:latest -o busybox.tar
//	go run ./tests/shim/mkimage -file /tmp/pause:/pause -entrypoint /pause -ref docker.io/elfuse/pause:latest -o pause.tar
//
// No registry is involved; the image's platform is linux/GOARCH of the host unless -arch says.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(s string) error { *f = append(*f, s); return nil }

func main() {
	var (
		rootfs     = flag.String("rootfs", "", "root file system tar (uncompressed) to use as the layer")
		ref        = flag.String("ref", "docker.io/elfuse/busybox:latest", "image reference recorded in the archive")
		out        = flag.String("o", "", "output tarball")
		cmd        = flag.String("cmd", `["/bin/sh"]`, "image CMD, a JSON array")
		entrypoint = flag.String("entrypoint", "", "image ENTRYPOINT: a JSON array or a single path")
		arch       = flag.String("arch", runtime.GOARCH, "image architecture")
		add        files
	)
	flag.Var(&add, "file", "HOSTPATH:IMAGEPATH, a host file to put in the layer (mode kept); repeatable, instead of -rootfs")
	flag.Parse()
	if *out == "" || (*rootfs == "") == (len(add) == 0) {
		fmt.Fprintln(os.Stderr, "mkimage: need -o and exactly one of -rootfs or -file")
		os.Exit(2)
	}
	if err := run(*rootfs, add, *ref, *out, *cmd, *entrypoint, *arch); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(rootfs string, add []string, ref, out, cmd, entrypoint, arch string) error {
	var layer v1.Layer
	var err error
	if rootfs != "" {
		layer, err = tarball.LayerFromFile(rootfs)
	} else {
		var data []byte
		data, err = filesTar(add)
		if err == nil {
			layer, err = tarball.LayerFromReader(bytes.NewReader(data))
		}
	}
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Cmd = nil
	if cmd != "" {
		if err := json.Unmarshal([]byte(cmd), &cf.Config.Cmd); err != nil {
			return fmt.Errorf("-cmd: %w", err)
		}
	}
	if entrypoint != "" {
		if strings.HasPrefix(entrypoint, "[") {
			if err := json.Unmarshal([]byte(entrypoint), &cf.Config.Entrypoint); err != nil {
				return fmt.Errorf("-entrypoint: %w", err)
			}
		} else {
			cf.Config.Entrypoint = []string{entrypoint}
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return err
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, out)
}

// filesTar makes a layer holding each HOSTPATH:IMAGEPATH file (and its parent directories).
func filesTar(add []string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, a := range add {
		host, dst, ok := strings.Cut(a, ":")
		if !ok || !strings.HasPrefix(dst, "/") {
			return nil, fmt.Errorf("-file %q: want HOSTPATH:/IMAGEPATH", a)
		}
		dst = strings.TrimPrefix(dst, "/")
		parts := strings.Split(dst, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
					return nil, err
				}
			}
		}
		f, err := os.Open(host)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: dst, Mode: int64(st.Mode().Perm()), Size: st.Size(), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			f.Close()
			return nil, err
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
