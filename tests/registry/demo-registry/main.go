// Command demo-registry serves an image built from a root file system tar from an in-process
// registry (go-containerregistry's pkg/registry) on 127.0.0.1, for the README's main job
// (scripts/demo.sh): the demo pulls the image with `elfuse pull` as it would from any registry.
//
//	demo-registry -tar rootfs.tar -name elfuse-demo/busybox:latest -cmd /bin/sh
//
// It pushes the image, prints the registry's address (127.0.0.1:PORT) on a line of its own and
// serves until SIGTERM or SIGINT, until the process that started it exits (Linux), or for
// -lifetime at most. Nothing is written to disk: blobs live in memory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	tarPath := flag.String("tar", "", "root file system `TAR` (plain or gzip) to serve as the image's only layer")
	repo := flag.String("name", "elfuse-demo/busybox:latest", "repository and tag to push as, `REPO:TAG`")
	cmd := flag.String("cmd", "/bin/sh", "the image's CMD, one `PROGRAM` path")
	addr := flag.String("addr", "127.0.0.1:0", "listen `ADDRESS` (loopback)")
	lifetime := flag.Duration("lifetime", 10*time.Minute, "exit after this long even if nobody stops it")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("demo-registry: ")
	if *tarPath == "" {
		log.Fatal("-tar is required")
	}
	dieWithParent()

	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	host := l.Addr().String()
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()

	img, err := buildImage(*tarPath, *cmd)
	if err != nil {
		log.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/"+*repo, name.Insecure)
	if err != nil {
		log.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		log.Fatalf("push %s: %v", ref, err)
	}
	fmt.Println(host)
	os.Stdout.Close() // the reader sees the end of the output: the registry is ready

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	select {
	case <-sig:
	case <-time.After(*lifetime):
		log.Printf("stopping after %s", *lifetime)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// buildImage makes a one-layer OCI image of the host's architecture from a root file system tar.
func buildImage(tarPath, cmd string) (v1.Image, error) {
	layer, err := tarball.LayerFromFile(tarPath, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer from %s: %w", tarPath, err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{CreatedBy: "scripts/demo-image.sh (Debian's busybox-static)"}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Cmd = []string{cmd}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return mutate.ConfigFile(img, cf)
}
