//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3"
	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux
// architecture elfuse runs on (x86-64, arm64).
const clockTicks = 100

// unlimitedV1 is what cgroup v1's memory.limit_in_bytes holds when no limit is set.
const unlimitedV1 = 9223372036854771712

// procUsage is what /proc says of the sandbox process. A sandbox is one host process holding
// every guest process of its container in one VM (DESIGN.md §2), so its CPU time and resident
// memory are the container's; its cgroup, if any, is the shim's and containerd's, so the cgroup
// files the runc shim reads would describe the host, not the container.
type procUsage struct {
	userNS, kernelNS uint64 // CPU time
	rss, hwm         uint64 // resident set now and at its peak, bytes
	anon, file       uint64 // RssAnon (guest RAM touched) and RssFile (mapped files, the binary)
	threads          uint64 // host threads: vCPU workers and the Go runtime's
	minflt, majflt   uint64
}

func readProcUsage(pid int) (*procUsage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	// The command name, in parentheses, may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); minflt is field 10, majflt 12, utime 14, stime 15.
	if len(f) < 13 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	num := func(s string) uint64 { n, _ := strconv.ParseUint(s, 10, 64); return n }
	u := &procUsage{
		minflt:   num(f[7]),
		majflt:   num(f[9]),
		userNS:   num(f[11]) * (1e9 / clockTicks),
		kernelNS: num(f[12]) * (1e9 / clockTicks),
	}
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		n := num(fs[0])
		if len(fs) > 1 && fs[1] == "kB" {
			n *= 1024
		}
		switch k {
		case "VmRSS":
			u.rss = n
		case "VmHWM":
			u.hwm = n
		case "RssAnon":
			u.anon = n
		case "RssFile":
			u.file = n
		case "Threads":
			u.threads = n
		}
	}
	return u, sc.Err()
}

// specMemoryLimit is linux.resources.memory.limit of the bundle's config.json (the guest RAM
// elfuse-runtime gives the sandbox), or 0.
func specMemoryLimit(bundle string) uint64 {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return 0
	}
	var spec struct {
		Linux *struct {
			Resources *struct {
				Memory *struct {
					Limit *int64 `json:"limit"`
				} `json:"memory"`
			} `json:"resources"`
		} `json:"linux"`
	}
	if json.Unmarshal(data, &spec) != nil || spec.Linux == nil || spec.Linux.Resources == nil ||
		spec.Linux.Resources.Memory == nil || spec.Linux.Resources.Memory.Limit == nil || *spec.Linux.Resources.Memory.Limit < 0 {
		return 0
	}
	return uint64(*spec.Linux.Resources.Memory.Limit)
}

// sandboxMetrics builds the metrics message containerd expects from a Linux shim: cgroup v1's
// stats.Metrics on a v1 or hybrid host, cgroup v2's on a unified one (ctr task metrics and CRI's
// stats decode both). limit is the memory limit last set by Update, 0 for the spec's; nprocs is the
// number of guest processes, or -1 when unknown.
func sandboxMetrics(pid int, bundle string, limit uint64, nprocs int) (any, error) {
	u, err := readProcUsage(pid)
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = specMemoryLimit(bundle)
	}
	// No limit in the spec: report "unlimited" as the cgroup files would (a 0 would read as a
	// zero limit: CRI derives availableBytes = limit - working set).
	limitV1, limitV2 := limit, limit
	if limit == 0 {
		limitV1, limitV2 = unlimitedV1, math.MaxUint64
	}
	var pids uint64
	if nprocs >= 0 {
		pids = uint64(nprocs)
	}
	if cgroups.Mode() == cgroups.Unified {
		return &v2.Metrics{
			Pids: &v2.PidsStat{Current: pids},
			CPU: &v2.CPUStat{
				UsageUsec:  (u.userNS + u.kernelNS) / 1000,
				UserUsec:   u.userNS / 1000,
				SystemUsec: u.kernelNS / 1000,
			},
			Memory: &v2.MemoryStat{
				Anon:       u.anon,
				File:       u.file,
				Pgfault:    u.minflt + u.majflt,
				Pgmajfault: u.majflt,
				Usage:      u.rss,
				MaxUsage:   u.hwm,
				UsageLimit: limitV2,
			},
		}, nil
	}
	return &v1.Metrics{
		Pids: &v1.PidsStat{Current: pids},
		CPU: &v1.CPUStat{Usage: &v1.CPUUsage{
			Total:  u.userNS + u.kernelNS,
			User:   u.userNS,
			Kernel: u.kernelNS,
		}},
		Memory: &v1.MemoryStat{
			RSS:             u.anon,
			Cache:           u.file,
			MappedFile:      u.file,
			PgFault:         u.minflt + u.majflt,
			PgMajFault:      u.majflt,
			TotalRSS:        u.anon,
			TotalCache:      u.file,
			TotalPgFault:    u.minflt + u.majflt,
			TotalPgMajFault: u.majflt,
			Usage:           &v1.MemoryEntry{Usage: u.rss, Max: u.hwm, Limit: limitV1},
		},
	}, nil
}
