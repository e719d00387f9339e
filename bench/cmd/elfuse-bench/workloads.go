//go:build linux

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
)

// elfuseHas lists the capabilities elfuse has today. A workload that needs a capability missing here
// gets an "n/a" row for the elfuse runner instead of being run. This is the one place to flip when
// processes or threads land.
var elfuseHas = map[string]bool{
	"processes": true,
	"threads":   true,
	// pselect6 with a signal mask that unblocks a blocked signal (GNU make -j's jobserver wait for
	// SIGCHLD).
	"pselect-sigmask": true,
}

// Workload is one benchmark program and how to run and check it.
type Workload struct {
	// Name is the row label and the C source's base name (bench/workloads/<Name>.c).
	Name string
	// Desc says in a few words what one run does.
	Desc string
	// Args are the program's arguments for the full and the quick bench.
	Args, QuickArgs []string
	// Repeat is how many launches one measured repetition makes; the time reported is per launch.
	// Zero means one.
	Repeat int
	// OpsArg is the index in Args of the iteration count whose per-iteration time is reported in
	// the "per op" column, or -1 when the workload has no such loop.
	OpsArg int
	// OpLabel names one iteration in the "per op" column (for example "1 syscall").
	OpLabel string
	// Needs lists capabilities (keys of elfuseHas) the elfuse runner must have to run it.
	Needs []string
	// Quick marks the workload as part of `make bench-quick`.
	Quick bool
	// Expect returns the exact stdout a correct run prints, given the arguments and the path of the
	// workload binary on the host.
	Expect func(args []string, bin string) (string, error)
	// Source says how the workload's binary is built: "" (bench/workloads/<Name>.c with gcc
	// -static), "go" (the Go package bench/workloads/<Name>, CGO_ENABLED=0) or "none" (the
	// workload runs other programs only).
	Source string
	// Argv, when set, returns the whole command line from the arguments, with path giving where a
	// program is as the runner sees it: "busybox" or another workload's name (on the host, or
	// /bin/busybox and /w/<name> in a container). Unset, the command is the workload's own binary
	// followed by the arguments.
	Argv func(path func(prog string) string, args []string) []string
	// Rate, when set, returns how much one run moves and the unit of that per second (for example
	// 256 MiB as 268.4, "MB/s"); the note column shows it over the median.
	Rate func(args []string) (float64, string)
}

// workloads is the bench's list, in the order the table shows it.
var workloads = []Workload{
	{
		Name: "true", Desc: "startup of a static true", Repeat: 10, OpsArg: -1, Quick: true,
		Expect: func([]string, string) (string, error) { return "", nil },
	},
	{
		Name: "getppid", Desc: "getppid loop", Args: []string{"100000"}, QuickArgs: []string{"20000"},
		OpsArg: 0, OpLabel: "1 syscall", Quick: true,
		Expect: func(a []string, _ string) (string, error) {
			return fmt.Sprintf("getppid %s same=%s\n", a[0], a[0]), nil
		},
	},
	{
		Name: "rw1", Desc: "dd bs=1: 1-byte read+write loop", Args: []string{"50000"}, QuickArgs: []string{"5000"},
		OpsArg: 0, OpLabel: "2 syscalls",
		Expect: func(a []string, _ string) (string, error) {
			return fmt.Sprintf("rw1 %s copied=%s nonzero=0\n", a[0], a[0]), nil
		},
	},
	{
		Name: "stat", Desc: "stat loop", Args: []string{"50000"}, QuickArgs: []string{"5000"},
		OpsArg: 0, OpLabel: "1 syscall", Quick: true,
		Expect: func(a []string, bin string) (string, error) {
			fi, err := os.Stat(bin)
			if err != nil {
				return "", fmt.Errorf("stat workload binary: %w", err)
			}
			return fmt.Sprintf("stat %s size=%d same=%s\n", a[0], fi.Size(), a[0]), nil
		},
	},
	{
		Name: "openread", Desc: "open+read+close loop", Args: []string{"20000"}, QuickArgs: []string{"2000"},
		OpsArg: 0, OpLabel: "3 syscalls", Quick: true,
		Expect: func(a []string, _ string) (string, error) {
			return fmt.Sprintf("openread %s elf=%s\n", a[0], a[0]), nil
		},
	},
	{
		Name: "clock", Desc: "clock_gettime loop (vDSO)", Args: []string{"300000"}, QuickArgs: []string{"100000"},
		OpsArg: 0, OpLabel: "1 call", Quick: true,
		Expect: func(a []string, _ string) (string, error) {
			return fmt.Sprintf("clock %s backwards=0\n", a[0]), nil
		},
	},
	{
		Name: "sha256", Desc: "sha256 of N MiB (CPU-bound)", Args: []string{"256"}, QuickArgs: []string{"32"},
		OpsArg: -1, Quick: true,
		Expect: func(a []string, _ string) (string, error) {
			mib, err := strconv.Atoi(a[0])
			if err != nil {
				return "", fmt.Errorf("sha256 size %q: %w", a[0], err)
			}
			return fmt.Sprintf("sha256 %d %s\n", mib, sha256Pattern(mib)), nil
		},
	},
	{
		Name: "touchmem", Desc: "touch every page of N MiB fresh memory", Args: []string{"1024"}, QuickArgs: []string{"64"},
		OpsArg: -1, Quick: true,
		Expect: func(a []string, _ string) (string, error) {
			mib, err := strconv.Atoi(a[0])
			if err != nil {
				return "", fmt.Errorf("touchmem size %q: %w", a[0], err)
			}
			return fmt.Sprintf("touchmem %d pages=%d sum=%d\n", mib, mib<<8, pageSum(mib)), nil
		},
	},
	{
		Name: "forkexit", Desc: "fork+exit+wait loop", Args: []string{"1000"}, QuickArgs: []string{"100"},
		OpsArg: 0, OpLabel: "1 fork", Needs: []string{"processes"},
		Expect: func(a []string, _ string) (string, error) {
			return fmt.Sprintf("forkexit %s ok=%s\n", a[0], a[0]), nil
		},
	},
	{
		Name: "forkexec", Desc: "fork+exec+wait loop", Args: []string{"300"}, QuickArgs: []string{"30"},
		OpsArg: 0, OpLabel: "1 fork+exec", Needs: []string{"processes"},
		Expect: func(a []string, _ string) (string, error) {
			return fmt.Sprintf("forkexec %s ok=%s\n", a[0], a[0]), nil
		},
	},
	{
		// With touchmem's row for the same size as the baseline: (forkbig - touchmem) / N is one
		// fork, exit and wait of a process with that much memory touched; copymem is the copy
		// that copy-on-write avoids.
		Name: "forkbig", Desc: "touch N MiB, then fork+exit+wait M times", Args: []string{"1024", "20"}, QuickArgs: []string{"256", "5"},
		OpsArg: 1, OpLabel: "1 fork (+1/M of the touch)", Needs: []string{"processes"},
		Expect: func(a []string, _ string) (string, error) {
			mib, err := strconv.Atoi(a[0])
			if err != nil {
				return "", fmt.Errorf("forkbig size %q: %w", a[0], err)
			}
			return fmt.Sprintf("forkbig %d n=%s ok=%s sum=%d\n", mib, a[1], a[1], pageSum(mib)), nil
		},
	},
	{
		Name: "copymem", Desc: "touch N MiB, then copy it once", Args: []string{"1024"}, QuickArgs: []string{"256"},
		OpsArg: -1,
		Expect: func(a []string, _ string) (string, error) {
			mib, err := strconv.Atoi(a[0])
			if err != nil {
				return "", fmt.Errorf("copymem size %q: %w", a[0], err)
			}
			return fmt.Sprintf("copymem %d sum=%d\n", mib, pageSum(mib)), nil
		},
	},
	{
		Name: "pipe", Desc: "pipe throughput, N MiB", Args: []string{"256"}, QuickArgs: []string{"32"},
		OpsArg: -1, Needs: []string{"processes"},
		Expect: func(a []string, _ string) (string, error) {
			mib, err := strconv.ParseUint(a[0], 10, 64)
			if err != nil {
				return "", fmt.Errorf("pipe size %q: %w", a[0], err)
			}
			// Every 64 KiB chunk holds each byte value 256 times: its sum is 256*(0+...+255).
			chunks := mib * 16
			return fmt.Sprintf("pipe %d bytes=%d sum=%d\n", mib, mib<<20, chunks*256*255*256/2), nil
		},
	},
	{
		Name: "tcp", Desc: "TCP throughput over one 127.0.0.1 connection, N MiB", Args: []string{"256"}, QuickArgs: []string{"32"},
		OpsArg: -1, Needs: []string{"processes"}, Quick: true,
		Expect: func(a []string, _ string) (string, error) {
			mib, err := strconv.ParseUint(a[0], 10, 64)
			if err != nil {
				return "", fmt.Errorf("tcp size %q: %w", a[0], err)
			}
			chunks := mib * 16 // as pipe: every 64 KiB chunk sums to 256*(0+...+255)
			return fmt.Sprintf("tcp %d bytes=%d sum=%d\n", mib, mib<<20, chunks*256*255*256/2), nil
		},
		Rate: func(a []string) (float64, string) {
			mib, _ := strconv.Atoi(a[0])
			return float64(mib) * (1 << 20) / 1e6, "MB/s"
		},
	},
	{
		Name: "thread", Desc: "pthread create+join loop", Args: []string{"2000"}, QuickArgs: []string{"200"},
		OpsArg: 0, OpLabel: "1 thread", Needs: []string{"threads"},
		Expect: func(a []string, _ string) (string, error) {
			n, err := strconv.ParseUint(a[0], 10, 64)
			if err != nil {
				return "", fmt.Errorf("thread count %q: %w", a[0], err)
			}
			return fmt.Sprintf("thread %d sum=%d\n", n, n*(n+1)/2), nil
		},
	},
	{
		Name: "futex", Desc: "futex ping-pong between 2 threads", Args: []string{"20000"}, QuickArgs: []string{"2000"},
		OpsArg: 0, OpLabel: "1 round trip", Needs: []string{"threads"},
		Expect: func(a []string, _ string) (string, error) {
			return fmt.Sprintf("futex %s handed=%s\n", a[0], a[0]), nil
		},
	},
	{
		// Issue 4: a static Go program (CGO_ENABLED=0, bench/workloads/http): a net/http server
		// and client in one process, N GETs of 1 KiB over one keep-alive connection.
		Name: "http", Desc: "net/http GETs over one keep-alive 127.0.0.1 connection (Go)", Args: []string{"10000"}, QuickArgs: []string{"1000"},
		OpsArg: 0, OpLabel: "1 request", Needs: []string{"threads"}, Source: "go",
		Expect: func(a []string, _ string) (string, error) {
			n, err := strconv.Atoi(a[0])
			if err != nil {
				return "", fmt.Errorf("http count %q: %w", a[0], err)
			}
			return fmt.Sprintf("http %d ok=%d bytes=%d keepalive=true\n", n, n, n*1024), nil
		},
		Rate: func(a []string) (float64, string) {
			n, _ := strconv.Atoi(a[0])
			return float64(n), "req/s"
		},
	},
	{
		// Issue 3: BusyBox's sh running N commands (fork+exec of the static true workload each).
		Name: "sh-loop", Desc: "busybox sh running N commands (static true)", Args: []string{"1000"}, QuickArgs: []string{"100"},
		OpsArg: 0, OpLabel: "1 command", Needs: []string{"processes"}, Source: "none", Quick: true,
		Argv: func(path func(string) string, a []string) []string {
			return []string{path("busybox"), "sh", "-c", shLoop, "sh", a[0], path("true")}
		},
		Expect: func(a []string, _ string) (string, error) {
			return fmt.Sprintf("sh-loop %s\n", a[0]), nil
		},
	},
}

// shLoop is the sh-loop workload's script: $1 times run $2, stopping at the first failure.
const shLoop = `i=0; while [ $i -lt $1 ]; do $2 || exit 1; i=$((i+1)); done; echo sh-loop $i`

// pageSum is the sum the touch workloads print for mib MiB: byte 0 of page i
// holds i mod 256.
func pageSum(mib int) uint64 {
	var sum uint64
	for i := 0; i < mib<<8; i++ {
		sum += uint64(i & 0xff)
	}
	return sum
}

// sha256Pattern returns the hex SHA-256 of mib MiB made of the 1 MiB block that sha256.c hashes
// (byte i is i*31+7 mod 256), repeated.
func sha256Pattern(mib int) string {
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i*31 + 7)
	}
	h := sha256.New()
	for range mib {
		h.Write(block)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// args returns the workload's arguments for the chosen bench size.
func (w *Workload) args(quick bool) []string {
	if quick && w.QuickArgs != nil {
		return w.QuickArgs
	}
	return w.Args
}

// repeat returns the number of launches per measured repetition.
func (w *Workload) repeat(quick bool) int {
	n := max(w.Repeat, 1)
	if quick && n > 3 {
		n = 3
	}
	return n
}

// argv returns the workload's whole command line, with path locating programs as the runner sees
// them (see Workload.Argv).
func (w *Workload) argv(path func(string) string, quick bool) []string {
	if w.Argv != nil {
		return w.Argv(path, w.args(quick))
	}
	return append([]string{path(w.Name)}, w.args(quick)...)
}

// ops returns the loop's iteration count, or 0 when the workload has none.
func (w *Workload) ops(quick bool) int {
	if w.OpsArg < 0 {
		return 0
	}
	a := w.args(quick)
	if w.OpsArg >= len(a) {
		return 0
	}
	n, err := strconv.Atoi(a[w.OpsArg])
	if err != nil {
		return 0
	}
	return n
}

// elfuseMissing returns the first capability the workload needs that elfuse does not have yet.
func (w *Workload) elfuseMissing() string {
	for _, n := range w.Needs {
		if !elfuseHas[n] {
			return n
		}
	}
	return ""
}
