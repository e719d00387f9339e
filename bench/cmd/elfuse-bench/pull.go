//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The pull rows time fetching an image from a docker-registry on 127.0.0.1 and unpacking it into
// a directory tree, by elfuse and by two peer tool chains. There is no native runner here: the
// ratio column is to crane+tar (pullReference).

// pullReference is the runner the pull rows' ratios are relative to.
const pullReference = "crane+tar"

// pullWorkload is one pull row.
type pullWorkload struct {
	Name string
	Desc string
	// Warm pulls image B into a state holding image A (all blobs but one already there);
	// otherwise image A is pulled into an empty directory.
	Warm bool
}

var pullWorkloads = []pullWorkload{
	{Name: "pull-100MB", Desc: "pull and unpack a 5-layer ~100 MB image from a loopback registry, nothing cached"},
	{Name: "pull-100MB-warm", Desc: "pull and unpack an image sharing 4 of its 5 layers with one pulled before", Warm: true},
}

// pullImage is what a runner needs to know of the image it pulls.
type pullImage struct {
	ref       string // 127.0.0.1:port/bench/app:tag
	tag       string
	digest    v1.Hash // manifest digest
	configHex string
}

// pullRunner is one way of pulling and unpacking an image into a fresh directory.
type pullRunner struct {
	Name        string
	Unavailable string
	// run pulls and unpacks img into dir (timed). dir exists; for a warm run it holds the state
	// the same runner left after pulling image A.
	run func(ctx context.Context, dir string, img pullImage) error
	// root is where run leaves the unpacked tree.
	root func(dir string, img pullImage) string
	// scratch, when set, is the part of dir a later pull does not reuse (the peers' unpacked
	// bundle); it is left out of the warm rows' seed.
	scratch func(dir string, img pullImage) string
}

// pullTools are the peers' binaries; empty when missing.
type pullTools struct {
	elfuse, elfuseShown string
	crane, tar          string
	skopeo, umoci       string
	registry            string
}

// findPullTools looks for the registry and the peers: crane under <cache>/bench (built by
// scripts/bench-setup.sh) unless given, the others on PATH.
func findPullTools(o options, e env) pullTools {
	t := pullTools{elfuse: e.elfuse, elfuseShown: e.shown, crane: o.cranePath}
	if t.crane == "" {
		t.crane = filepath.Join(o.cache, "bench", "crane")
	}
	if _, err := os.Stat(t.crane); err != nil {
		t.crane = ""
	}
	t.tar, _ = exec.LookPath("tar")
	t.skopeo, _ = exec.LookPath("skopeo")
	t.umoci, _ = exec.LookPath("umoci")
	t.registry, _ = exec.LookPath("docker-registry")
	return t
}

// makePullRunners returns elfuse, crane+tar and skopeo+umoci, each marked unavailable when a tool
// is missing.
func makePullRunners(t pullTools, timeout time.Duration) []*pullRunner {
	elf := &pullRunner{Name: "elfuse",
		run: func(ctx context.Context, dir string, img pullImage) error {
			return runTool(ctx, timeout, t.elfuse, "pull", "--store", filepath.Join(dir, "store"), img.ref)
		},
		root: func(dir string, img pullImage) string {
			return filepath.Join(dir, "store", "sysroots", img.configHex, "rootfs")
		},
	}
	if fi, err := os.Stat(t.elfuse); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		elf.Unavailable = fmt.Sprintf("no elfuse binary at %s (run make first)", t.elfuseShown)
	}

	// crane pull writes an OCI layout (layers fetched in parallel, blobs already in the layout
	// kept); the layers are then extracted in manifest order with GNU tar, which is what a
	// registry pull plus `tar -x` of each layer amounts to (this fixture has no whiteouts).
	crane := &pullRunner{Name: "crane+tar",
		run: func(ctx context.Context, dir string, img pullImage) error {
			layout := filepath.Join(dir, "layout")
			if err := runTool(ctx, timeout, t.crane, "pull", "--insecure", "--format=oci", img.ref, layout); err != nil {
				return err
			}
			layers, err := layoutLayers(layout, img.digest)
			if err != nil {
				return err
			}
			root := filepath.Join(dir, "rootfs-"+img.tag)
			if err := os.Mkdir(root, 0o755); err != nil {
				return err
			}
			for _, l := range layers {
				if err := runTool(ctx, timeout, t.tar, "-xf", filepath.Join(layout, "blobs", l.Algorithm, l.Hex), "-C", root); err != nil {
					return err
				}
			}
			return nil
		},
		root:    func(dir string, img pullImage) string { return filepath.Join(dir, "rootfs-"+img.tag) },
		scratch: func(dir string, img pullImage) string { return filepath.Join(dir, "rootfs-"+img.tag) },
	}
	switch {
	case t.crane == "":
		crane.Unavailable = "crane not built (run scripts/bench-setup.sh)"
	case t.tar == "":
		crane.Unavailable = "tar not installed"
	}

	// skopeo copies into an OCI layout (reusing blobs it has), umoci unpacks it as a bundle.
	skopeo := &pullRunner{Name: "skopeo+umoci",
		run: func(ctx context.Context, dir string, img pullImage) error {
			layout := filepath.Join(dir, "layout")
			if err := runTool(ctx, timeout, t.skopeo, "copy", "--quiet", "--src-tls-verify=false",
				"docker://"+img.ref, "oci:"+layout+":"+img.tag); err != nil {
				return err
			}
			return runTool(ctx, timeout, t.umoci, "unpack", "--rootless", "--image", layout+":"+img.tag,
				filepath.Join(dir, "bundle-"+img.tag))
		},
		root:    func(dir string, img pullImage) string { return filepath.Join(dir, "bundle-"+img.tag, "rootfs") },
		scratch: func(dir string, img pullImage) string { return filepath.Join(dir, "bundle-"+img.tag) },
	}
	switch {
	case t.skopeo == "":
		skopeo.Unavailable = "skopeo not installed (run scripts/bench-setup.sh)"
	case t.umoci == "":
		skopeo.Unavailable = "umoci not installed (run scripts/bench-setup.sh)"
	}
	return []*pullRunner{elf, crane, skopeo}
}

// layoutLayers reads the layer digests, in order, of the manifest with digest want in an OCI
// layout.
func layoutLayers(layout string, want v1.Hash) ([]v1.Hash, error) {
	b, err := os.ReadFile(filepath.Join(layout, "blobs", want.Algorithm, want.Hex))
	if err != nil {
		return nil, fmt.Errorf("manifest %s not in the layout: %w", want, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", want, err)
	}
	var out []v1.Hash
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out, nil
}

// runTool runs argv with a deadline in its own process group and fails with the last line of its
// stderr when it exits non-zero.
func runTool(ctx context.Context, timeout time.Duration, argv ...string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%s timed out after %s", filepath.Base(argv[0]), timeout)
	}
	if err != nil {
		return fmt.Errorf("%s: %v: %s", filepath.Base(argv[0]), err, lastLine(out.String()))
	}
	return nil
}

// pullBench is the state of the pull rows: the fixture, the registry that serves it and the
// scratch directory the runners work in.
type pullBench struct {
	fx      *pullFixture
	reg     *registry
	work    string
	a, b    pullImage
	runners []*pullRunner
	timeout time.Duration
}

// setupPull generates the fixture, starts the registry under work and pushes images A and B.
func setupPull(ctx context.Context, o options, e env, work string) (*pullBench, *PullInfo, error) {
	tools := findPullTools(o, e)
	if tools.registry == "" {
		return nil, nil, errors.New("docker-registry not installed (run scripts/bench-setup.sh)")
	}
	timeout := max(o.maxTime, 60*time.Second)
	fmt.Fprintln(os.Stderr, "elfuse-bench: generating the pull fixture")
	start := time.Now()
	fx, err := buildPullFixture(1)
	if err != nil {
		return nil, nil, err
	}
	info := fx.info()
	fmt.Fprintf(os.Stderr, "  %d layers, %.1f MB compressed, %.1f MB of tar, %d files (%.1fs)\n", len(fx.Layers)-1,
		float64(info.CompressedBytes)/1e6, float64(info.UncompressedBytes)/1e6, info.Files, time.Since(start).Seconds())
	if err := os.RemoveAll(work); err != nil {
		return nil, nil, fmt.Errorf("pull work dir: %w", err)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, nil, fmt.Errorf("pull work dir: %w", err)
	}
	reg, err := startRegistry(tools.registry, filepath.Join(work, "registry"))
	if err != nil {
		return nil, nil, err
	}
	pb := &pullBench{fx: fx, reg: reg, work: work, timeout: timeout, runners: makePullRunners(tools, timeout)}
	for _, im := range []*struct {
		fi  *fixtureImage
		dst *pullImage
	}{{&fx.A, &pb.a}, {&fx.B, &pb.b}} {
		ref := reg.host + "/bench/app:" + im.fi.Tag
		r, err := name.ParseReference(ref)
		if err != nil {
			pb.close()
			return nil, nil, err
		}
		if err := remote.Write(r, im.fi.img, remote.WithContext(ctx)); err != nil {
			pb.close()
			return nil, nil, fmt.Errorf("push %s: %w", ref, err)
		}
		*im.dst = pullImage{ref: ref, tag: im.fi.Tag, digest: im.fi.digest, configHex: im.fi.configHex}
	}
	info.Tools["docker-registry"] = registryVersion(ctx, tools.registry)
	if tools.crane != "" {
		info.Tools["crane"] = toolVersion(ctx, tools.crane, "version")
	}
	if tools.tar != "" {
		info.Tools["tar"] = toolVersion(ctx, tools.tar, "--version")
	}
	if tools.skopeo != "" {
		info.Tools["skopeo"] = toolVersion(ctx, tools.skopeo, "--version")
	}
	if tools.umoci != "" {
		info.Tools["umoci"] = toolVersion(ctx, tools.umoci, "--version")
	}
	return pb, info, nil
}

// close stops the registry and removes the scratch directory with its storage.
func (pb *pullBench) close() {
	pb.reg.stop()
	if err := os.RemoveAll(pb.work); err != nil {
		fmt.Fprintln(os.Stderr, "elfuse-bench: warning: remove pull work dir:", err)
	}
}

// measure runs one pull row the way measure runs a program row: warm-ups then measured
// repetitions, each going through all runners in turn with the starting runner rotating. Before
// each run (untimed) the runner's directory is emptied, or for a warm row set to a copy of the
// state the runner left after pulling image A, and the page cache's dirty data is written back;
// after each run (untimed) the unpacked tree is checked.
func (pb *pullBench) measure(ctx context.Context, o options, w pullWorkload, keep []string) ([]Row, error) {
	runners := pb.runners
	if len(keep) > 0 {
		runners = slices.DeleteFunc(slices.Clone(runners), func(r *pullRunner) bool { return !slices.Contains(keep, r.Name) })
	}
	img, check := pb.a, pb.fx.A.check
	if w.Warm {
		img, check = pb.b, pb.fx.B.check
	}
	rows := make([]Row, len(runners))
	active := make([]bool, len(runners))
	seeds := make([]string, len(runners))
	fail := func(i int, err error) {
		active[i] = false
		rows[i].Status, rows[i].Reason, rows[i].Times = "failed", err.Error(), nil
		if errors.Is(err, errWrongOutput) {
			rows[i].Status = "wrong"
		}
		fmt.Fprintf(os.Stderr, "  %s: %s: %v\n", runners[i].Name, rows[i].Status, err)
	}
	for i, r := range runners {
		rows[i] = Row{Workload: w.Name, Runner: r.Name, Status: "ok", RatioTo: pullReference}
		if r.Unavailable != "" {
			rows[i].Status, rows[i].Reason = "unavailable", r.Unavailable
			continue
		}
		active[i] = true
		if w.Warm {
			// The seed: this runner's own pull of image A, which every warm run starts from.
			seeds[i] = filepath.Join(pb.work, "seed-"+r.Name)
			if err := resetDir(seeds[i], ""); err != nil {
				return nil, err
			}
			if err := r.run(ctx, seeds[i], pb.a); err != nil {
				fail(i, fmt.Errorf("pulling image A first: %w", err))
			} else if r.scratch != nil {
				if err := os.RemoveAll(r.scratch(seeds[i], pb.a)); err != nil {
					return nil, err
				}
			}
		}
	}
	for rep := 0; rep < o.warmups+o.reps; rep++ {
		for k := range runners {
			i := (k + rep) % len(runners)
			if !active[i] {
				continue
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("interrupted: %w", ctx.Err())
			}
			r := runners[i]
			dir := filepath.Join(pb.work, "run-"+r.Name)
			if err := resetDir(dir, seeds[i]); err != nil {
				return nil, err
			}
			syscall.Sync()
			start := time.Now()
			err := r.run(ctx, dir, img)
			took := time.Since(start)
			if err == nil {
				err = check.verify(r.root(dir, img))
			}
			if err != nil {
				fail(i, err)
				continue
			}
			if rep >= o.warmups {
				rows[i].Times = append(rows[i].Times, took.Seconds())
			}
		}
	}
	for i := range runners {
		if err := os.RemoveAll(filepath.Join(pb.work, "run-"+runners[i].Name)); err != nil {
			return nil, err
		}
		if seeds[i] != "" {
			if err := os.RemoveAll(seeds[i]); err != nil {
				return nil, err
			}
		}
	}
	setRatios(rows, pullReference)
	return rows, nil
}

// setRatios summarizes the rows and sets each one's ratio to the reference runner's median, or,
// when that runner has no time, to the fastest runner's.
func setRatios(rows []Row, reference string) {
	var ref float64
	refName := ""
	for i := range rows {
		rows[i].summarize()
		if rows[i].Status == "ok" && rows[i].Runner == reference && rows[i].Median > 0 {
			ref, refName = rows[i].Median, reference
		}
	}
	if ref == 0 {
		for i := range rows {
			if rows[i].Status == "ok" && rows[i].Median > 0 && (ref == 0 || rows[i].Median < ref) {
				ref, refName = rows[i].Median, rows[i].Runner
			}
		}
	}
	for i := range rows {
		rows[i].RatioTo = refName
		if ref > 0 && rows[i].Status == "ok" {
			rows[i].Ratio = rows[i].Median / ref
		}
	}
}

// resetDir makes dir empty, or a copy of seed when seed is set (cp -a keeps hard links, modes
// and ownership).
func resetDir(dir, seed string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("reset %s: %w", dir, err)
	}
	if seed == "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("reset %s: %w", dir, err)
		}
		return nil
	}
	if out, err := exec.Command("cp", "-a", seed, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("copy %s: %v: %s", seed, err, lastLine(string(out)))
	}
	return nil
}

// summary is a one-line description of the fixture for the log and the page.
func (pi *PullInfo) summary() string {
	var parts []string
	for _, l := range pi.Layers[:len(pi.Layers)-1] {
		parts = append(parts, fmt.Sprintf("%s %s/%s", l.Name, mb(l.Compressed), mb(l.Uncompressed)))
	}
	return strings.Join(parts, ", ")
}

// mb formats a byte count in MB (10^6).
func mb(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// tools is the tool versions as one line, in a fixed order.
func (pi *PullInfo) tools() string {
	var parts []string
	for _, k := range []string{"docker-registry", "crane", "tar", "skopeo", "umoci"} {
		if v := pi.Tools[k]; v != "" {
			parts = append(parts, k+" "+v)
		}
	}
	return strings.Join(parts, ", ")
}

// writePullNotes writes the BENCHMARKS.md section on the pull rows.
func writePullNotes(b *strings.Builder, pi *PullInfo) {
	fmt.Fprintf(b, `
Notes on the pull rows (`+"`pull-100MB`, `pull-100MB-warm`"+`; in `+"`make bench`"+`, not in `+"`make bench-quick`"+`):

- The image is generated by Go code in `+"`bench/cmd/elfuse-bench/pullfixture.go`"+` from fixed seeds (no
  downloads) and pushed to Debian's docker-registry, started by the driver on a free 127.0.0.1 port with
  its storage in a temporary directory and stopped at the end. It has 5 gzip layers, %s compressed,
  %s of tar, %d files; per layer (compressed/tar): %s. Text compresses about 3x, the binary-like
  files about 2x, the data layer not at all; the application layer overrides a file of the base layer,
  and there are symlinks and a hard link (no whiteouts, which `+"`tar -x`"+` cannot apply).
- `+"`elfuse`"+` is `+"`build/elfuse pull --store <empty dir> REF`"+`: fetch, verify, unpack into the sysroot.
  `+"`crane+tar`"+` is `+"`crane pull --format=oci REF <dir>`"+` (crane built from the Go module proxy at the
  go-containerregistry version in go.mod, by scripts/bench-setup.sh) then GNU `+"`tar -xf`"+` of each layer
  blob in manifest order into an empty directory. `+"`skopeo+umoci`"+` is Debian's
  `+"`skopeo copy --src-tls-verify=false docker://REF oci:<dir>:TAG`"+` then
  `+"`umoci unpack --rootless --image <dir>:TAG <bundle>`"+` (umoci also writes an mtree manifest of the tree,
  which is part of its unpack). All of them run as root (tar and elfuse apply ownership; umoci, rootless,
  records it).
- `+"`pull-100MB`"+` starts each run from an empty directory. `+"`pull-100MB-warm`"+` pulls image B, which
  shares the first 4 layers with A and has its own last layer (%s compressed), into a copy of
  the state that runner left after pulling A (its store or OCI layout), so only one blob is fetched;
  every tool still unpacks all 5 layers into a fresh tree.
- Before each run (untimed) the directory is reset and dirty pages are written back (sync); after each
  run (untimed) the tree is checked: the number of regular files, the SHA-256 of %d known files across
  the layers (including the overridden one and the hard link) and the targets of %d symlinks.
- File creation right after a large removal is slow on ext4 without a journal (as here): ext4 will not
  reuse an inode number freed in the last seconds and scans past each such inode for every new file,
  and the reset before each run frees some 4,500. tar and umoci pay this in full and vary with it
  (the wide min-max of their rows); elfuse's store sets ext4's top-directory flag (`+"`chattr +T`"+`) on
  its `+"`tmp`"+` directory, so ext4 places each unpack in a block group it picks afresh (the Orlov
  allocator) rather than next to the tree just removed.
- Tools: %s.
`, mb(pi.CompressedBytes), mb(pi.UncompressedBytes), pi.Files, pi.summary(), mb(pi.WarmNewBytes),
		len(probes), len(probeLinks), pi.tools())
}
