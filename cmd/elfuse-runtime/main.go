// Command elfuse-runtime is elfuse's OCI runtime: runc's command line
// (create, start, run, state, kill, delete, exec, ps, list, pause,
// resume, events, update, features, spec) over runtime-spec bundles, for
// Docker, containerd's runc shim and podman. Each container is one
// sandbox process: one VM holding every guest process of the container,
// with no Linux kernel in it.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/elfuse/elfuse/oci"
	lsys "github.com/elfuse/elfuse/syscall"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// defaultRoot is where container state lives without --root.
const defaultRoot = "/run/elfuse"

func main() {
	os.Exit(run(os.Args))
}

// env is what every command gets: the runtime and its log.
type env struct {
	rt      *oci.Runtime
	log     *slog.Logger
	logFile *os.File
}

// exitStatus is a command's status other than 0 or an error's 1.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func run(args []string) int {
	e := &env{log: slog.New(slog.DiscardHandler)}
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Aliases: []string{"v"}, Usage: "print the version"}
	cli.VersionPrinter = func(c *cli.Context) {
		fmt.Printf("elfuse-runtime version %s\nspec: %s\ngo: %s\n", version, specs.Version, runtime.Version())
	}
	app := &cli.App{
		Name:    "elfuse-runtime",
		Usage:   "run OCI containers in a VM without a Linux kernel (runc's command line)",
		Version: version,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "debug", Usage: "enable debug logging"},
			&cli.StringFlag{Name: "log", Usage: "log file to write the runtime's logs to (default: stderr)"},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
			&cli.StringFlag{Name: "root", Value: defaultRoot, Usage: "root directory of the container state (should be on tmpfs)"},
			&cli.BoolFlag{Name: "systemd-cgroup", Usage: "accepted for runc compatibility; ignored (no cgroups)"},
			&cli.StringFlag{Name: "rootless", Value: "auto", Usage: "accepted for runc compatibility; ignored"},
			&cli.StringFlag{Name: "criu", Usage: "accepted for runc compatibility; ignored (no checkpoint/restore)"},
			&cli.StringFlag{Name: "syscalls", Value: "auto", EnvVars: []string{"ELFUSE_SYSCALLS"}, Usage: "system call path of containers whose spec has no " + oci.SyscallsAnnotation + " annotation: `MODE` exit, exitless or auto"},
		},
		HideHelpCommand: true,
		Before:          func(c *cli.Context) error { return e.setup(c) },
		Commands:        commands(e),
		ExitErrHandler:  func(*cli.Context, error) {},
		Writer:          os.Stdout,
		ErrWriter:       os.Stderr,
	}
	err := app.Run(args)
	if e.logFile == nil && err != nil {
		// Setup failed or never ran: the --log file is still written.
		e.earlyLog(args)
	}
	status := 0
	var es exitStatus
	switch {
	case err == nil:
	case errors.As(err, &es):
		status = int(es)
	default:
		e.log.Error(err.Error())
		fmt.Fprintln(os.Stderr, "elfuse-runtime:", err)
		status = 1
	}
	if e.logFile != nil {
		e.logFile.Close()
	}
	return status
}

// setup opens the log and makes the runtime from the global flags.
func (e *env) setup(c *cli.Context) error {
	format := c.String("log-format")
	if format != "text" && format != "json" {
		e.openLog(c.String("log"), "text", c.Bool("debug"), c.Args().First())
		return fmt.Errorf("--log-format %q: must be text or json", format)
	}
	if err := e.openLog(c.String("log"), format, c.Bool("debug"), c.Args().First()); err != nil {
		return err
	}
	root, err := filepath.Abs(c.String("root"))
	if err != nil {
		return fmt.Errorf("--root: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	child := []string{"--root", root, "--log-format", format}
	if l := c.String("log"); l != "" {
		abs, err := filepath.Abs(l)
		if err == nil {
			l = abs
		}
		child = append(child, "--log", l)
	}
	if c.Bool("debug") {
		child = append(child, "--debug")
	}
	if _, err := lsys.ParseSyscallMode(c.String("syscalls")); err != nil {
		return fmt.Errorf("--syscalls: %w", err)
	}
	e.rt = &oci.Runtime{Store: &oci.Store{Root: root}, Log: e.log, Exe: exe, ChildArgs: child, Syscalls: c.String("syscalls")}
	return nil
}

// openLog opens the --log file (created even when nothing is logged), or
// logs to stderr without one; the sandbox process and the exec helper
// log nowhere without one, since their stderr is the container's.
func (e *env) openLog(name, format string, debug bool, command string) error {
	level := slog.LevelWarn
	if debug {
		level = slog.LevelDebug
	}
	var w io.Writer = os.Stderr
	if name != "" {
		f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("--log %s: %w", name, err)
		}
		e.logFile, w = f, f
	} else if command == "init" || command == "exec-proxy" {
		w = io.Discard
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		// runc's (logrus's) level names, which containerd reads back.
		if a.Key == slog.LevelKey && len(groups) == 0 {
			a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
		}
		return a
	}}
	var h slog.Handler
	if format == "json" {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	e.log = slog.New(h).With("pid", os.Getpid())
	if command != "" {
		e.log = e.log.With("command", command)
	}
	return nil
}

// earlyLog opens the --log file from the raw arguments when the flags
// could not be parsed, so that the failure is logged there too.
func (e *env) earlyLog(args []string) {
	name, format := "", "text"
	for i := 1; i < len(args); i++ {
		a := args[i]
		val := func(flag string) (string, bool) {
			if a == "--"+flag || a == "-"+flag {
				if i+1 < len(args) {
					i++
					return args[i], true
				}
				return "", false
			}
			for _, p := range []string{"--" + flag + "=", "-" + flag + "="} {
				if strings.HasPrefix(a, p) {
					return a[len(p):], true
				}
			}
			return "", false
		}
		if v, ok := val("log"); ok {
			name = v
		} else if v, ok := val("log-format"); ok {
			format = v
		} else if _, ok := val("root"); ok {
		} else if _, ok := val("rootless"); ok {
		} else if _, ok := val("criu"); ok {
		} else if !strings.HasPrefix(a, "-") {
			break
		}
	}
	if name == "" {
		return
	}
	if format != "json" {
		format = "text"
	}
	e.openLog(name, format, false, "")
}

func commands(e *env) []*cli.Command {
	createFlags := []cli.Flag{
		&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "path to the bundle directory (default: the current directory)"},
		&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the console's pty master (SCM_RIGHTS)"},
		&cli.StringFlag{Name: "pidfd-socket", Usage: "accepted for runc compatibility; not supported"},
		&cli.StringFlag{Name: "pid-file", Usage: "file to write the sandbox process's host pid to"},
		&cli.BoolFlag{Name: "no-pivot", Usage: "accepted; the sandbox never pivots (its root is confined by elfuse)"},
		&cli.BoolFlag{Name: "no-new-keyring", Usage: "accepted; the sandbox has no keyrings"},
		&cli.IntFlag{Name: "preserve-fds", Usage: "pass this many descriptors after stdio (fds 3 and up) to the container process"},
	}
	createOpts := func(c *cli.Context) (oci.CreateOptions, error) {
		if err := needArgs(c, 1, 1); err != nil {
			return oci.CreateOptions{}, err
		}
		if c.String("pidfd-socket") != "" {
			return oci.CreateOptions{}, errors.New("--pidfd-socket is not supported")
		}
		return oci.CreateOptions{ID: c.Args().First(), Bundle: c.String("bundle"), PidFile: c.String("pid-file"),
			ConsoleSocket: c.String("console-socket"), PreserveFDs: c.Int("preserve-fds")}, nil
	}
	return []*cli.Command{
		{
			Name: "create", Usage: "create a container", ArgsUsage: "<container-id>", Flags: createFlags,
			Action: func(c *cli.Context) error {
				o, err := createOpts(c)
				if err != nil {
					return err
				}
				return e.rt.Create(o)
			},
		},
		{
			Name: "start", Usage: "start a created container", ArgsUsage: "<container-id>",
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, 1); err != nil {
					return err
				}
				return e.rt.Start(c.Args().First())
			},
		},
		{
			Name: "run", Usage: "create and start a container", ArgsUsage: "<container-id>",
			Flags: append(append([]cli.Flag{}, createFlags...),
				&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "detach from the container's process"},
				&cli.BoolFlag{Name: "keep", Usage: "keep the container's state after it exits"},
				&cli.BoolFlag{Name: "no-subreaper", Usage: "accepted; the sandbox process is run's own child"}),
			Action: func(c *cli.Context) error {
				o, err := createOpts(c)
				if err != nil {
					return err
				}
				o.Detach, o.Keep = c.Bool("detach"), c.Bool("keep")
				status, err := e.rt.Run(o)
				if err != nil {
					return err
				}
				return statusErr(status)
			},
		},
		{
			Name: "state", Usage: "print a container's state (runtime-spec state JSON)", ArgsUsage: "<container-id>",
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, 1); err != nil {
					return err
				}
				st, err := e.rt.State(c.Args().First())
				if err != nil {
					return err
				}
				return printJSON(st)
			},
		},
		{
			Name: "kill", Usage: "send a signal (default SIGTERM) to the container's pid 1",
			ArgsUsage: "<container-id> [signal]",
			Flags:     []cli.Flag{&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "send the signal to every process of the container"}},
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, 2); err != nil {
					return err
				}
				s := c.Args().Get(1)
				if s == "" {
					s = "SIGTERM"
				}
				sig, err := oci.ParseSignal(s)
				if err != nil {
					return err
				}
				return e.rt.Kill(c.Args().First(), sig, c.Bool("all"))
			},
		},
		{
			Name: "delete", Usage: "delete a container's state and, with --force, its running sandbox",
			ArgsUsage: "<container-id>",
			Flags:     []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill a running container first"}},
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, 1); err != nil {
					return err
				}
				err := e.rt.Delete(c.Args().First(), c.Bool("force"))
				if err != nil && c.Bool("force") && errors.Is(err, oci.ErrNotExist) {
					return nil
				}
				return err
			},
		},
		execCommand(e),
		{
			Name: "ps", Usage: "list the container's processes (guest pids)", ArgsUsage: "<container-id> [ps options]",
			Flags: []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"}},
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, -1); err != nil {
					return err
				}
				f := c.String("format")
				if f != "table" && f != "json" {
					return errors.New("invalid format option")
				}
				pids, err := e.rt.Pids(c.Args().First())
				if err != nil {
					return err
				}
				if f == "json" {
					return json.NewEncoder(os.Stdout).Encode(pids)
				}
				if c.NArg() > 1 {
					e.log.Warn("ps options are ignored: the container's processes are guest processes the host's ps cannot see")
				}
				fmt.Println("PID")
				for _, p := range pids {
					fmt.Println(p)
				}
				return nil
			},
		},
		{
			Name: "list", Aliases: []string{"ls"}, Usage: "list the containers of --root",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
				&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the container ids"},
			},
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 0, 0); err != nil {
					return err
				}
				sts, err := e.rt.List()
				if err != nil {
					return err
				}
				return printList(sts, c.String("format"), c.Bool("quiet"))
			},
		},
		{
			Name: "pause", Usage: "stop every vCPU of the container's sandbox", ArgsUsage: "<container-id>",
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, 1); err != nil {
					return err
				}
				return e.rt.Pause(c.Args().First())
			},
		},
		{
			Name: "resume", Usage: "resume a paused container", ArgsUsage: "<container-id>",
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, 1); err != nil {
					return err
				}
				return e.rt.Resume(c.Args().First())
			},
		},
		eventsCommand(e),
		updateCommand(e),
		{
			Name: "features", Usage: "print the runtime-spec features this runtime supports",
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 0, 0); err != nil {
					return err
				}
				return printJSON(oci.Features())
			},
		},
		specCommand(),
		{
			Name: "init", Hidden: true, ArgsUsage: "<container-id>",
			Usage: "the sandbox process of a container (started by create)",
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, 1); err != nil {
					return err
				}
				if err := oci.CheckID(c.Args().First()); err != nil {
					return err
				}
				return statusErr(oci.SandboxMain(e.rt.Store.Dir(c.Args().First()), e.log))
			},
		},
		{
			Name: "exec-proxy", Hidden: true, ArgsUsage: "<container-id>",
			Usage: "the host process standing for an exec'd guest process (started by exec)",
			Action: func(c *cli.Context) error {
				if err := needArgs(c, 1, 1); err != nil {
					return err
				}
				if err := oci.CheckID(c.Args().First()); err != nil {
					return err
				}
				return statusErr(oci.ExecHelperMain(e.rt.Store.Dir(c.Args().First()), e.log))
			},
		},
	}
}

func execCommand(e *env) *cli.Command {
	return &cli.Command{
		Name: "exec", Usage: "run one more process in a running container",
		ArgsUsage: "<container-id> <command> [args...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "console-socket", Usage: "unix socket that receives the pty master"},
			&cli.StringFlag{Name: "pidfd-socket", Usage: "accepted for runc compatibility; not supported"},
			&cli.StringFlag{Name: "cwd", Usage: "working directory in the container"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set an environment variable"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "allocate a pseudo-TTY"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "UID[:GID] (names from the container's /etc/passwd)"},
			&cli.IntSliceFlag{Name: "additional-gids", Aliases: []string{"g"}, Usage: "additional group ids"},
			&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "path to a runtime-spec process.json"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "detach from the process (its helper's host pid goes to --pid-file)"},
			&cli.StringFlag{Name: "pid-file", Usage: "file to write the host pid standing for the process to"},
			&cli.StringFlag{Name: "process-label", Usage: "accepted; ignored (no SELinux)"},
			&cli.StringFlag{Name: "apparmor", Usage: "accepted; ignored (no AppArmor)"},
			&cli.BoolFlag{Name: "no-new-privs", Usage: "accepted; recorded"},
			&cli.StringSliceFlag{Name: "cap", Aliases: []string{"c"}, Usage: "accepted; capabilities are not applied"},
			&cli.IntFlag{Name: "preserve-fds", Usage: "pass this many descriptors after stdio (fds 3 and up) to the process"},
			&cli.StringFlag{Name: "cgroup", Usage: "accepted; ignored (no cgroups)"},
			&cli.BoolFlag{Name: "ignore-paused", Usage: "allow exec in a paused container"},
		},
		Action: func(c *cli.Context) error {
			min := 2
			if c.String("process") != "" {
				min = 1
			}
			if err := needArgs(c, min, -1); err != nil {
				return err
			}
			if c.String("pidfd-socket") != "" {
				return errors.New("--pidfd-socket is not supported")
			}
			var gids []uint32
			for _, g := range c.IntSlice("additional-gids") {
				if g < 0 {
					return fmt.Errorf("--additional-gids %d: must not be negative", g)
				}
				gids = append(gids, uint32(g))
			}
			status, err := e.rt.Exec(oci.ExecOptions{
				ID: c.Args().First(), ProcessFile: c.String("process"), Args: c.Args().Slice()[1:],
				Env: c.StringSlice("env"), Cwd: c.String("cwd"), User: c.String("user"), AdditionalGids: gids,
				Tty: c.Bool("tty"), ConsoleSocket: c.String("console-socket"), Detach: c.Bool("detach"),
				PidFile: c.String("pid-file"), PreserveFDs: c.Int("preserve-fds"), IgnorePaused: c.Bool("ignore-paused"),
			})
			if err != nil {
				return err
			}
			return statusErr(status)
		},
	}
}

func eventsCommand(e *env) *cli.Command {
	return &cli.Command{
		Name: "events", Usage: "print the container's statistics (CPU, memory, pids) as JSON events",
		ArgsUsage: "<container-id>",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "interval", Value: 5e9, Usage: "statistics interval"},
			&cli.BoolFlag{Name: "stats", Usage: "print the statistics once and exit"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			return e.rt.Events(c.Args().First(), c.Duration("interval"), c.Bool("stats"), os.Stdout)
		},
	}
}

func specCommand() *cli.Command {
	return &cli.Command{
		Name: "spec", Usage: "write a default config.json for a bundle",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Usage: "bundle directory (default: the current directory)"},
			&cli.BoolFlag{Name: "rootless", Usage: "a configuration for a rootless container (a user namespace mapping the caller)"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 0, 0); err != nil {
				return err
			}
			dir := c.String("bundle")
			if dir == "" {
				dir = "."
			}
			name := filepath.Join(dir, oci.ConfigName)
			if _, err := os.Stat(name); err == nil {
				return fmt.Errorf("file %s exists: remove it first", name)
			}
			spec := oci.DefaultSpec()
			if c.Bool("rootless") {
				oci.MakeRootless(spec, uint32(os.Getuid()), uint32(os.Getgid()))
			}
			b, err := json.MarshalIndent(spec, "", "\t")
			if err != nil {
				return err
			}
			if err := os.WriteFile(name, append(b, '\n'), 0o666); err != nil {
				return fmt.Errorf("spec: %w", err)
			}
			return nil
		},
	}
}

// needArgs checks the number of arguments (max -1: no limit).
func needArgs(c *cli.Context, min, max int) error {
	n := c.NArg()
	if n < min || (max >= 0 && n > max) {
		what := fmt.Sprintf("%d", min)
		switch {
		case max < 0:
			what = fmt.Sprintf("at least %d", min)
		case max != min:
			what = fmt.Sprintf("%d to %d", min, max)
		}
		return fmt.Errorf("%s: %s argument(s) expected, got %d (usage: %s %s)", c.Command.Name, what, n,
			c.Command.Name, c.Command.ArgsUsage)
	}
	return nil
}

func statusErr(status int) error {
	if status == 0 {
		return nil
	}
	return exitStatus(status)
}

func printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(b))
	return err
}
