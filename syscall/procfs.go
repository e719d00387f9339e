//go:build linux && amd64

package syscall

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elfuse/elfuse/mm"
	"golang.org/x/sys/unix"
)

// The synthetic /proc: the sandbox's processes, as Linux shows them, and
// the system-wide files programs read.

// stackStrings delimit a process's argument and environment strings in its
// memory (what cmdline and environ show, read at the time).
type stackStrings struct{ argStart, argEnd, envStart, envEnd uint64 }

const clockTicks = 100 // USER_HZ

// procRoot is /proc as the thread who sees it.
func (s *synthFS) procRoot(who *Thread) *synthNode {
	sb := s.sb
	static := map[string]func() *synthNode{
		"cpuinfo": func() *synthNode { return fileNode(0o444, hostContent("/proc/cpuinfo")) },
		"meminfo": func() *synthNode { return fileNode(0o444, sb.procMeminfo) },
		"stat":    func() *synthNode { return fileNode(0o444, hostContent("/proc/stat")) },
		"uptime":  func() *synthNode { return fileNode(0o444, hostContent("/proc/uptime")) },
		"loadavg": func() *synthNode { return fileNode(0o444, sb.procLoadavg) },
		"version": func() *synthNode {
			return textNode("Linux version " + unameRelease + " (elfuse) " + unameVersion + "\n")
		},
		"filesystems": func() *synthNode { return textNode(procFilesystems) },
		"cmdline":     func() *synthNode { return textNode("elfuse\n") },
		"swaps":       func() *synthNode { return textNode("Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n") },
		"mounts":      func() *synthNode { return linkNode("self/mounts") },
		"net":         func() *synthNode { return linkNode("self/net") },
		"sys":         func() *synthNode { return s.procSys() },
	}
	return dirNode(0o555, func() []string {
		names := make([]string, 0, len(static)+8)
		for k := range static {
			names = append(names, k)
		}
		if who != nil {
			names = append(names, "self", "thread-self")
		}
		sb.mu.Lock()
		for pid := range sb.procs {
			names = append(names, itoa(pid))
		}
		sb.mu.Unlock()
		return names
	}, func(name string) *synthNode {
		if f, ok := static[name]; ok {
			return f()
		}
		switch name {
		case "self":
			if who != nil {
				return linkNode(itoa(who.proc.pid))
			}
			return nil
		case "thread-self":
			if who != nil {
				return linkNode(itoa(who.proc.pid) + "/task/" + itoa(who.tid))
			}
			return nil
		}
		id, err := strconv.Atoi(name)
		if err != nil || itoa(id) != name {
			return nil
		}
		sb.mu.Lock()
		p := sb.procs[id]
		var t *Thread
		if p == nil {
			// A thread's id names its directory too, unlisted, as on Linux.
			if t = sb.tids[id]; t != nil {
				p = t.proc
			}
		}
		sb.mu.Unlock()
		if p == nil {
			return nil
		}
		return s.pidDir(who, p, t, t == nil)
	})
}

// hostFile is a file's content read from the host (what is the same for
// every sandbox: the CPUs, the time since boot).
// procNet is /proc/PID/net: the network namespace the sandbox runs in,
// which every guest process shares, as the host shows it to elfuse.
func procNet() *synthNode {
	entries := map[string]func() *synthNode{}
	for _, n := range procNetFiles() {
		entries[n] = func() *synthNode { return fileNode(0o444, hostContent("/proc/self/net/"+n)) }
	}
	return staticDir(0o555, entries)
}

// procNetFiles are the files of /proc/PID/net elfuse shows: those of this
// list the host has (looked up once).
var procNetFiles = sync.OnceValue(func() []string {
	var have []string
	for _, n := range []string{"arp", "dev", "dev_mcast", "fib_trie", "if_inet6", "igmp", "igmp6", "ipv6_route",
		"netlink", "netstat", "packet", "protocols", "psched", "raw", "raw6", "route", "snmp", "snmp6",
		"sockstat", "sockstat6", "softnet_stat", "tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "unix"} {
		if _, err := os.Stat("/proc/self/net/" + n); err == nil {
			have = append(have, n)
		}
	}
	return have
})

func hostContent(name string) func() []byte {
	return func() []byte {
		b, _ := os.ReadFile(name)
		return b
	}
}

const procFilesystems = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevtmpfs\nnodev\tdevpts\n" +
	"nodev\tcgroup2\nnodev\tmqueue\nnodev\toverlay\n\text4\n"

func (sb *Sandbox) procMeminfo() []byte {
	b, _ := os.ReadFile("/proc/meminfo")
	if sb.phys == nil {
		return b
	}
	limit, used := sb.phys.Limit(), sb.phys.InUse()
	var out bytes.Buffer
	for _, line := range strings.SplitAfter(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			out.WriteString(line)
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err == nil && limit/1024 < kb {
			// The guest's RAM is what it may use, not the host's.
			switch k {
			case "MemTotal":
				line = fmt.Sprintf("%-16s%8d kB\n", k+":", limit/1024)
			case "MemFree", "MemAvailable":
				line = fmt.Sprintf("%-16s%8d kB\n", k+":", (limit-min(used, limit))/1024)
			}
		}
		out.WriteString(line)
	}
	return out.Bytes()
}

func (sb *Sandbox) procLoadavg() []byte {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		f = []string{"0.00", "0.00", "0.00"}
	}
	sb.mu.Lock()
	running, total, last := 0, len(sb.tids), sb.lastPID
	for _, t := range sb.tids {
		if t.inGuest.Load() {
			running++
		}
	}
	sb.mu.Unlock()
	return fmt.Appendf(nil, "%s %s %s %d/%d %d\n", f[0], f[1], f[2], max(running, 1), total, last)
}

// procSnap is a process's state read under the sandbox lock.
type procSnap struct {
	pid, ppid, pgid, sid, threads int
	state                         string
	comm                          string
	cred                          cred
	umask                         uint32
	sigPnd, shdPnd, sigBlk        uint64
	ttyNr, tpgid                  int
	exitSignal                    int
	noNewPrivs                    bool
	cwd, exe                      string
	tids                          []int
}

func (s *synthFS) snap(p *Process, t *Thread) procSnap {
	sb := s.sb
	sb.mu.Lock()
	ps := procSnap{pid: p.pid, pgid: p.pgid, sid: p.sid, threads: len(p.threads), comm: p.comm,
		cred: p.cred, umask: p.fs.umask, shdPnd: p.pending.set, exitSignal: p.exitSignal,
		noNewPrivs: p.flags.noNewPrivs, cwd: sb.res.GuestPath(p.fs.cwd), tpgid: -1}
	ps.cred.groups = append([]uint32(nil), p.cred.groups...)
	if p.parent != nil {
		ps.ppid = p.parent.pid
	}
	ps.exe = s.exeLinkLocked(p)
	if t == nil {
		t = p.threads[p.pid]
	}
	for tid, th := range p.threads {
		ps.tids = append(ps.tids, tid)
		if t == nil {
			t = th
		}
	}
	sort.Ints(ps.tids)
	ps.state = "S (sleeping)"
	switch {
	case p.zombie:
		ps.state = "Z (zombie)"
	case p.stopped:
		ps.state = "T (stopped)"
	case t != nil && t.inGuest.Load():
		ps.state = "R (running)"
	}
	if t != nil {
		ps.sigPnd, ps.sigBlk = t.pending.set, t.sigmask
	}
	for key, st := range sb.ttys {
		if st.sid == p.sid {
			ps.ttyNr = int(unix.Major(key)<<8 | unix.Minor(key)&0xff | (unix.Minor(key)&^0xff)<<12)
			ps.tpgid = st.fg
		}
	}
	sb.mu.Unlock()
	if ps.comm == "" {
		ps.comm = path.Base(ps.exe)
	}
	return ps
}

// sigSets are the ignored and caught signals of p.
func (p *Process) sigSets() (ign, cgt uint64) {
	p.sig.mu.Lock()
	defer p.sig.mu.Unlock()
	for i, a := range p.sig.actions {
		switch a.handler {
		case sigDfl:
		case sigIgn:
			ign |= 1 << i
		default:
			cgt |= 1 << i
		}
	}
	return ign, cgt
}

// memSnap sums a process's mappings, in bytes.
type memSnap struct {
	size, data, stack, exe, lib, rss    uint64
	startCode, endCode, startData, brk0 uint64
	vmas                                []mm.VMA
}

// oneMapping reports whether b continues a as Linux would show it: they
// differ at most in how elfuse fills their pages.
func oneMapping(a, b *mm.VMA) bool {
	return a.End == b.Start && a.Prot == b.Prot && a.Shared == b.Shared && a.Name == b.Name &&
		a.GrowsDn == b.GrowsDn && a.File == b.File && (a.File == nil || a.Offset+(a.End-a.Start) == b.Offset)
}

func (p *Process) memSnap() memSnap {
	var m memSnap
	if p.as == nil {
		return m
	}
	vmas := p.as.VMAs()
	m.brk0 = p.as.BrkStart
	exe := p.exePath
	for _, v := range vmas {
		if k := len(m.vmas); k > 0 && oneMapping(&m.vmas[k-1], v) {
			// A mapping split only by how elfuse fills it (a discarded
			// range now filled on touch) is one line, as on Linux.
			m.vmas[k-1].End = v.End
		} else {
			m.vmas = append(m.vmas, *v)
		}
		n := v.End - v.Start
		m.size += n
		if !v.Lazy {
			m.rss += n
		}
		switch {
		case v.Name == "[stack]":
			m.stack += n
		case v.File != nil && v.Prot&mm.ProtExec != 0:
			if m.startCode == 0 || v.File.Name() == exe {
				if m.startCode == 0 {
					m.startCode, m.endCode = v.Start, v.End
				}
				m.exe += n
			} else {
				m.lib += n
			}
		case v.Prot&mm.ProtWrite != 0 && !v.Shared:
			m.data += n
			if m.startData == 0 {
				m.startData = v.Start
			}
		}
	}
	return m
}

// exeLinkLocked is the target of p's /proc/PID/exe (sb.mu held).
func (s *synthFS) exeLinkLocked(p *Process) string {
	if s.sb.res.Confined() {
		return p.exePath
	}
	return s.sb.res.GuestPath(p.exePath)
}

// ownExe answers readlink of the caller's own /proc/self/exe (or
// thread-self/exe) from its process's state, without making the
// synthetic /proc on the host: every static glibc program asks at start.
// ok is false when the path is another or the resolver would not take it
// to the synthetic /proc (a chroot, another mount there).
func (s *synthFS) ownExe(t *Thread, p string) (string, bool) {
	if p != "/proc/self/exe" && p != "/proc/thread-self/exe" {
		return "", false
	}
	sb := s.sb
	if t.proc.fs.root != nil || sb.res.SyntheticAt(p) != "proc" {
		return "", false
	}
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return s.exeLinkLocked(t.proc), true
}

// pidDir is /proc/PID (t nil: the process's view) or a task directory.
func (s *synthFS) pidDir(who *Thread, p *Process, t *Thread, withTask bool) *synthNode {
	sb := s.sb
	ps := s.snap(p, t)
	if who != nil && who.proc == p && (t == nil || t == who) && ps.state[0] == 'S' {
		ps.state = "R (running)" // the reader itself is running
	}
	uid, gid := ps.cred.euid, ps.cred.egid
	file := func(mode uint32, data func() []byte) func() *synthNode {
		return func() *synthNode { return owned(fileNode(mode, data), uid, gid) }
	}
	entries := map[string]func() *synthNode{
		"stat":      file(0o444, func() []byte { return s.procStat(p, ps) }),
		"statm":     file(0o444, func() []byte { return procStatm(p) }),
		"status":    file(0o444, func() []byte { return s.procStatus(p, ps) }),
		"cmdline":   file(0o444, func() []byte { return p.stackBytes(p.strs.argStart, p.strs.argEnd) }),
		"environ":   file(0o400, func() []byte { return p.stackBytes(p.strs.envStart, p.strs.envEnd) }),
		"comm":      file(0o644, func() []byte { return []byte(ps.comm + "\n") }),
		"maps":      file(0o444, func() []byte { return procMaps(p) }),
		"mountinfo": file(0o444, func() []byte { return s.mountinfo() }),
		"mounts":    file(0o444, func() []byte { return s.mounts() }),
		"limits":    file(0o444, func() []byte { return procLimits(p) }),
		"cgroup":    file(0o444, func() []byte { return []byte("0::/\n") }),
		"oom_score_adj": file(0o644, func() []byte {
			return []byte(strconv.Itoa(sb.cfg.OOMScoreAdj) + "\n")
		}),
		"oom_adj":     file(0o644, func() []byte { return []byte(strconv.Itoa(sb.cfg.OOMScoreAdj*17/1000) + "\n") }),
		"oom_score":   file(0o444, func() []byte { return []byte("0\n") }),
		"uid_map":     file(0o644, func() []byte { return idMap(sb.cfg.UIDMap) }),
		"gid_map":     file(0o644, func() []byte { return idMap(sb.cfg.GIDMap) }),
		"setgroups":   file(0o644, func() []byte { return []byte("allow\n") }),
		"loginuid":    file(0o644, func() []byte { return []byte("4294967295") }),
		"sessionid":   file(0o444, func() []byte { return []byte("4294967295") }),
		"wchan":       file(0o444, func() []byte { return []byte("0") }),
		"personality": file(0o400, func() []byte { return []byte("00000000\n") }),
		"exe":         func() *synthNode { return owned(linkNode(ps.exe), uid, gid) },
		"cwd":         func() *synthNode { return owned(linkNode(ps.cwd), uid, gid) },
		"root":        func() *synthNode { return owned(linkNode("/"), uid, gid) },
		"fd":          func() *synthNode { return owned(s.fdDir(p, false), uid, gid) },
		"fdinfo":      func() *synthNode { return owned(s.fdDir(p, true), uid, gid) },
		"net":         func() *synthNode { return owned(procNet(), uid, gid) },
	}
	if ps.state[0] == 'Z' {
		for _, k := range []string{"exe", "cwd", "root", "fd", "fdinfo"} {
			delete(entries, k)
		}
	}
	if withTask {
		entries["task"] = func() *synthNode {
			return owned(dirNode(0o555, func() []string {
				var names []string
				for _, tid := range s.snap(p, nil).tids {
					names = append(names, itoa(tid))
				}
				return names
			}, func(name string) *synthNode {
				id, err := strconv.Atoi(name)
				if err != nil {
					return nil
				}
				sb.mu.Lock()
				th := p.threads[id]
				sb.mu.Unlock()
				if th == nil {
					return nil
				}
				return s.pidDir(who, p, th, false)
			}), uid, gid)
		}
	}
	return owned(staticDir(0o555, entries), uid, gid)
}

// stackBytes reads [start, end) of p's memory, as cmdline and environ do.
func (p *Process) stackBytes(start, end uint64) []byte {
	if p.as == nil || end <= start || end-start > 1<<20 {
		return nil
	}
	b := make([]byte, end-start)
	if p.as.Read(start, b) != nil {
		return nil
	}
	return b
}

// bootTicks is the time since the host booted, in clock ticks, of t.
func bootTicks(t time.Time) uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	since := time.Duration(ts.Nano()) - time.Since(t)
	if since < 0 {
		return 0
	}
	return uint64(since / (time.Second / clockTicks))
}

func (s *synthFS) procStat(p *Process, ps procSnap) []byte {
	m := p.memSnap()
	ign, cgt := p.sigSets()
	rss := p.rlimit(unix.RLIMIT_RSS).Cur
	exitCode := 0
	s.sb.mu.Lock()
	if p.zombie {
		exitCode = p.status
	}
	s.sb.mu.Unlock()
	// CPU time in clock ticks: user from the threads' CPUCLOCK_VIRT, system
	// the rest of their CPUCLOCK_PROF.
	tick := time.Second / clockTicks
	user, all := s.sb.processCPU(p, cpuClockVirt), s.sb.processCPU(p, cpuClockProf)
	utime, stime := uint64(user/tick), uint64(max(all-user, 0)/tick)
	return fmt.Appendf(nil, "%d (%s) %c %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d\n",
		ps.pid, ps.comm, ps.state[0], ps.ppid, ps.pgid, ps.sid, ps.ttyNr, ps.tpgid, 0x400000,
		0, 0, 0, 0, // minflt cminflt majflt cmajflt
		utime, stime, 0, 0, // cutime cstime: not kept
		20, 0, ps.threads, 0, bootTicks(p.born), m.size, m.rss/mm.PageSize, rss,
		m.startCode, m.endCode, p.strs.argStart, 0, 0,
		ps.shdPnd|ps.sigPnd, ps.sigBlk, ign, cgt, 0, 0, 0, ps.exitSignal, 0, 0, 0, 0, 0, 0,
		m.startData, m.brk0, m.brk0, p.strs.argStart, p.strs.argEnd, p.strs.envStart, p.strs.envEnd, exitCode)
}

func procStatm(p *Process) []byte {
	m := p.memSnap()
	pg := uint64(mm.PageSize)
	return fmt.Appendf(nil, "%d %d %d %d 0 %d 0\n", m.size/pg, m.rss/pg, 0, m.exe/pg, (m.data+m.stack)/pg)
}

func (s *synthFS) procStatus(p *Process, ps procSnap) []byte {
	m := p.memSnap()
	ign, cgt := p.sigSets()
	var b bytes.Buffer
	kb := func(k string, v uint64) { fmt.Fprintf(&b, "%s:\t%8d kB\n", k, v/1024) }
	fmt.Fprintf(&b, "Name:\t%s\nUmask:\t%04o\nState:\t%s\nTgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n",
		ps.comm, ps.umask, ps.state, ps.pid, ps.pid, ps.ppid)
	c := ps.cred
	fmt.Fprintf(&b, "Uid:\t%d\t%d\t%d\t%d\nGid:\t%d\t%d\t%d\t%d\nFDSize:\t64\nGroups:\t", c.uid, c.euid, c.suid, c.fsuid,
		c.gid, c.egid, c.sgid, c.fsgid)
	for _, g := range c.groups {
		fmt.Fprintf(&b, "%d ", g)
	}
	fmt.Fprintf(&b, "\nNStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\n", ps.pid, ps.pid, ps.pgid, ps.sid)
	kb("VmPeak", m.size)
	kb("VmSize", m.size)
	kb("VmLck", 0)
	kb("VmPin", 0)
	kb("VmHWM", m.rss)
	kb("VmRSS", m.rss)
	kb("RssAnon", m.rss)
	kb("RssFile", 0)
	kb("RssShmem", 0)
	kb("VmData", m.data)
	kb("VmStk", m.stack)
	kb("VmExe", m.exe)
	kb("VmLib", m.lib)
	kb("VmPTE", 0)
	kb("VmSwap", 0)
	b.WriteString("HugetlbPages:\t       0 kB\nCoreDumping:\t0\nTHP_enabled:\t1\n")
	fmt.Fprintf(&b, "Threads:\t%d\nSigQ:\t0/%d\n", ps.threads, p.rlimit(unix.RLIMIT_SIGPENDING).Cur)
	fmt.Fprintf(&b, "SigPnd:\t%016x\nShdPnd:\t%016x\nSigBlk:\t%016x\nSigIgn:\t%016x\nSigCgt:\t%016x\n",
		ps.sigPnd, ps.shdPnd, ps.sigBlk, ign, cgt)
	fmt.Fprintf(&b, "CapInh:\t%016x\nCapPrm:\t%016x\nCapEff:\t%016x\nCapBnd:\t%016x\nCapAmb:\t%016x\n",
		c.caps.Inheritable, c.caps.Permitted, c.caps.Effective, c.caps.Bounding, c.caps.Ambient)
	fmt.Fprintf(&b, "NoNewPrivs:\t%d\nSeccomp:\t0\nSeccomp_filters:\t0\n", b2i(ps.noNewPrivs))
	b.WriteString("Speculation_Store_Bypass:\tthread vulnerable\nSpeculationIndirectBranch:\tconditional enabled\n")
	var set unix.CPUSet
	unix.SchedGetaffinity(0, &set)
	var list []string
	var mask uint64
	for i := 0; i < 64; i++ {
		if set.IsSet(i) {
			mask |= 1 << i
			list = append(list, itoa(i))
		}
	}
	fmt.Fprintf(&b, "Cpus_allowed:\t%x\nCpus_allowed_list:\t%s\nMems_allowed:\t1\nMems_allowed_list:\t0\n",
		mask, cpuList(list))
	b.WriteString("voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n")
	return b.Bytes()
}

// cpuList writes CPU numbers as Linux's ranges ("0-3,6").
func cpuList(cpus []string) string {
	var out []string
	for i := 0; i < len(cpus); {
		a, _ := strconv.Atoi(cpus[i])
		j := i
		for j+1 < len(cpus) {
			n, _ := strconv.Atoi(cpus[j+1])
			if n != a+(j+1-i) {
				break
			}
			j++
		}
		if j == i {
			out = append(out, cpus[i])
		} else {
			out = append(out, cpus[i]+"-"+cpus[j])
		}
		i = j + 1
	}
	return strings.Join(out, ",")
}

func procMaps(p *Process) []byte {
	var b bytes.Buffer
	for _, v := range p.memSnap().vmas {
		perm := []byte("---p")
		if v.Prot&mm.ProtRead != 0 {
			perm[0] = 'r'
		}
		if v.Prot&mm.ProtWrite != 0 {
			perm[1] = 'w'
		}
		if v.Prot&mm.ProtExec != 0 {
			perm[2] = 'x'
		}
		if v.Shared {
			perm[3] = 's'
		}
		name, ino, dev := v.Name, uint64(0), uint64(0)
		if v.File != nil {
			name = v.File.Name()
			var st unix.Stat_t
			if fd := v.File.HostFD(); fd >= 0 && unix.Fstat(fd, &st) == nil {
				ino, dev = st.Ino, st.Dev
			}
		}
		n := b.Len()
		fmt.Fprintf(&b, "%08x-%08x %s %08x %02x:%02x %d ", v.Start, v.End, perm, v.Offset,
			unix.Major(dev), unix.Minor(dev), ino)
		if name != "" {
			for b.Len()-n < 73 {
				b.WriteByte(' ')
			}
			b.WriteString(name)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

var limitRows = []struct {
	name, unit string
	res        int
}{
	{"Max cpu time", "seconds", unix.RLIMIT_CPU}, {"Max file size", "bytes", unix.RLIMIT_FSIZE},
	{"Max data size", "bytes", unix.RLIMIT_DATA}, {"Max stack size", "bytes", unix.RLIMIT_STACK},
	{"Max core file size", "bytes", unix.RLIMIT_CORE}, {"Max resident set", "bytes", unix.RLIMIT_RSS},
	{"Max processes", "processes", unix.RLIMIT_NPROC}, {"Max open files", "files", unix.RLIMIT_NOFILE},
	{"Max locked memory", "bytes", unix.RLIMIT_MEMLOCK}, {"Max address space", "bytes", unix.RLIMIT_AS},
	{"Max file locks", "locks", unix.RLIMIT_LOCKS}, {"Max pending signals", "signals", unix.RLIMIT_SIGPENDING},
	{"Max msgqueue size", "bytes", unix.RLIMIT_MSGQUEUE}, {"Max nice priority", "", unix.RLIMIT_NICE},
	{"Max realtime priority", "", unix.RLIMIT_RTPRIO}, {"Max realtime timeout", "us", unix.RLIMIT_RTTIME},
}

func procLimits(p *Process) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit", "Hard Limit", "Units")
	show := func(v uint64) string {
		if v == unix.RLIM_INFINITY {
			return "unlimited"
		}
		return strconv.FormatUint(v, 10)
	}
	for _, r := range limitRows {
		l := p.rlimit(r.res)
		fmt.Fprintf(&b, "%-25s %-20s %-20s %-10s\n", r.name, show(l.Cur), show(l.Max), r.unit)
	}
	return b.Bytes()
}

// fdDir is /proc/PID/fd (links to the open files) or fdinfo.
func (s *synthFS) fdDir(p *Process, info bool) *synthNode {
	mode := uint32(0o500)
	if info {
		mode = 0o555
	}
	return dirNode(mode, func() []string {
		p.fds.mu.Lock()
		defer p.fds.mu.Unlock()
		var names []string
		for i, e := range p.fds.fds {
			if e != nil {
				names = append(names, itoa(i))
			}
		}
		return names
	}, func(name string) *synthNode {
		n, err := strconv.Atoi(name)
		if err != nil || itoa(n) != name {
			return nil
		}
		e := p.fds.get(n)
		if e == nil {
			return nil
		}
		if info {
			return fileNode(0o444, func() []byte { return fdInfo(e) })
		}
		return &synthNode{kind: synthFD, mode: 0o700, hostFD: e.host, guestPath: e.path, target: s.fdTarget(e)}
	})
}

// fdTarget is the text of an fd's link: the guest path it was opened by,
// or the host's name for what has none (pipe:[N], socket:[N]...).
func (s *synthFS) fdTarget(e *fdEntry) string {
	if path.IsAbs(e.path) {
		if s.sb.res.Confined() {
			return e.path
		}
		return s.sb.res.GuestPath(e.path)
	}
	t, err := readlinkFD(e.host)
	if err != nil {
		return "anon_inode:[unknown]"
	}
	if !s.sb.res.Confined() {
		t = s.sb.res.GuestPath(t)
	}
	return t
}

func fdInfo(e *fdEntry) []byte {
	pos, _ := unix.Seek(e.host, 0, 1)
	fl, _ := unix.FcntlInt(uintptr(e.host), unix.F_GETFL, 0)
	flags := encodeOpenFlags(fl)
	if e.cloexec {
		flags |= oCloexec
	}
	var st unix.Stat_t
	unix.Fstat(e.host, &st)
	return fmt.Appendf(nil, "pos:\t%d\nflags:\t0%o\nmnt_id:\t1\nino:\t%d\n", max(pos, 0), flags, st.Ino)
}

// mountRows are the guest's mounts: the root, then the table in order.
type mountRow struct {
	id, parent         int
	root, dest, fstype string
	source, opts       string
}

func (s *synthFS) mountRows() []mountRow {
	rows := []mountRow{{id: 1, parent: 0, root: "/", dest: "/", fstype: "rootfs", source: "rootfs", opts: "rw"}}
	res := s.sb.res
	if res.Confined() && res.root.readOnly {
		rows[0].opts = "ro"
	}
	for i, m := range res.MountTable() {
		r := mountRow{id: i + 2, root: m.Root, dest: m.Dest, fstype: m.Type, source: m.FSSource, opts: "rw"}
		if r.root == "" {
			r.root = "/"
		}
		if m.ReadOnly {
			r.opts = "ro"
		}
		for _, o := range m.Options {
			switch o {
			case "nosuid", "nodev", "noexec", "relatime", "noatime", "strictatime":
				r.opts += "," + o
			}
		}
		if m.Synthetic == "" && m.Type == "" {
			r.fstype, r.root = "bind", m.Source
			if r.source == "" {
				r.source = m.Source
			}
		}
		if r.fstype == "" {
			r.fstype = m.Synthetic
		}
		if r.source == "" {
			r.source = r.fstype
		}
		// The parent is the last earlier mount that holds this one.
		r.parent = 1
		for _, q := range rows[1:] {
			if strings.HasPrefix(m.Dest, q.dest+"/") {
				r.parent = q.id
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func mountEscape(s string) string {
	return strings.NewReplacer(" ", `\040`, "\t", `\011`, "\n", `\012`, `\`, `\134`).Replace(s)
}

func (s *synthFS) mountinfo() []byte {
	var b bytes.Buffer
	for _, r := range s.mountRows() {
		fmt.Fprintf(&b, "%d %d 0:%d %s %s %s - %s %s %s\n", r.id, r.parent, r.id+20, mountEscape(r.root),
			mountEscape(r.dest), r.opts, r.fstype, mountEscape(r.source), strings.SplitN(r.opts, ",", 2)[0])
	}
	return b.Bytes()
}

func (s *synthFS) mounts() []byte {
	var b bytes.Buffer
	for _, r := range s.mountRows() {
		fmt.Fprintf(&b, "%s %s %s %s 0 0\n", mountEscape(r.source), mountEscape(r.dest), r.fstype, r.opts)
	}
	return b.Bytes()
}

// procSys is /proc/sys: the values programs read, the host's where the
// guest shares them, and the container's sysctls over them.
func (s *synthFS) procSys() *synthNode {
	sb := s.sb
	host := func() string { h, _ := sb.utsNames(); return h }
	domain := func() string { _, d := sb.utsNames(); return d }
	vals := map[string]func() string{
		"kernel/osrelease":              func() string { return unameRelease },
		"kernel/ostype":                 func() string { return "Linux" },
		"kernel/version":                func() string { return unameVersion },
		"kernel/hostname":               host,
		"kernel/domainname":             domain,
		"kernel/pid_max":                func() string { return itoa(pidMax) },
		"kernel/threads-max":            func() string { return itoa(sb.maxThreads()) },
		"kernel/ngroups_max":            func() string { return "65536" },
		"kernel/cap_last_cap":           func() string { return "40" },
		"kernel/overflowuid":            func() string { return "65534" },
		"kernel/overflowgid":            func() string { return "65534" },
		"kernel/random/boot_id":         func() string { return s.bootID() },
		"kernel/random/uuid":            newUUID,
		"kernel/random/poolsize":        func() string { return "256" },
		"kernel/random/entropy_avail":   func() string { return "256" },
		"kernel/yama/ptrace_scope":      func() string { return "1" },
		"vm/overcommit_memory":          func() string { return "0" },
		"vm/mmap_min_addr":              func() string { return "65536" },
		"vm/max_map_count":              func() string { return "65530" },
		"fs/file-max":                   func() string { return "9223372036854775807" },
		"fs/nr_open":                    func() string { return "1073741816" },
		"fs/pipe-max-size":              func() string { return "1048576" },
		"fs/inotify/max_user_watches":   func() string { return "65536" },
		"fs/inotify/max_user_instances": func() string { return "128" },
		"fs/inotify/max_queued_events":  func() string { return "16384" },
		"net/core/somaxconn":            func() string { return "4096" },
		"net/ipv4/ip_local_port_range":  func() string { return "32768\t60999" },
	}
	for k, v := range sb.cfg.Sysctl {
		v := v
		vals[strings.ReplaceAll(k, ".", "/")] = func() string { return v }
	}
	return s.valueTree("", vals)
}

// valueTree makes the directory prefix of a tree of one-line files.
func (s *synthFS) valueTree(prefix string, vals map[string]func() string) *synthNode {
	children := map[string]bool{}
	for k := range vals {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, "/")
		children[name] = true
	}
	return dirNode(0o555, func() []string {
		var names []string
		for k := range children {
			names = append(names, k)
		}
		return names
	}, func(name string) *synthNode {
		if !children[name] {
			return nil
		}
		if v, ok := vals[prefix+name]; ok {
			return fileNode(0o644, func() []byte { return []byte(v() + "\n") })
		}
		return s.valueTree(prefix+name+"/", vals)
	})
}

func (s *synthFS) bootID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.boot == "" {
		s.boot = newUUID()
	}
	return s.boot
}

func newUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// sysRoot is /sys: what programs read of the CPUs and memory, and an empty
// cgroup file system.
func (s *synthFS) sysRoot() *synthNode {
	cpu := func(name string) func() *synthNode {
		return func() *synthNode { return fileNode(0o444, hostContent("/sys/devices/system/cpu/"+name)) }
	}
	return staticDir(0o555, map[string]func() *synthNode{
		"devices": func() *synthNode {
			return staticDir(0o755, map[string]func() *synthNode{
				"system": func() *synthNode {
					return staticDir(0o755, map[string]func() *synthNode{
						"cpu": func() *synthNode {
							return staticDir(0o755, map[string]func() *synthNode{
								"online": cpu("online"), "possible": cpu("possible"), "present": cpu("present"),
							})
						},
						"node": func() *synthNode {
							return staticDir(0o755, map[string]func() *synthNode{
								"online":   func() *synthNode { return textNode("0\n") },
								"possible": func() *synthNode { return textNode("0\n") },
							})
						},
					})
				},
			})
		},
		"fs": func() *synthNode {
			return staticDir(0o755, map[string]func() *synthNode{
				"cgroup": func() *synthNode { return staticDir(0o555, nil) },
			})
		},
		"kernel": func() *synthNode {
			return staticDir(0o755, map[string]func() *synthNode{
				"mm": func() *synthNode {
					return staticDir(0o755, map[string]func() *synthNode{
						"transparent_hugepage": func() *synthNode {
							return staticDir(0o755, map[string]func() *synthNode{
								"enabled":        func() *synthNode { return textNode("always [madvise] never\n") },
								"hpage_pmd_size": func() *synthNode { return textNode("2097152\n") },
							})
						},
					})
				},
			})
		},
	})
}

// IDMap is one line of a user namespace's id mapping.
type IDMap struct{ ContainerID, HostID, Size uint32 }

func idMap(m []IDMap) []byte {
	if len(m) == 0 {
		m = []IDMap{{0, 0, 4294967295}}
	}
	var b bytes.Buffer
	for _, e := range m {
		fmt.Fprintf(&b, "%10d %10d %10d\n", e.ContainerID, e.HostID, e.Size)
	}
	return b.Bytes()
}
