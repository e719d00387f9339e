// Command elfuse runs a Linux ELF program, or a container image's
// entrypoint, in a hardware VM with no Linux kernel.
//
//	elfuse [options] <elf-path> [args...]
//
// The guest's exit status is elfuse's; a guest killed by signal N exits
// with 128+N.
package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/elfuse/elfuse/cmd/elfuse/imagecmd"
	"github.com/elfuse/elfuse/hv"
	"github.com/elfuse/elfuse/rootfs"
	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Aliases: []string{"V"}, Usage: "print the version and exit"}
	status := 0
	app := &cli.App{
		Name:      "elfuse",
		Usage:     "run Linux programs in a VM without a Linux kernel",
		UsageText: "elfuse [options] <elf-path> [args...]\n   elfuse [options] -- <elf-path> [args...]",
		Version:   version,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "trace system calls and loader diagnostics on stderr"},
			&cli.IntFlag{Name: "timeout", Aliases: []string{"t"}, Value: 10, Usage: "per-iteration vCPU watchdog in seconds (0 disables)"},
			&cli.StringFlag{Name: "syscalls", Value: "auto", EnvVars: []string{"ELFUSE_SYSCALLS"}, Usage: "how system calls reach elfuse: `MODE` exit (a VM exit each), exitless (common calls served by host threads without one) or auto (exitless where the host has a core to spare for a server thread)"},
			&cli.BoolFlag{Name: "stats", Usage: "print VM exits, system calls and server CPU time on stderr at the end"},
			&cli.StringFlag{Name: "sysroot", Usage: "resolve guest absolute paths under `PATH` first"},
			&cli.StringFlag{Name: "create-sysroot", Usage: "provision `PATH` and use it as the sysroot: on macOS a case-sensitive APFS sparse bundle (PATH.sparsebundle) attached at PATH, on Linux a directory"},
			&cli.BoolFlag{Name: "no-rosetta", Usage: "disable the x86_64 translator (also ELFUSE_NO_ROSETTA=1)"},
			&cli.IntFlag{Name: "gdb", Usage: "listen for a GDB remote client on `PORT`"},
			&cli.BoolFlag{Name: "gdb-stop-on-entry", Usage: "stop before the first guest instruction"},
		},
		HideHelpCommand: true,
		Commands:        append(imagecmd.Commands(), runCommand()),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				cli.ShowAppHelp(c)
				return cli.Exit("", 1)
			}
			st, err := runELF(c)
			if err != nil {
				return err
			}
			status = st
			return nil
		},
		ExitErrHandler: func(c *cli.Context, err error) {},
	}
	if err := app.Run(args); err != nil {
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "elfuse:", msg)
			}
			return ec.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "elfuse:", err)
		return 1
	}
	return status
}

func runELF(c *cli.Context) (int, error) {
	if c.IsSet("gdb") || c.Bool("gdb-stop-on-entry") {
		return 1, errors.New("--gdb is not supported by this build yet")
	}
	sysroot := c.String("sysroot")
	if p := c.String("create-sysroot"); p != "" {
		if err := createSysroot(p); err != nil {
			return 1, err
		}
		sysroot = p
	}
	level := slog.LevelWarn
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	args := c.Args().Slice()
	st, stats, err := runGuest(guestOptions{
		path: args[0], argv: args, env: os.Environ(), sysroot: sysroot,
		trace: c.Bool("verbose"), log: logger, timeout: time.Duration(c.Int("timeout")) * time.Second,
		syscalls: c.String("syscalls"),
	})
	if err != nil {
		if errors.Is(err, hv.ErrUnavailable) {
			return 1, fmt.Errorf("%v (elfuse needs /dev/kvm with read-write access)", err)
		}
		return 1, err
	}
	if c.Bool("verbose") || c.Bool("stats") {
		fmt.Fprintf(os.Stderr, "elfuse: exit status %d, %d VM exits, %d system calls (%d exitless, %d sites patched), %d faults, server CPU %.3fs\n",
			st, stats.exits, stats.syscalls, stats.exitless, stats.patched, stats.faults, stats.serverCPU.Seconds())
	}
	return st, nil
}

// createSysroot provisions --create-sysroot's PATH: a case-sensitive APFS sparse bundle
// attached there on macOS, a directory on Linux.
func createSysroot(p string) error {
	return rootfs.CreateSysroot(p)
}

type guestOptions struct {
	path    string
	argv    []string
	env     []string
	sysroot string
	root    string       // a confined root (containers); exclusive with sysroot
	mounts  []guestMount // bind mounts into root
	cwd     string       // guest working directory; empty: the host's
	trace   bool
	log     *slog.Logger
	timeout time.Duration
	// syscalls is the system call path: exit, exitless or auto.
	syscalls string
}

// guestMount shows the host path source at dest in a confined root, or
// one of elfuse's synthetic file systems ("proc", "sysfs").
type guestMount struct{ dest, source, synthetic string }

type guestStats struct {
	exits, syscalls, faults, exitless, patched uint64
	serverCPU                                  time.Duration
}
