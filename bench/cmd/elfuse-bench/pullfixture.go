//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The pull fixture is an image of five gzip layers that looks like an application image: a base
// system (many small text files, binaries, symlinks, a hard link), shared libraries and a Python
// tree, an incompressible data layer (one large file and many medium ones), an application layer
// (thousands of tiny files, one large compressible file, and a file that overrides one of the base
// layer's) and a small configuration layer. Image B shares the first four layers with image A and
// differs in the last, so pulling B after A reuses all but one blob. Everything is generated from
// fixed seeds, so two runs build the same digests.

// fixtureMTime is every entry's modification time.
var fixtureMTime = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fileState is one path in the unpacked tree the layers build, as the checks see it.
type fileState struct {
	kind byte     // tar.TypeReg (hard links too), tar.TypeSymlink or tar.TypeDir
	sum  [32]byte // content hash of a regular file
	link string   // symlink target
}

// treeState is the tree that applying some layers in order gives.
type treeState map[string]fileState

func (t treeState) clone() treeState {
	c := make(treeState, len(t))
	for k, v := range t {
		c[k] = v
	}
	return c
}

// fixtureLayer is one generated layer.
type fixtureLayer struct {
	Name         string `json:"name"`
	Compressed   int64  `json:"compressed_bytes"`
	Uncompressed int64  `json:"uncompressed_bytes"` // tar stream size
	FileBytes    int64  `json:"file_bytes"`         // regular file data
	Files        int    `json:"files"`              // regular files and hard links
	Entries      int    `json:"entries"`

	gz   []byte
	tree treeState // the entries this layer writes
}

// treeCheck is what a correct unpack of one image must hold: the number of regular files, the
// content of a few known files and the targets of a few symlinks.
type treeCheck struct {
	regular  int
	sums     map[string]string
	symlinks map[string]string
}

// fixtureImage is one pushed image and how to check its unpacked tree.
type fixtureImage struct {
	Tag       string
	img       v1.Image
	digest    v1.Hash // manifest digest
	configHex string  // image ID without the algorithm
	check     treeCheck
}

// pullFixture is the pair of images the pull rows fetch.
type pullFixture struct {
	Layers []*fixtureLayer // A's five layers, then B's last layer
	A, B   fixtureImage
}

// PullInfo describes the fixture in results.json and BENCHMARKS.md.
type PullInfo struct {
	Layers            []*fixtureLayer   `json:"layers"`
	CompressedBytes   int64             `json:"compressed_bytes"`
	UncompressedBytes int64             `json:"uncompressed_bytes"`
	FileBytes         int64             `json:"file_bytes"`
	Files             int               `json:"files"`
	WarmNewBytes      int64             `json:"warm_new_compressed_bytes"`
	Tools             map[string]string `json:"tools"`
}

// probes are the files and symlinks whose content every unpack is checked against. They cover
// each layer, the override of a base file by a later layer, a hard link and the variant layer.
var probes = []string{
	"etc/os-release",                   // base layer, overridden by the app layer
	"etc/hostname",                     // base layer only
	"usr/share/doc/pkg-0007/copyright", // small text file
	"usr/bin/python3",                  // hard link to python3.12
	"usr/lib/libbench2.so.1",           // binary-like library
	"usr/lib/python3.12/json/mod-0003.py",
	"opt/data/blob.bin",     // large incompressible file
	"app/data/events.jsonl", // large compressible file
	"app/node_modules/pkg-0013/index.js",
	"app/VERSION", // variant layer
	"app/static/bundle.js",
}

var probeLinks = []string{"bin", "lib", "sbin", "usr/lib/libbench2.so", "usr/bin/python"}

// buildPullFixture generates the layers (scale 1 is the full ~100 MB; tests use less) and the two
// images for the host's architecture.
func buildPullFixture(scale float64) (*pullFixture, error) {
	gens := []struct {
		name string
		seed uint64
		gen  func(b *layerBuilder)
	}{
		{"base system", 1, genBase},
		{"libraries", 2, genLibs},
		{"data", 3, genData},
		{"application", 4, genApp},
		{"config A", 5, func(b *layerBuilder) { genConfig(b, "A") }},
		{"config B", 6, func(b *layerBuilder) { genConfig(b, "B") }},
	}
	layers := make([]*fixtureLayer, len(gens))
	errs := make([]error, len(gens))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for i, g := range gens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			b := newLayerBuilder(g.seed, scale)
			g.gen(b)
			layers[i], errs[i] = b.finish(g.name)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("fixture layer %q: %w", gens[i].name, err)
		}
	}
	fx := &pullFixture{Layers: layers}
	var err error
	if fx.A, err = makeFixtureImage("a", layers[:5]); err != nil {
		return nil, err
	}
	if fx.B, err = makeFixtureImage("b", append(layers[:4:4], layers[5])); err != nil {
		return nil, err
	}
	return fx, nil
}

// makeFixtureImage assembles an OCI image from layers and works out its tree check.
func makeFixtureImage(tag string, layers []*fixtureLayer) (fixtureImage, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	tree := treeState{}
	for _, l := range layers {
		gz := l.gz
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(gz)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return fixtureImage{}, fmt.Errorf("fixture layer %q: %w", l.Name, err)
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
			History: v1.History{Created: v1.Time{Time: fixtureMTime}, CreatedBy: "elfuse-bench fixture: " + l.Name}})
		if err != nil {
			return fixtureImage{}, fmt.Errorf("fixture image %s: %w", tag, err)
		}
		for p, st := range l.tree {
			tree[p] = st
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return fixtureImage{}, fmt.Errorf("fixture image %s: %w", tag, err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: fixtureMTime}
	cf.Config.Cmd = []string{"/usr/bin/python3", "/app/main.py"}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.WorkingDir = "/app"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return fixtureImage{}, fmt.Errorf("fixture image %s: %w", tag, err)
	}
	fi := fixtureImage{Tag: tag, img: img}
	if fi.digest, err = img.Digest(); err != nil {
		return fixtureImage{}, fmt.Errorf("fixture image %s: %w", tag, err)
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return fixtureImage{}, fmt.Errorf("fixture image %s: %w", tag, err)
	}
	fi.configHex = cfgName.Hex
	fi.check = treeCheck{sums: map[string]string{}, symlinks: map[string]string{}}
	for _, st := range tree {
		if st.kind == tar.TypeReg {
			fi.check.regular++
		}
	}
	for _, p := range probes {
		st, ok := tree[p]
		if !ok || st.kind != tar.TypeReg {
			continue // at small scales some probes are not generated
		}
		fi.check.sums[p] = hex.EncodeToString(st.sum[:])
	}
	for _, p := range probeLinks {
		if st, ok := tree[p]; ok && st.kind == tar.TypeSymlink {
			fi.check.symlinks[p] = st.link
		}
	}
	return fi, nil
}

// info summarizes the fixture for the report.
func (fx *pullFixture) info() *PullInfo {
	pi := &PullInfo{Layers: fx.Layers, Files: fx.A.check.regular, Tools: map[string]string{}}
	for _, l := range fx.Layers[:5] {
		pi.CompressedBytes += l.Compressed
		pi.UncompressedBytes += l.Uncompressed
		pi.FileBytes += l.FileBytes
	}
	pi.WarmNewBytes = fx.Layers[5].Compressed
	return pi
}

// verify checks an unpacked tree against the image's check: the count of regular files, the
// SHA-256 of the probe files and the probe symlinks' targets.
func (c treeCheck) verify(root string) error {
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			n++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk %s: %w", root, err)
	}
	if n != c.regular {
		return fmt.Errorf("%w: %d regular files under %s, want %d", errWrongOutput, n, root, c.regular)
	}
	for p, want := range c.sums {
		f, err := os.Open(filepath.Join(root, p))
		if err != nil {
			return fmt.Errorf("%w: %v", errWrongOutput, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != want {
			return fmt.Errorf("%w: /%s has sha256 %.12s…, want %.12s…", errWrongOutput, p, got, want)
		}
	}
	for p, want := range c.symlinks {
		got, err := os.Readlink(filepath.Join(root, p))
		if err != nil || got != want {
			return fmt.Errorf("%w: /%s -> %q (%v), want -> %q", errWrongOutput, p, got, err, want)
		}
	}
	return nil
}

// layerBuilder writes one layer's tar stream from a seeded generator.
type layerBuilder struct {
	rng   *rand.Rand
	cha   *rand.ChaCha8
	scale float64
	buf   bytes.Buffer
	tw    *tar.Writer
	dirs  map[string]bool
	tree  treeState
	layer fixtureLayer
	err   error
}

func newLayerBuilder(seed uint64, scale float64) *layerBuilder {
	var cs [32]byte
	for i := range cs {
		cs[i] = byte(seed*131 + uint64(i))
	}
	b := &layerBuilder{rng: rand.New(rand.NewPCG(seed, 0x656c66757365)), cha: rand.NewChaCha8(cs), scale: scale,
		dirs: map[string]bool{}, tree: treeState{}}
	b.tw = tar.NewWriter(&b.buf)
	return b
}

// n scales a count, keeping at least one.
func (b *layerBuilder) n(full int) int {
	return max(1, int(math.Round(float64(full)*b.scale)))
}

// size draws a log-uniform size between lo and hi bytes.
func (b *layerBuilder) size(lo, hi int) int {
	return int(float64(lo) * math.Pow(float64(hi)/float64(lo), b.rng.Float64()))
}

// big scales a large file's size, keeping at least 4 KiB.
func (b *layerBuilder) big(full int) int {
	return max(4096, int(float64(full)*b.scale))
}

func (b *layerBuilder) header(h *tar.Header) {
	if b.err != nil {
		return
	}
	h.ModTime = fixtureMTime
	h.Format = tar.FormatPAX
	if h.Uname == "" {
		h.Uname, h.Gname = "root", "root"
	}
	b.err = b.tw.WriteHeader(h)
	b.layer.Entries++
}

// dir writes the directory p and any parents this layer has not written yet.
func (b *layerBuilder) dir(p string) {
	if p == "." || p == "" || b.dirs[p] {
		return
	}
	b.dir(path.Dir(p))
	b.dirs[p] = true
	mode := int64(0o755)
	switch p {
	case "tmp":
		mode = 0o1777
	case "root":
		mode = 0o700
	}
	b.header(&tar.Header{Name: p + "/", Typeflag: tar.TypeDir, Mode: mode})
	b.tree[p] = fileState{kind: tar.TypeDir}
}

func (b *layerBuilder) file(p string, mode int64, data []byte) {
	b.dir(path.Dir(p))
	b.header(&tar.Header{Name: p, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data))})
	if b.err == nil {
		_, b.err = b.tw.Write(data)
	}
	b.tree[p] = fileState{kind: tar.TypeReg, sum: sha256.Sum256(data)}
	b.layer.Files++
	b.layer.FileBytes += int64(len(data))
}

func (b *layerBuilder) symlink(p, target string) {
	b.dir(path.Dir(p))
	b.header(&tar.Header{Name: p, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777})
	b.tree[p] = fileState{kind: tar.TypeSymlink, link: target}
}

// hardlink links p to target, a regular file this layer already wrote.
func (b *layerBuilder) hardlink(p, target string) {
	b.dir(path.Dir(p))
	b.header(&tar.Header{Name: p, Typeflag: tar.TypeLink, Linkname: target, Mode: 0o755})
	b.tree[p] = b.tree[target]
	b.layer.Files++
}

// finish closes the tar stream and gzips it at the default level, as image builders do.
func (b *layerBuilder) finish(name string) (*fixtureLayer, error) {
	if b.err == nil {
		b.err = b.tw.Close()
	}
	if b.err != nil {
		return nil, b.err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(b.buf.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	l := b.layer
	l.Name = name
	l.Uncompressed = int64(b.buf.Len())
	l.gz = gz.Bytes()
	l.Compressed = int64(len(l.gz))
	l.tree = b.tree
	return &l, nil
}

// words are the vocabulary of the generated prose and code; they compress like real text.
var words = strings.Fields(`the of and to in is that for it as with was on be by this are or from at
an which not have but all can has one their will were its more been when there other if into some
these than then them only two may any such also new would used time first each most over after
package version license copyright software program free distributed warranty without even implied
merchantability fitness particular purpose general public received copy along write foundation
configuration option default value file directory system user group service network address port
error warning debug info message return function class import from self none true false string
int list dict def lambda yield async await raise except try finally while break continue pass
const let var export module require function undefined null this prototype object array length
push map filter reduce promise resolve reject callback event listener buffer stream encoding`)

// text returns about n bytes of word-salad prose or code, ending in a newline.
func (b *layerBuilder) text(n int, code bool) []byte {
	out := make([]byte, 0, n+64)
	line := 0
	for len(out) < n {
		if code && line == 0 {
			indent := int(b.rng.Uint64() % 4)
			for range indent * 4 {
				out = append(out, ' ')
			}
		}
		out = append(out, words[b.rng.Uint64()%uint64(len(words))]...)
		line++
		switch {
		case line >= 6+int(b.rng.Uint64()%10):
			if code {
				out = append(out, "();"[b.rng.Uint64()%3])
			} else {
				out = append(out, '.')
			}
			out = append(out, '\n')
			line = 0
		case code && b.rng.Uint64()%5 == 0:
			out = append(out, "_.(, "[b.rng.Uint64()%5])
		default:
			out = append(out, ' ')
		}
	}
	return append(out[:n-1], '\n')
}

// random returns n incompressible bytes.
func (b *layerBuilder) random(n int) []byte {
	out := make([]byte, n)
	b.cha.Read(out)
	return out
}

// binary returns n bytes that compress about like machine code: 4 KiB blocks that are random,
// zero, or runs of a few recurring 8-byte "instructions".
func (b *layerBuilder) binary(n int) []byte {
	out := make([]byte, n)
	var ops [48][8]byte
	for i := range ops {
		b.cha.Read(ops[i][:])
	}
	copy(out, "\x7fELF\x02\x01\x01")
	for off := 64; off < n; off += 4096 {
		blk := out[off:min(off+4096, n)]
		switch r := b.rng.Uint64() % 20; {
		case r < 7:
			b.cha.Read(blk)
		case r < 10:
			// zeros
		default:
			for i := 0; i < len(blk); i += 8 {
				copy(blk[i:], ops[b.rng.Uint64()%uint64(len(ops))][:])
			}
		}
	}
	return out
}

// genBase is a Debian-like base system: /etc, binaries in /usr/bin, docs and man pages.
func genBase(b *layerBuilder) {
	for _, d := range []string{"tmp", "root", "var/lib", "var/log", "home", "usr/local/bin"} {
		b.dir(d)
	}
	b.symlink("bin", "usr/bin")
	b.symlink("lib", "usr/lib")
	b.symlink("sbin", "usr/sbin")
	b.file("etc/os-release", 0o644, []byte("PRETTY_NAME=\"Bench Linux 1\"\nNAME=\"Bench Linux\"\nID=bench\n"))
	b.file("etc/hostname", 0o644, []byte("bench\n"))
	b.file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"))
	b.file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
	for i := range b.n(150) {
		b.file(fmt.Sprintf("etc/conf.d/service-%03d.conf", i), 0o644, b.text(b.size(100, 4096), false))
	}
	for i := range b.n(300) {
		b.file(fmt.Sprintf("usr/bin/tool-%03d", i), 0o755, b.binary(b.size(8<<10, 200<<10)))
	}
	for i := range b.n(40) {
		b.symlink(fmt.Sprintf("usr/bin/alias-%02d", i), fmt.Sprintf("tool-%03d", i))
	}
	for i := range b.n(30) {
		b.file(fmt.Sprintf("usr/sbin/daemon-%02d", i), 0o755, b.binary(b.size(16<<10, 300<<10)))
	}
	b.file("usr/bin/python3.12", 0o755, b.binary(b.big(4<<20)))
	b.hardlink("usr/bin/python3", "usr/bin/python3.12")
	b.symlink("usr/bin/python", "python3")
	for i := range b.n(400) {
		b.file(fmt.Sprintf("usr/share/doc/pkg-%04d/copyright", i), 0o644, b.text(b.size(1<<10, 6<<10), false))
	}
	for i := range b.n(300) {
		b.file(fmt.Sprintf("usr/share/man/man1/tool-%03d.1", i), 0o644, b.text(b.size(2<<10, 10<<10), false))
	}
}

// genLibs is shared libraries and a Python standard library.
func genLibs(b *layerBuilder) {
	for i := range b.n(60) {
		so := fmt.Sprintf("usr/lib/libbench%d.so.1", i)
		b.file(so, 0o644, b.binary(b.size(50<<10, 1<<20)))
		b.symlink(fmt.Sprintf("usr/lib/libbench%d.so", i), path.Base(so))
	}
	mods := []string{"json", "http", "email", "asyncio", "collections", "xml", "unittest", "logging"}
	for i := range b.n(1200) {
		b.file(fmt.Sprintf("usr/lib/python3.12/%s/mod-%04d.py", mods[i%len(mods)], i/len(mods)), 0o644,
			b.text(b.size(512, 8<<10), true))
	}
}

// genData is incompressible data: one large file and many medium ones (images, archives).
func genData(b *layerBuilder) {
	b.file("opt/data/blob.bin", 0o644, b.random(b.big(24<<20)))
	for i := range b.n(150) {
		b.file(fmt.Sprintf("opt/data/assets/img-%03d.png", i), 0o644, b.random(b.size(10<<10, 100<<10)))
	}
	b.file("opt/data/README", 0o644, b.text(2048, false))
}

// genApp is an application with a node_modules tree, a large compressible data file and its own
// /etc/os-release over the base layer's.
func genApp(b *layerBuilder) {
	b.file("etc/os-release", 0o644, []byte("PRETTY_NAME=\"Bench App on Bench Linux 1\"\nNAME=\"Bench Linux\"\nID=bench\nVARIANT=app\n"))
	for i := range b.n(800) {
		pkg := fmt.Sprintf("app/node_modules/pkg-%04d", i)
		b.file(pkg+"/package.json", 0o644, b.text(b.size(200, 1024), true))
		b.file(pkg+"/index.js", 0o644, b.text(b.size(300, 6<<10), true))
		if i%3 == 0 {
			b.file(pkg+"/lib/util.js", 0o644, b.text(b.size(300, 6<<10), true))
		}
	}
	b.file("app/data/events.jsonl", 0o644, b.text(b.big(12<<20), true))
	b.file("app/main.py", 0o644, b.text(4096, true))
}

// genConfig is the small top layer in which images A and B differ.
func genConfig(b *layerBuilder, variant string) {
	b.file("app/VERSION", 0o644, []byte("1.0."+variant+"\n"))
	for i := range b.n(40) {
		b.file(fmt.Sprintf("app/config/%02d.yaml", i), 0o644, b.text(b.size(200, 2048), false))
	}
	b.file("app/static/bundle.js", 0o644, b.text(b.big(200<<10), true))
}
