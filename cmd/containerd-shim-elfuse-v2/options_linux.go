//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/typeurl/v2"
	"github.com/pelletier/go-toml/v2"
)

const (
	// runtimeType is the name containerd knows this shim by.
	runtimeType = "io.containerd.elfuse.v2"
	// runtimeBinary is the OCI runtime the shim drives when the options name none.
	runtimeBinary = "elfuse-runtime"
	// defaultRoot is elfuse-runtime's --root under the shim (one directory per containerd
	// namespace below it), apart from runc's /run/containerd/runc.
	defaultRoot = "/run/containerd/elfuse"
)

// Config is the shim's runtime configuration. containerd's CRI plugin hands the TOML table
// [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.elfuse.options] to a runtime type
// other than runc's as a generic runtimeoptions.Options (ConfigBody, or ConfigPath naming a TOML
// file); `ctr run --runtime-config-path FILE` does the same with a file. runc's own options
// (BinaryName, Root, as `ctr --runc-binary` or a runc-typed options table give them) are taken too.
//
//	[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.elfuse]
//	  runtime_type = "io.containerd.elfuse.v2"
//	  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.elfuse.options]
//	    BinaryName = "/usr/local/bin/elfuse-runtime"  # default: elfuse-runtime beside the shim, else $PATH
//	    Root = "/run/containerd/elfuse"               # elfuse-runtime --root (per namespace below it)
//	    Debug = true                                  # the shim logs at debug level to containerd's log
//	    GuestMemory = "1GiB"                          # guest RAM of a container whose spec sets no memory limit
type Config struct {
	BinaryName  string `toml:"BinaryName"`
	Root        string `toml:"Root"`
	Debug       bool   `toml:"Debug"`
	GuestMemory any    `toml:"GuestMemory"` // bytes, or a string with a K/M/G/T(i)(B) suffix
	// SystemdCgroup and the other runc-only keys are accepted and ignored (elfuse has no cgroups).
}

// resolved is the outcome of reading a task's runtime options: runc options for containerd's runc
// task service, and what only this shim applies.
type resolved struct {
	runc        *options.Options
	debug       bool
	guestMemory int64 // 0: leave the spec alone
}

// readOptions turns the options of a CreateTaskRequest (nil, runc's, or CRI's generic ones) into
// runc options with elfuse's runtime binary and root filled in.
func readOptions(a typeurl.Any) (*resolved, error) {
	r := &resolved{runc: &options.Options{}}
	if a != nil && len(a.GetValue()) > 0 {
		v, err := typeurl.UnmarshalAny(a)
		if err != nil {
			return nil, fmt.Errorf("runtime options of type %q: %w", a.GetTypeUrl(), err)
		}
		switch o := v.(type) {
		case *options.Options:
			r.runc = o
		case *runtimeoptions.Options:
			cfg, err := readConfig(o)
			if err != nil {
				return nil, err
			}
			r.runc.BinaryName = cfg.BinaryName
			r.runc.Root = cfg.Root
			r.debug = cfg.Debug
			if r.guestMemory, err = parseSize(cfg.GuestMemory); err != nil {
				return nil, fmt.Errorf("runtime option GuestMemory: %w", err)
			}
		default:
			return nil, fmt.Errorf("runtime options of type %T are not elfuse's (runc options or CRI's runtimeoptions)", v)
		}
	}
	if r.runc.BinaryName == "" {
		bin, err := findRuntime()
		if err != nil {
			return nil, err
		}
		r.runc.BinaryName = bin
	}
	if r.runc.Root == "" {
		r.runc.Root = defaultRoot
	}
	return r, nil
}

// readConfig reads CRI's generic options: ConfigPath, a TOML file, wins over ConfigBody, the
// options table itself.
func readConfig(o *runtimeoptions.Options) (*Config, error) {
	body := o.ConfigBody
	if o.ConfigPath != "" {
		b, err := os.ReadFile(o.ConfigPath)
		if err != nil {
			return nil, fmt.Errorf("runtime config: %w", err)
		}
		body = b
	}
	var cfg Config
	if len(bytes.TrimSpace(body)) == 0 {
		return &cfg, nil
	}
	if err := toml.Unmarshal(body, &cfg); err != nil {
		return nil, fmt.Errorf("runtime config (TOML): %w", err)
	}
	return &cfg, nil
}

// findRuntime finds elfuse-runtime beside the shim's own binary, else on $PATH.
func findRuntime() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), runtimeBinary)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	p, err := exec.LookPath(runtimeBinary)
	if err != nil {
		return "", fmt.Errorf("%s is neither beside the shim nor on $PATH (or set the runtime option BinaryName): %w", runtimeBinary, err)
	}
	return filepath.Abs(p)
}

// parseSize reads a byte count: a TOML integer, or a string such as "512MiB", "1G", "1073741824".
func parseSize(v any) (int64, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("negative size %d", x)
		}
		return x, nil
	case float64:
		if x < 0 {
			return 0, fmt.Errorf("negative size %v", x)
		}
		return int64(x), nil
	case string:
		s := strings.TrimSpace(x)
		s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "i")
		mult := int64(1)
		if n := len(s); n > 0 {
			switch s[n-1] {
			case 'k', 'K':
				mult = 1 << 10
			case 'm', 'M':
				mult = 1 << 20
			case 'g', 'G':
				mult = 1 << 30
			case 't', 'T':
				mult = 1 << 40
			}
			if mult != 1 {
				s = s[:n-1]
			}
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("size %q: want bytes or a K/M/G/T suffix", x)
		}
		return n * mult, nil
	}
	return 0, fmt.Errorf("size of type %T", v)
}

// applyGuestMemory sets linux.resources.memory.limit (elfuse-runtime's guest RAM) in the bundle's
// config.json when the spec has none. The rest of the document is kept as it is.
func applyGuestMemory(bundle string, limit int64) error {
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var spec map[string]any
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	linux := child(spec, "linux")
	res := child(linux, "resources")
	mem := child(res, "memory")
	if _, ok := mem["limit"]; ok {
		return nil
	}
	mem["limit"] = limit
	out, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".elfuse-shim"
	if err := os.WriteFile(tmp, out, st.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func child(m map[string]any, key string) map[string]any {
	if c, ok := m[key].(map[string]any); ok {
		return c
	}
	c := map[string]any{}
	m[key] = c
	return c
}
