package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	lsys "github.com/elfuse/elfuse/syscall"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Launch is what the sandbox process builds: the bundle's configuration
// mapped to the sandbox's terms by `create`, kept in the state directory.
type Launch struct {
	Args         []string `json:"args"`
	Env          []string `json:"env"`
	Cwd          string   `json:"cwd"`
	Root         string   `json:"root"`
	Mounts       []Mount  `json:"mounts,omitempty"`
	UID          uint32   `json:"uid"`
	GID          uint32   `json:"gid"`
	Groups       []uint32 `json:"groups,omitempty"`
	Umask        *uint32  `json:"umask,omitempty"`
	Rlimits      []Rlimit `json:"rlimits,omitempty"`
	Hostname     string   `json:"hostname,omitempty"`
	Domainname   string   `json:"domainname,omitempty"`
	RAM          uint64   `json:"ram,omitempty"`
	Terminal     bool     `json:"terminal,omitempty"`
	ReadonlyRoot bool     `json:"readonlyRoot,omitempty"`
	Caps         *CapSets `json:"caps,omitempty"`
	// Sysctl (linux.sysctl) and OOMScoreAdj are what the guest's /proc
	// shows.
	Sysctl      map[string]string `json:"sysctl,omitempty"`
	OOMScoreAdj int               `json:"oomScoreAdj,omitempty"`
	// PreserveFDs is the number of descriptors (--preserve-fds) the
	// sandbox process got after its report pipe, for the guest's fds 3 on.
	PreserveFDs int `json:"preserveFds,omitempty"`
	// UIDMap and GIDMap (linux.uidMappings, gidMappings) are what the
	// guest's /proc/self/uid_map and gid_map show.
	UIDMap []specs.LinuxIDMapping `json:"uidMap,omitempty"`
	GIDMap []specs.LinuxIDMapping `json:"gidMap,omitempty"`
	// Syscalls is the system call path (exit, exitless, auto): the
	// annotation SyscallsAnnotation, else the runtime's --syscalls.
	Syscalls string `json:"syscalls,omitempty"`
	// Recorded, not applied by the sandbox yet.
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
}

// SyscallsAnnotation chooses a container's system call path: exit,
// exitless or auto.
const SyscallsAnnotation = "org.elfuse.syscalls"

// Rlimit is one resource limit by Linux resource number.
type Rlimit struct {
	Resource int    `json:"resource"`
	Cur      uint64 `json:"cur"`
	Max      uint64 `json:"max"`
}

// DefaultPath is the PATH used to find a command when the environment
// has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// buildLaunch maps a checked spec to a Launch, preparing the container's
// private directories under dir and its mount points.
func buildLaunch(spec *specs.Spec, bundle, dir, console string, log *slog.Logger) (*Launch, error) {
	rootfs := RootfsPath(bundle, spec)
	plan, err := planMounts(spec, bundle, rootfs, dir, console, log)
	if err != nil {
		return nil, err
	}
	p := spec.Process
	l := &Launch{
		Args: p.Args, Env: append([]string(nil), p.Env...), Root: rootfs, Mounts: plan.mounts,
		UID: p.User.UID, GID: p.User.GID, Groups: p.User.AdditionalGids, Umask: p.User.Umask,
		Hostname: spec.Hostname, Domainname: spec.Domainname, Terminal: p.Terminal,
		ReadonlyRoot: spec.Root.Readonly, NoNewPrivileges: p.NoNewPrivileges,
	}
	if spec.Linux != nil {
		l.Sysctl, l.UIDMap, l.GIDMap = spec.Linux.Sysctl, spec.Linux.UIDMappings, spec.Linux.GIDMappings
	}
	l.Syscalls = spec.Annotations[SyscallsAnnotation]
	if _, err := lsys.ParseSyscallMode(l.Syscalls); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", SyscallsAnnotation, err)
	}
	if p.OOMScoreAdj != nil {
		l.OOMScoreAdj = *p.OOMScoreAdj
	}
	if l.Caps, err = capSets(p.Capabilities); err != nil {
		return nil, err
	}
	// The working directory is made when missing, as runc does.
	if l.Cwd, err = plan.resolve(p.Cwd, true, true); err != nil {
		return nil, fmt.Errorf("process.cwd %s: %w", p.Cwd, err)
	}
	for _, r := range p.Rlimits {
		res, err := rlimitResource(r.Type)
		if err != nil {
			return nil, err
		}
		l.Rlimits = append(l.Rlimits, Rlimit{Resource: res, Cur: r.Soft, Max: r.Hard})
	}
	if spec.Linux != nil && spec.Linux.Resources != nil && spec.Linux.Resources.Memory != nil {
		if lim := spec.Linux.Resources.Memory.Limit; lim != nil && *lim > 0 {
			l.RAM = uint64(*lim)
		}
	}
	if !hasEnv(l.Env, "HOME") {
		l.Env = append(l.Env, "HOME="+homeOf(plan, l.UID))
	}
	return l, nil
}

// saveLaunch writes the launch file of a state directory.
func saveLaunch(dir string, l *Launch) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, launchFile), b, 0o600)
}

// loadLaunch reads the launch file of a state directory.
func loadLaunch(dir string) (*Launch, error) {
	b, err := os.ReadFile(filepath.Join(dir, launchFile))
	if err != nil {
		return nil, fmt.Errorf("launch file: %w", err)
	}
	var l Launch
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("launch file: %w", err)
	}
	return &l, nil
}

// view is the container's file view as a launch describes it, for
// lookups of the runtime (users, groups).
func (l *Launch) view() *mountPlan {
	return &mountPlan{rootfs: l.Root, mounts: l.Mounts, private: map[string]bool{}, log: slog.New(slog.DiscardHandler)}
}

func hasEnv(env []string, name string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, name+"=") {
			return true
		}
	}
	return false
}

// getEnv is the value of name in env (the last one wins, as in getenv).
func getEnv(env []string, name string) string {
	v := ""
	for _, e := range env {
		if strings.HasPrefix(e, name+"=") {
			v = e[len(name)+1:]
		}
	}
	return v
}

// homeOf is uid's home directory in the container's /etc/passwd, or "/".
func homeOf(v *mountPlan, uid uint32) string {
	b, err := v.readFile("/etc/passwd")
	if err != nil {
		return "/"
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 6 && f[2] == strconv.FormatUint(uint64(uid), 10) && f[5] != "" {
			return f[5]
		}
	}
	return "/"
}

// lookupUser parses exec's --user: uid[:gid] with names looked up in the
// container's /etc/passwd and /etc/group. It returns the uid, the gid
// (the user's primary group when not given) and the user's home.
func lookupUser(v *mountPlan, spec string) (uid, gid uint32, home string, err error) {
	u, g, hasG := strings.Cut(spec, ":")
	passwd, _ := v.readFile("/etc/passwd")
	found := false
	if n, err := strconv.ParseUint(u, 10, 32); err == nil {
		uid = uint32(n)
	}
	for _, line := range strings.Split(string(passwd), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 7 {
			continue
		}
		if f[0] == u || f[2] == u {
			n, err1 := strconv.ParseUint(f[2], 10, 32)
			m, err2 := strconv.ParseUint(f[3], 10, 32)
			if err1 == nil && err2 == nil {
				uid, gid, home, found = uint32(n), uint32(m), f[5], true
				break
			}
		}
	}
	if !found {
		n, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return 0, 0, "", fmt.Errorf("user %q: no such user in the container's /etc/passwd", u)
		}
		uid, gid, home = uint32(n), 0, "/"
	}
	if hasG {
		n, err := strconv.ParseUint(g, 10, 32)
		if err == nil {
			return uid, uint32(n), home, nil
		}
		group, _ := v.readFile("/etc/group")
		for _, line := range strings.Split(string(group), "\n") {
			f := strings.Split(line, ":")
			if len(f) >= 3 && f[0] == g {
				if n, err := strconv.ParseUint(f[2], 10, 32); err == nil {
					return uid, uint32(n), home, nil
				}
			}
		}
		return 0, 0, "", fmt.Errorf("group %q: no such group in the container's /etc/group", g)
	}
	return uid, gid, home, nil
}

// lookPathIn finds a command without a slash on PATH in the container's
// view, as the container's exec would; a path with a slash is taken as
// it is, relative ones from cwd.
func lookPathIn(v *mountPlan, cwd, cmd string, env []string) (string, error) {
	if cmd == "" {
		return "", errors.New("empty command")
	}
	if strings.Contains(cmd, "/") {
		if !path.IsAbs(cmd) {
			return path.Join(cwd, cmd), nil
		}
		return cmd, nil
	}
	p := getEnv(env, "PATH")
	if !hasEnv(env, "PATH") {
		p = DefaultPath
	}
	for _, d := range strings.Split(p, ":") {
		if d == "" {
			d = "."
		}
		if !path.IsAbs(d) {
			d = path.Join(cwd, d)
		}
		cand := path.Join(d, cmd)
		g, err := v.resolve(cand, false, false)
		if err != nil {
			continue
		}
		host, _ := v.hostOf(g)
		if host == "" {
			_, src, rest := v.mountAt(g)
			host = filepath.Join(src, rest)
		}
		if st, err := os.Stat(host); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", cmd)
}
