package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/elfuse/elfuse/cmd/elfuse/imagecmd"
	"github.com/elfuse/elfuse/image"
	"github.com/elfuse/elfuse/rootfs"
	"github.com/urfave/cli/v2"
)

// runCommand is `elfuse run IMAGE [cmd...]`: the image's entrypoint (or
// cmd) in a fresh writable view of the image's root filesystem.
func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a container image's entrypoint",
		ArgsUsage: "IMAGE [COMMAND [ARG...]]",
		Flags: []cli.Flag{
			imagecmd.StoreFlag,
			&cli.StringFlag{Name: "platform", Usage: "image platform to pull if missing (linux/amd64, linux/arm64[/variant])"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set `NAME=VALUE` in the environment"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "working directory inside the container"},
			&cli.StringFlag{Name: "entrypoint", Usage: "override the image's entrypoint"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "trace system calls"},
		},
		SkipFlagParsing: false,
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.Exit("elfuse run: an image is required", 1)
			}
			st, err := runImage(c)
			if err != nil {
				return err
			}
			if st != 0 {
				return cli.Exit("", st)
			}
			return nil
		},
	}
}

func runImage(c *cli.Context) (int, error) {
	store, err := imagecmd.OpenStore(c)
	if err != nil {
		return 1, err
	}
	ref := c.Args().First()
	res, err := store.Resolve(ref)
	if errors.Is(err, image.ErrNotFound) {
		opts := image.PullOptions{}
		if p := c.String("platform"); p != "" {
			pl, err := image.ParsePlatform(p)
			if err != nil {
				return 1, err
			}
			opts.Platform = &pl
		}
		if _, err = store.Pull(c.Context, ref, opts); err == nil {
			res, err = store.Resolve(ref)
		}
	}
	if err != nil {
		return 1, err
	}
	argv := res.Config.Entrypoint
	if e := c.String("entrypoint"); e != "" {
		argv = []string{e}
	}
	if c.NArg() > 1 {
		argv = append(append([]string{}, argv...), c.Args().Slice()[1:]...)
	} else if c.String("entrypoint") == "" {
		argv = append(append([]string{}, argv...), res.Config.Cmd...)
	}
	if len(argv) == 0 {
		return 1, fmt.Errorf("image %s has no entrypoint or command; give one", ref)
	}
	level := slog.LevelWarn
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	// The store and the view log their choices (overlayfs or a copy) at Info: shown with -v.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	// The container holds its image while it runs: rmi refuses it, prune keeps its sysroot.
	ctr, err := store.NewContainer(res)
	if err != nil {
		return 1, err
	}
	defer ctr.Release()
	root, cleanup, err := rootfs.NewContainerView(res.Sysroot, ctr.Dir)
	if err != nil {
		return 1, err
	}
	defer cleanup()
	env := append(append([]string{}, res.Config.Env...), c.StringSlice("env")...)
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	cwd := res.Config.WorkingDir
	if w := c.String("workdir"); w != "" {
		cwd = w
	}
	if cwd == "" {
		cwd = "/"
	}
	mounts, err := containerMounts(root)
	if err != nil {
		return 1, err
	}
	st, _, err := runGuest(guestOptions{path: lookPath(root, argv[0], env), argv: argv, env: env, root: root, mounts: mounts, cwd: cwd,
		trace: c.Bool("verbose"), log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		timeout: 10 * time.Second})
	return st, err
}

// containerMounts are what a container sees besides its image: the
// character devices every program expects, and elfuse's /proc and /sys.
// Their mount points are made in the container's writable view.
func containerMounts(root string) ([]guestMount, error) {
	var out []guestMount
	for _, d := range []string{"null", "zero", "full", "random", "urandom", "tty"} {
		out = append(out, guestMount{dest: "/dev/" + d, source: "/dev/" + d})
	}
	out = append(out, guestMount{dest: "/proc", synthetic: "proc"}, guestMount{dest: "/sys", synthetic: "sysfs"})
	for _, m := range out {
		dir := filepath.Join(root, filepath.Dir(m.dest))
		if m.dest == "/proc" || m.dest == "/sys" {
			dir = filepath.Join(root, m.dest)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("mount point %s: %w", m.dest, err)
		}
	}
	// The links into /proc every /dev has, where the image has none.
	for _, l := range [][2]string{{"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
		{"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}} {
		if err := os.Symlink(l[1], filepath.Join(root, "dev", l[0])); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("link /dev/%s: %w", l[0], err)
		}
	}
	return out, nil
}

func hasEnv(env []string, name string) bool {
	for _, e := range env {
		if len(e) > len(name) && e[:len(name)+1] == name+"=" {
			return true
		}
	}
	return false
}

// lookPath finds a command without a slash on the container's PATH.
func lookPath(root, cmd string, env []string) string {
	if filepath.IsAbs(cmd) || filepath.Base(cmd) != cmd {
		return cmd
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if len(e) > 5 && e[:5] == "PATH=" {
			path = e[5:]
		}
	}
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, cmd)
		if fi, err := os.Stat(filepath.Join(root, p)); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return cmd
}
