package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// ConfigName is the bundle's configuration file.
const ConfigName = "config.json"

// LoadBundle reads and checks bundle/config.json. bundle is made absolute.
func LoadBundle(bundle string) (string, *specs.Spec, error) {
	if bundle == "" {
		bundle = "."
	}
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return "", nil, fmt.Errorf("bundle %s: %w", bundle, err)
	}
	b, err := os.ReadFile(filepath.Join(abs, ConfigName))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil, fmt.Errorf("bundle %s: no %s in it", abs, ConfigName)
		}
		return "", nil, fmt.Errorf("bundle %s: %w", abs, err)
	}
	spec, err := ParseSpec(b)
	if err != nil {
		return "", nil, fmt.Errorf("bundle %s: %s: %w", abs, ConfigName, err)
	}
	if err := ValidateSpec(abs, spec); err != nil {
		return "", nil, fmt.Errorf("bundle %s: %w", abs, err)
	}
	return abs, spec, nil
}

// ParseSpec decodes a config.json, refusing unknown top-level garbage
// such as trailing data.
func ParseSpec(b []byte) (*specs.Spec, error) {
	var spec specs.Spec
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON: data after the configuration object")
	}
	return &spec, nil
}

// ValidateSpec checks what the runtime needs of a configuration before
// anything is created.
func ValidateSpec(bundle string, spec *specs.Spec) error {
	if spec.Version == "" {
		return errors.New("ociVersion is missing")
	}
	if !strings.HasPrefix(spec.Version, "1.") {
		return fmt.Errorf("ociVersion %q is not supported (1.x is)", spec.Version)
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return errors.New("root.path is missing")
	}
	root := RootfsPath(bundle, spec)
	st, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("root filesystem: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("root filesystem %s is not a directory", root)
	}
	p := spec.Process
	if p == nil {
		return errors.New("process is missing")
	}
	if len(p.Args) == 0 || p.Args[0] == "" {
		return errors.New("process.args is empty")
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("process.cwd %q is not an absolute path", p.Cwd)
	}
	for _, e := range p.Env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("process.env entry %q has no '='", e)
		}
	}
	for _, r := range p.Rlimits {
		if _, err := rlimitResource(r.Type); err != nil {
			return err
		}
		if r.Soft > r.Hard {
			return fmt.Errorf("rlimit %s: soft limit %d above hard limit %d", r.Type, r.Soft, r.Hard)
		}
	}
	for i, m := range spec.Mounts {
		if m.Destination == "" {
			return fmt.Errorf("mounts[%d]: destination is missing", i)
		}
		if !filepath.IsAbs(m.Destination) {
			return fmt.Errorf("mounts[%d]: destination %q is not absolute", i, m.Destination)
		}
		if _, err := mountKind(m); err != nil {
			return fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
		}
	}
	if spec.Linux != nil {
		for _, ns := range spec.Linux.Namespaces {
			switch ns.Type {
			case specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.IPCNamespace,
				specs.UTSNamespace, specs.UserNamespace, specs.CgroupNamespace, specs.TimeNamespace:
			default:
				return fmt.Errorf("linux.namespaces: unknown namespace type %q", ns.Type)
			}
			if ns.Path != "" {
				if _, err := os.Stat(ns.Path); err != nil {
					return fmt.Errorf("%s namespace: %w", ns.Type, err)
				}
				// A path to a namespace of another kind is refused, as
				// setns would refuse it, even for the kinds the sandbox
				// provides itself.
				if err := checkNamespaceType(ns.Path, ns.Type); err != nil {
					return fmt.Errorf("%s namespace %s: %w", ns.Type, ns.Path, err)
				}
			}
		}
	}
	return checkHooks(spec.Hooks)
}

func checkHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	all := map[string][]specs.Hook{"prestart": h.Prestart, "createRuntime": h.CreateRuntime,
		"createContainer": h.CreateContainer, "startContainer": h.StartContainer,
		"poststart": h.Poststart, "poststop": h.Poststop}
	for kind, hooks := range all {
		for i, hk := range hooks {
			if !filepath.IsAbs(hk.Path) {
				return fmt.Errorf("hooks.%s[%d]: path %q is not absolute", kind, i, hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return fmt.Errorf("hooks.%s[%d]: timeout must be positive", kind, i)
			}
		}
	}
	return nil
}

// RootfsPath is the host path of the container's root filesystem.
func RootfsPath(bundle string, spec *specs.Spec) string {
	if filepath.IsAbs(spec.Root.Path) {
		return filepath.Clean(spec.Root.Path)
	}
	return filepath.Join(bundle, spec.Root.Path)
}

// rlimitNames maps runtime-spec rlimit types to Linux resource numbers.
var rlimitNames = map[string]int{
	"RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
	"RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
	"RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
	"RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

func rlimitResource(name string) (int, error) {
	if r, ok := rlimitNames[name]; ok {
		return r, nil
	}
	return 0, fmt.Errorf("rlimit type %q is unknown", name)
}

// DefaultSpec is the configuration `spec` writes: runc's example,
// running sh on a terminal, with this runtime's host name.
func DefaultSpec() *specs.Spec {
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			Terminal: true,
			User:     specs.User{},
			Args:     []string{"sh"},
			Env:      []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:      "/",
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: caps, Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: "elfuse",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			MaskedPaths: []string{"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace}, {Type: specs.CgroupNamespace},
			},
		},
	}
}

// Annotations of the features document that say what this runtime
// accepts without applying it.
const (
	// FeatureIgnored lists configuration fields accepted and not applied:
	// a kernel-less runtime has no seccomp, LSMs, cgroups or device nodes
	// of its own.
	FeatureIgnored = "io.github.elfuse.ignored"
	// FeatureSandbox says how the container is isolated.
	FeatureSandbox = "io.github.elfuse.sandbox"
	// FeatureApplied lists the configuration fields the sandbox applies.
	FeatureApplied = "io.github.elfuse.applied"
)

// Features is the runtime-spec features document of this runtime.
func Features() *features.Features {
	f := false
	var kinds []string
	for k := range mountKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions: []string{"bind", "rbind", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
			"mode", "size", "nr_inodes", "uid", "gid", "strictatime", "relatime", "noatime", "private", "rprivate",
			"slave", "rslave", "shared", "rshared", "newinstance", "ptmxmode"},
		Linux: &features.Linux{
			Namespaces: []string{"pid", "network", "ipc", "uts", "mount", "user", "cgroup", "time"},
			Capabilities: []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
				"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW",
				"CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"},
			Cgroup:   &features.Cgroup{V1: &f, V2: &f, Systemd: &f, SystemdUser: &f},
			Seccomp:  &features.Seccomp{Enabled: &f},
			Apparmor: &features.Apparmor{Enabled: &f},
			Selinux:  &features.Selinux{Enabled: &f},
			IntelRdt: &features.IntelRdt{Enabled: &f},
			MountExtensions: &features.MountExtensions{
				IDMap: &features.IDMap{Enabled: &f},
			},
			NetDevices: &features.NetDevices{Enabled: &f},
		},
		Annotations: map[string]string{
			FeatureIgnored: "process.capabilities,process.apparmorProfile,process.selinuxLabel,process.oomScoreAdj," +
				"linux.seccomp,linux.resources.devices,linux.resources.cpu,linux.resources.pids,linux.resources.blockIO," +
				"linux.resources.hugepageLimits,linux.resources.network,linux.cgroupsPath,linux.sysctl," +
				"linux.maskedPaths,linux.readonlyPaths,linux.mountLabel,linux.uidMappings,linux.gidMappings",
			FeatureSandbox: "kvm: one VM per container, every guest system call served by elfuse; mount kinds " +
				strings.Join(kinds, ",") + "; memory limit = guest RAM",
			FeatureApplied: "process.args,process.user,process.rlimits,process.env,process.cwd," +
				"process.terminal,process.consoleSize,root.path,mounts,hostname,domainname,linux.resources.memory.limit,linux.namespaces[network].path",
		},
	}
}

// MakeRootless adapts a default spec for a rootless container, as
// `runc spec --rootless` does: a user namespace mapping the caller to
// root, no network namespace, and no cgroup mount.
func MakeRootless(spec *specs.Spec, uid, gid uint32) {
	spec.Linux.Resources = nil
	spec.Linux.UIDMappings = []specs.LinuxIDMapping{{HostID: uid, ContainerID: 0, Size: 1}}
	spec.Linux.GIDMappings = []specs.LinuxIDMapping{{HostID: gid, ContainerID: 0, Size: 1}}
	var ns []specs.LinuxNamespace
	for _, n := range spec.Linux.Namespaces {
		if n.Type != specs.NetworkNamespace {
			ns = append(ns, n)
		}
	}
	spec.Linux.Namespaces = append(ns, specs.LinuxNamespace{Type: specs.UserNamespace})
	var mounts []specs.Mount
	for _, m := range spec.Mounts {
		if m.Destination == "/sys/fs/cgroup" {
			continue
		}
		if m.Destination == "/sys" {
			m = specs.Mount{Destination: "/sys", Type: "none", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
		mounts = append(mounts, m)
	}
	spec.Mounts = mounts
}
