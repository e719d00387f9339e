//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine describes the host a bench ran on.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	MemGiB int    `json:"mem_gib"`
	Kernel string `json:"kernel"`
	OS     string `json:"os"`
	KVM    string `json:"kvm"`
	Go     string `json:"go"`
}

// String is the one-line description BENCHMARKS.md shows.
func (m Machine) String() string {
	return fmt.Sprintf("%s, %d cores, %d GiB RAM; %s, Linux %s; KVM: %s; %s",
		m.CPU, m.Cores, m.MemGiB, m.OS, m.Kernel, m.KVM, m.Go)
}

// describeMachine reads the CPU, memory, kernel, OS and the kind of KVM from /proc and /sys.
func describeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown", OS: "unknown", Kernel: "unknown"}
	flags := ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "model name":
				m.CPU = strings.TrimSpace(v)
			case "flags":
				flags = " " + strings.TrimSpace(v) + " "
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemGiB = (kb + 1<<19) >> 20
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	_, kvmErr := os.Stat("/dev/kvm")
	_, pvmErr := os.Stat("/sys/module/kvm_pvm")
	switch {
	case kvmErr != nil:
		m.KVM = "none (no /dev/kvm)"
	case pvmErr == nil:
		m.KVM = "PVM (kvm_pvm, no VMX/SVM)"
	case strings.Contains(flags, " vmx ") || strings.Contains(flags, " svm "):
		m.KVM = "hardware (VMX/SVM)"
	default:
		m.KVM = "present, kind unknown"
	}
	if strings.Contains(flags, " hypervisor ") {
		m.KVM += "; host is itself a VM"
	}
	return m
}

// floorBenchRe matches the benchmark's result line: name, iterations, ns/op.
var floorBenchRe = regexp.MustCompile(`(?m)^BenchmarkExitRoundTrip(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op`)

// measureFloor runs hv/kvm's BenchmarkExitRoundTrip (a guest that only exits) when the repository
// has it, and returns its ns per round trip.
func measureFloor(ctx context.Context, repo string) Floor {
	files, _ := filepath.Glob(filepath.Join(repo, "hv", "kvm", "*_test.go"))
	found := false
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "func BenchmarkExitRoundTrip(") {
			found = true
		}
	}
	if !found {
		return Floor{Status: "n/a", Reason: "hv/kvm has no BenchmarkExitRoundTrip yet"}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "./hv/kvm", "-run", "^$", "-bench", "BenchmarkExitRoundTrip",
		"-benchtime", "20000x", "-count", "1")
	cmd.Dir = repo
	out, err := cmd.CombinedOutput()
	m := floorBenchRe.FindSubmatch(out)
	if m == nil {
		reason := "no result line"
		if err != nil {
			reason = fmt.Sprintf("go test failed: %v: %s", err, lastLine(string(out)))
		} else if strings.Contains(string(out), "SKIP") || strings.Contains(string(out), "skip") {
			reason = "benchmark skipped: " + lastLine(string(out))
		}
		return Floor{Status: "n/a", Reason: reason}
	}
	ns, perr := strconv.ParseFloat(string(m[1]), 64)
	if perr != nil {
		return Floor{Status: "n/a", Reason: fmt.Sprintf("parse ns/op %q: %v", m[1], perr)}
	}
	return Floor{Status: "ok", NsPerOp: ns}
}
