// Package imagecmd implements elfuse's image commands: pull, images, rmi,
// image prune, load and import. cmd/elfuse appends Commands() to its app.
package imagecmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/elfuse/elfuse/image"
)

// StoreFlag selects the image store directory. Every command here takes it;
// cmd/elfuse may also set it on the app, where the commands find it too.
var StoreFlag = &cli.StringFlag{
	Name:    "store",
	Usage:   "image store `DIR` (default $ELFUSE_HOME, /var/lib/elfuse as root, else ~/.local/share/elfuse)",
	EnvVars: []string{"ELFUSE_HOME"},
}

var forceFlag = &cli.BoolFlag{
	Name:    "force",
	Aliases: []string{"f"},
	Usage:   "remove the names of an image a running container uses (its sysroot stays until the container ends)",
}

var platformFlag = &cli.StringFlag{
	Name:  "platform",
	Usage: "select `OS/ARCH[/VARIANT]` from a multi-platform image (linux/amd64, linux/arm64); default the host's",
}

// Commands returns the image commands.
func Commands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "pull",
			Usage:     "pull an image from a registry",
			ArgsUsage: "REF",
			Flags: []cli.Flag{StoreFlag, platformFlag,
				&cli.BoolFlag{Name: "insecure", Usage: "allow plain HTTP to the registry (always allowed for localhost and loopback addresses)"}},
			Action: pull,
		},
		{
			Name:   "images",
			Usage:  "list images in the store",
			Flags:  []cli.Flag{StoreFlag, &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "only show image IDs"}},
			Action: images,
		},
		{
			Name:      "rmi",
			Usage:     "remove images and free the blobs no other image uses",
			ArgsUsage: "REF|ID [REF|ID...]",
			Flags:     []cli.Flag{StoreFlag, forceFlag},
			Action:    rmi,
		},
		{
			Name:  "image",
			Usage: "manage images",
			Subcommands: []*cli.Command{
				{
					Name:   "prune",
					Usage:  "free blobs and sysroots no image references, and leftovers of interrupted pulls",
					Flags:  []cli.Flag{StoreFlag},
					Action: prune,
				},
				{Name: "ls", Usage: "list images (same as elfuse images)", Flags: []cli.Flag{StoreFlag}, Action: images},
				{Name: "rm", Usage: "remove images (same as elfuse rmi)", ArgsUsage: "REF|ID...", Flags: []cli.Flag{StoreFlag, forceFlag}, Action: rmi},
			},
		},
		{
			Name:  "load",
			Usage: "load images from an OCI layout (directory or tar) or a docker save archive",
			Flags: []cli.Flag{StoreFlag, platformFlag,
				&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "read from `FILE`", Required: true}},
			Action: load,
		},
		{
			Name:  "import",
			Usage: "make a single-layer image from a root file system tar (like docker import)",
			Description: "Reads FILE (a tar, plain, gzip or zstd; - for standard input) and stores it as the only\n" +
				"layer of a new image named NAME[:TAG] (Docker defaults: busybox is docker.io/library/busybox:latest).\n" +
				"Options come before FILE. Example:\n\n" +
				"   elfuse import --change 'CMD [\"/bin/sh\"]' --change 'ENV PATH=/bin' rootfs.tar busybox",
			ArgsUsage: "FILE|- [NAME[:TAG]]",
			Flags: []cli.Flag{StoreFlag,
				&cli.StringFlag{Name: "platform", Usage: "platform of the image, `OS/ARCH[/VARIANT]` (linux/amd64, linux/arm64); default the host's"},
				&cli.GenericFlag{Name: "change", Aliases: []string{"c"}, Value: &stringList{},
					Usage: "apply a Dockerfile `INSTRUCTION` to the image config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR); repeatable"},
				&cli.StringFlag{Name: "entrypoint", Usage: "set the entrypoint: one `PROGRAM` path, or a JSON array of program and arguments"},
				&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "set the `COMMENT` of the image's history entry"},
			},
			Action: importImage,
		},
	}
}

// stringList is a repeatable string flag whose values are kept whole
// (cli.StringSliceFlag would split a Dockerfile instruction at its commas).
type stringList struct{ values []string }

// serializedList prefixes Serialize's output, with which cli copies the
// values from one of the flag's names to the other (--change to -c).
const serializedList = "\x00stringList:"

// Set appends one occurrence of the flag, or replaces all values with a
// copy made by Serialize.
func (l *stringList) Set(v string) error {
	if rest, ok := strings.CutPrefix(v, serializedList); ok {
		var vals []string
		if err := json.Unmarshal([]byte(rest), &vals); err != nil {
			return fmt.Errorf("copy flag values: %w", err)
		}
		l.values = vals
		return nil
	}
	l.values = append(l.values, v)
	return nil
}

// Serialize renders the values for cli's copy between the flag's names.
func (l *stringList) Serialize() string {
	b, _ := json.Marshal(l.values)
	return serializedList + string(b)
}

// String renders the values for help output.
func (l *stringList) String() string { return strings.Join(l.values, " ") }

// OpenStore opens the store named by --store (on the command or the app),
// $ELFUSE_HOME, or the default location.
func OpenStore(c *cli.Context) (*image.Store, error) {
	dir := c.String(StoreFlag.Name)
	if dir == "" {
		dir = image.DefaultDir()
	}
	s, err := image.Open(dir)
	if err != nil {
		return nil, cli.Exit(err.Error(), 1)
	}
	return s, nil
}

func platformOf(c *cli.Context) (*v1.Platform, error) {
	ps := c.String(platformFlag.Name)
	if ps == "" {
		return nil, nil
	}
	p, err := image.ParsePlatform(ps)
	if err != nil {
		return nil, cli.Exit(err.Error(), 2)
	}
	return &p, nil
}

func pull(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("usage: elfuse pull [--platform P] [--insecure] REF", 2)
	}
	p, err := platformOf(c)
	if err != nil {
		return err
	}
	s, err := OpenStore(c)
	if err != nil {
		return err
	}
	e, err := s.Pull(c.Context, c.Args().First(), image.PullOptions{Platform: p, Insecure: c.Bool("insecure")})
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "%s: pulled %s (%s, id %s)\n", e.Name, e.Digest, e.Platform, shortID(e.ID))
	return nil
}

func load(c *cli.Context) error {
	p, err := platformOf(c)
	if err != nil {
		return err
	}
	s, err := OpenStore(c)
	if err != nil {
		return err
	}
	es, err := s.Load(c.Context, c.String("input"), image.LoadOptions{Platform: p})
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	for _, e := range es {
		n := e.Name
		if n == "" {
			n = "<none>"
		}
		fmt.Fprintf(c.App.Writer, "loaded %s (%s, id %s)\n", n, e.Platform, shortID(e.ID))
	}
	return nil
}

func importImage(c *cli.Context) error {
	if c.NArg() < 1 || c.NArg() > 2 {
		return cli.Exit("usage: elfuse import [--platform P] [--change INSTRUCTION...] [--entrypoint E] [-m COMMENT] FILE|- [NAME[:TAG]]", 2)
	}
	p, err := platformOf(c)
	if err != nil {
		return err
	}
	var changes []string
	if l, ok := c.Generic("change").(*stringList); ok && l != nil {
		changes = append(changes, l.values...)
	}
	if ep := c.String("entrypoint"); ep != "" {
		argv := []string{ep}
		if strings.HasPrefix(ep, "[") {
			if err := json.Unmarshal([]byte(ep), &argv); err != nil {
				return cli.Exit(fmt.Sprintf("--entrypoint %s: not a JSON array of strings: %v", ep, err), 2)
			}
		}
		b, err := json.Marshal(argv)
		if err != nil {
			return cli.Exit(err.Error(), 2)
		}
		changes = append(changes, "ENTRYPOINT "+string(b))
	}
	s, err := OpenStore(c)
	if err != nil {
		return err
	}
	file := c.Args().Get(0)
	var in io.Reader
	if file == "-" {
		in = c.App.Reader
		if in == nil {
			in = os.Stdin
		}
	} else {
		f, err := os.Open(file)
		if err != nil {
			return cli.Exit(fmt.Sprintf("elfuse import: %v", err), 1)
		}
		defer f.Close()
		in = f
	}
	e, err := s.Import(c.Context, in, c.Args().Get(1), image.ImportOptions{Platform: p, Changes: changes, Message: c.String("message")})
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	n := e.Name
	if n == "" {
		n = "<none>"
	}
	fmt.Fprintf(c.App.Writer, "%s: imported %s (%s, id %s)\n", n, e.Digest, e.Platform, shortID(e.ID))
	return nil
}

func images(c *cli.Context) error {
	s, err := OpenStore(c)
	if err != nil {
		return err
	}
	list, err := s.List()
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	if c.Bool("quiet") {
		for _, e := range list {
			fmt.Fprintln(c.App.Writer, shortID(e.ID))
		}
		return nil
	}
	return WriteTable(c.App.Writer, list)
}

// WriteTable prints images as elfuse images does: name, tag or digest,
// platform, unpacked size and short ID.
func WriteTable(w io.Writer, list []image.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTAG/DIGEST\tPLATFORM\tSIZE\tID")
	for _, e := range list {
		repo, ref := e.Repository, e.Tag
		if repo == "" {
			repo = "<none>"
		}
		if ref == "" {
			ref = shortDigest(e.Digest)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", repo, ref, e.Platform, humanSize(e.Size), shortID(e.ID))
	}
	return tw.Flush()
}

func rmi(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.Exit("usage: elfuse rmi REF|ID [REF|ID...]", 2)
	}
	s, err := OpenStore(c)
	if err != nil {
		return err
	}
	var failed []string
	for _, ref := range c.Args().Slice() {
		removed, rep, err := s.RemoveImage(ref, image.RemoveOptions{Force: c.Bool(forceFlag.Name)})
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "elfuse rmi %s: %v\n", ref, err)
			failed = append(failed, ref)
			continue
		}
		for _, e := range removed {
			n := e.Name
			if n == "" {
				n = shortID(e.ID)
			}
			fmt.Fprintf(c.App.Writer, "Untagged: %s\n", n)
		}
		if rep != nil {
			fmt.Fprintf(c.App.Writer, "Deleted: %d blobs, %d sysroots (%s)\n", rep.Blobs, rep.Sysroots, humanSize(rep.BytesFreed))
			if rep.InUse > 0 {
				fmt.Fprintf(c.App.Writer, "Kept: %d sysroots running containers use (a later elfuse image prune frees them)\n", rep.InUse)
			}
		}
	}
	if len(failed) > 0 {
		return cli.Exit("", 1)
	}
	return nil
}

func prune(c *cli.Context) error {
	s, err := OpenStore(c)
	if err != nil {
		return err
	}
	rep, err := s.Prune()
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "Deleted: %d blobs, %d sysroots, %d temporary files (%s reclaimed)\n",
		rep.Blobs, rep.Sysroots, rep.Temporary, humanSize(rep.BytesFreed))
	return nil
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

func humanSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	f, u := float64(n), 0
	for f >= unit && u < 4 {
		f /= unit
		u++
	}
	return fmt.Sprintf("%.3g%s", f, []string{"B", "kB", "MB", "GB", "TB"}[u])
}
