package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/elfuse/elfuse/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v2"
)

func printList(sts []oci.State, format string, quiet bool) error {
	if quiet {
		for _, s := range sts {
			fmt.Println(s.ID)
		}
		return nil
	}
	switch format {
	case "table":
		w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
		for _, s := range sts {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
		}
		return w.Flush()
	case "json":
		return json.NewEncoder(os.Stdout).Encode(sts)
	}
	return errors.New("invalid format option")
}

func updateCommand(e *env) *cli.Command {
	return &cli.Command{
		Name: "update", Usage: "update a container's resource limits",
		ArgsUsage: "<container-id>",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "path to a linux resources JSON file, - for stdin"},
			&cli.StringFlag{Name: "blkio-weight", Usage: "block IO weight (recorded)"},
			&cli.StringFlag{Name: "cpu-period", Usage: "CPU CFS period (recorded)"},
			&cli.StringFlag{Name: "cpu-quota", Usage: "CPU CFS quota (recorded)"},
			&cli.StringFlag{Name: "cpu-burst", Usage: "CPU CFS burst (recorded)"},
			&cli.StringFlag{Name: "cpu-share", Usage: "CPU shares (recorded)"},
			&cli.StringFlag{Name: "cpu-rt-period", Usage: "CPU realtime period (recorded)"},
			&cli.StringFlag{Name: "cpu-rt-runtime", Usage: "CPU realtime runtime (recorded)"},
			&cli.StringFlag{Name: "cpuset-cpus", Usage: "CPUs to use (recorded)"},
			&cli.StringFlag{Name: "cpuset-mems", Usage: "memory nodes to use (recorded)"},
			&cli.StringFlag{Name: "cpu-idle", Usage: "CPU idle (recorded)"},
			&cli.StringFlag{Name: "kernel-memory", Hidden: true},
			&cli.StringFlag{Name: "kernel-memory-tcp", Hidden: true},
			&cli.StringFlag{Name: "memory", Usage: "memory limit in bytes (k, m, g suffixes): the sandbox's guest RAM"},
			&cli.StringFlag{Name: "memory-reservation", Usage: "memory reservation (recorded)"},
			&cli.StringFlag{Name: "memory-swap", Usage: "memory plus swap limit (recorded)"},
			&cli.IntFlag{Name: "pids-limit", Usage: "maximum number of processes (recorded)"},
			&cli.StringFlag{Name: "l3-cache-schema", Usage: "accepted; ignored"},
			&cli.StringFlag{Name: "mem-bw-schema", Usage: "accepted; ignored"},
		},
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, 1); err != nil {
				return err
			}
			res, err := updateResources(c)
			if err != nil {
				return err
			}
			return e.rt.Update(c.Args().First(), res)
		},
	}
}

// updateResources reads --resources, then lays the flags over it.
func updateResources(c *cli.Context) (*specs.LinuxResources, error) {
	res := &specs.LinuxResources{}
	if p := c.String("resources"); p != "" {
		var r io.Reader = os.Stdin
		if p != "-" {
			f, err := os.Open(p)
			if err != nil {
				return nil, fmt.Errorf("--resources: %w", err)
			}
			defer f.Close()
			r = f
		}
		if err := json.NewDecoder(r).Decode(res); err != nil {
			return nil, fmt.Errorf("--resources: %w", err)
		}
	}
	mem := func() *specs.LinuxMemory {
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		return res.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		return res.CPU
	}
	for _, f := range []struct {
		name string
		set  func(int64)
	}{
		{"memory", func(v int64) { mem().Limit = &v }},
		{"memory-reservation", func(v int64) { mem().Reservation = &v }},
		{"memory-swap", func(v int64) { mem().Swap = &v }},
		{"kernel-memory", func(v int64) { mem().Kernel = &v }},
		{"kernel-memory-tcp", func(v int64) { mem().KernelTCP = &v }},
	} {
		if s := c.String(f.name); s != "" {
			v, err := parseBytes(s)
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", f.name, err)
			}
			f.set(v)
		}
	}
	for _, f := range []struct {
		name string
		set  func(string) error
	}{
		{"cpu-period", func(s string) error { v, err := strconv.ParseUint(s, 10, 64); cpu().Period = &v; return err }},
		{"cpu-quota", func(s string) error { v, err := strconv.ParseInt(s, 10, 64); cpu().Quota = &v; return err }},
		{"cpu-burst", func(s string) error { v, err := strconv.ParseUint(s, 10, 64); cpu().Burst = &v; return err }},
		{"cpu-share", func(s string) error { v, err := strconv.ParseUint(s, 10, 64); cpu().Shares = &v; return err }},
		{"cpu-rt-period", func(s string) error { v, err := strconv.ParseUint(s, 10, 64); cpu().RealtimePeriod = &v; return err }},
		{"cpu-rt-runtime", func(s string) error { v, err := strconv.ParseInt(s, 10, 64); cpu().RealtimeRuntime = &v; return err }},
		{"cpu-idle", func(s string) error { v, err := strconv.ParseInt(s, 10, 64); cpu().Idle = &v; return err }},
		{"cpuset-cpus", func(s string) error { cpu().Cpus = s; return nil }},
		{"cpuset-mems", func(s string) error { cpu().Mems = s; return nil }},
		{"blkio-weight", func(s string) error {
			v, err := strconv.ParseUint(s, 10, 16)
			w := uint16(v)
			res.BlockIO = &specs.LinuxBlockIO{Weight: &w}
			return err
		}},
	} {
		if s := c.String(f.name); s != "" {
			if err := f.set(s); err != nil {
				return nil, fmt.Errorf("--%s: %w", f.name, err)
			}
		}
	}
	if c.IsSet("pids-limit") {
		v := int64(c.Int("pids-limit"))
		res.Pids = &specs.LinuxPids{Limit: &v}
	}
	return res, nil
}

// parseBytes parses a size with an optional k, m, g or t suffix (base
// 1024, as runc's units); -1 is unlimited.
func parseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "-1" {
		return -1, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int64(v * float64(mult)), nil
}
