package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Container statuses, as the runtime-spec names them.
const (
	Creating = string(specs.StateCreating)
	Created  = string(specs.StateCreated)
	Running  = string(specs.StateRunning)
	Paused   = "paused"
	Stopped  = string(specs.StateStopped)
)

// Files of a container's state directory.
const (
	recordFile = "state.json"  // Record, written by create
	specFile   = "config.json" // the bundle's config as created
	launchFile = "launch.json" // what the sandbox process builds
	statusFile = "status"      // written by the sandbox process
	socketFile = "ctl.sock"    // the sandbox's control socket
	resFile    = "resources.json"
)

// ErrNotExist is the error of a command naming no container.
var ErrNotExist = errors.New("container does not exist")

// Record is what the state directory keeps of a container.
type Record struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`      // the sandbox process, 0 while creating
	PidStart    uint64            `json:"pidStart"` // its start time, against pid reuse
	Creator     int               `json:"creator"`  // the create command, while creating
	CreatorAt   uint64            `json:"creatorStart"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
	RAM         uint64            `json:"ram"`
}

// State is the state JSON of `state` and `list --format json`: the
// runtime-spec state with runc's additions (rootfs, created, owner).
type State struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	Pid         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Owner       string            `json:"owner"`
}

// Store is the runtime's state root (--root): a directory per container.
type Store struct {
	Root string
}

// Container is one container of a store.
type Container struct {
	ID     string
	Dir    string
	Record Record
}

var idPattern = regexp.MustCompile(`^[\w+\-.]+$`)

// CheckID refuses ids that cannot name a state directory.
func CheckID(id string) error {
	if id == "" {
		return errors.New("container id cannot be empty")
	}
	if !idPattern.MatchString(id) || id == "." || id == ".." || len(id) > 1024 {
		return fmt.Errorf("invalid container id %q", id)
	}
	return nil
}

// Dir is the state directory of container id.
func (s *Store) Dir(id string) string { return filepath.Join(s.Root, id) }

// Load reads a container's record.
func (s *Store) Load(id string) (*Container, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	dir := s.Dir(id)
	b, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("container %s: %w", id, ErrNotExist)
		}
		return nil, fmt.Errorf("container %s: %w", id, err)
	}
	c := &Container{ID: id, Dir: dir}
	if err := json.Unmarshal(b, &c.Record); err != nil {
		return nil, fmt.Errorf("container %s: state file: %w", id, err)
	}
	return c, nil
}

// List loads every container of the store, sorted by id.
func (s *Store) List() ([]*Container, error) {
	ents, err := os.ReadDir(s.Root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", s.Root, err)
	}
	var out []*Container
	for _, e := range ents {
		if !e.IsDir() || CheckID(e.Name()) != nil {
			continue
		}
		c, err := s.Load(e.Name())
		if err != nil {
			continue // being created or deleted
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Lock is an exclusive lock on a container's state directory, for the
// commands that change it.
type Lock struct{ f *os.File }

// lockDir takes the lock of the state directory dir.
func lockDir(dir string) (*Lock, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return &Lock{f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// LockContainer locks a container's state directory and reloads its
// record under the lock.
func (s *Store) LockContainer(id string) (*Container, *Lock, error) {
	if err := CheckID(id); err != nil {
		return nil, nil, err
	}
	l, err := lockDir(s.Dir(id))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("container %s: %w", id, ErrNotExist)
		}
		return nil, nil, err
	}
	c, err := s.Load(id)
	if err != nil {
		l.Unlock()
		return nil, nil, err
	}
	return c, l, nil
}

// save writes the record atomically.
func (c *Container) save() error {
	b, err := json.MarshalIndent(&c.Record, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(c.Dir, recordFile), b, 0o600)
}

// Status is the container's status now. A sandbox process that is gone
// (or a zombie, or a reused pid) is a stopped container; reading it never
// waits on the sandbox.
func (c *Container) Status() string {
	r := &c.Record
	if r.Pid == 0 {
		if r.Creator != 0 && processAlive(r.Creator, r.CreatorAt) {
			return Creating
		}
		return Stopped
	}
	if !processAlive(r.Pid, r.PidStart) {
		return Stopped
	}
	b, err := os.ReadFile(filepath.Join(c.Dir, statusFile))
	if err != nil {
		return Created
	}
	switch s := strings.TrimSpace(string(b)); s {
	case Created, Running, Paused, Stopped:
		return s
	}
	return Running
}

// State is the container's state JSON.
func (c *Container) State() State {
	st := c.Status()
	pid := c.Record.Pid
	if st == Stopped {
		pid = 0
	}
	return State{OCIVersion: c.Record.OCIVersion, ID: c.ID, Pid: pid, Status: st, Bundle: c.Record.Bundle,
		Rootfs: c.Record.Rootfs, Created: c.Record.Created, Annotations: c.Record.Annotations, Owner: c.Record.Owner}
}

// specState is the runtime-spec state handed to hooks.
func (c *Container) specState(status string) specs.State {
	pid := c.Record.Pid
	if status == Stopped {
		pid = 0
	}
	return specs.State{Version: specs.Version, ID: c.ID, Status: specs.ContainerState(status), Pid: pid,
		Bundle: c.Record.Bundle, Annotations: c.Record.Annotations}
}

// Spec is the configuration the container was created with.
func (c *Container) Spec() (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(c.Dir, specFile))
	if err != nil {
		return nil, fmt.Errorf("container %s: configuration: %w", c.ID, err)
	}
	return ParseSpec(b)
}

// setStatus writes the status file of a state directory.
func setStatus(dir, status string) error {
	return writeFileAtomic(filepath.Join(dir, statusFile), []byte(status+"\n"), 0o600)
}

// writeFileAtomic writes a file whole or not at all.
func writeFileAtomic(name string, data []byte, perm fs.FileMode) error {
	tmp := fmt.Sprintf("%s.%d.tmp", name, os.Getpid())
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writePidFile writes a pid file as runc does: whole, then renamed.
func writePidFile(name string, pid int) error {
	if name == "" {
		return nil
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	dir, base := filepath.Split(abs)
	tmp := filepath.Join(dir, "."+base+".tmp"+strconv.Itoa(os.Getpid()))
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// procStat reads a process's state letter and start time from
// /proc/pid/stat.
func procStat(pid int) (state byte, start uint64, utime, stime uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, 0, 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	// Fields after the name start at field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0, 0, 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	start, _ = strconv.ParseUint(f[19], 10, 64)
	utime, _ = strconv.ParseUint(f[11], 10, 64)
	stime, _ = strconv.ParseUint(f[12], 10, 64)
	return f[0][0], start, utime, stime, nil
}

// processStart is a process's start time (0 when it cannot be read).
func processStart(pid int) uint64 {
	_, st, _, _, err := procStat(pid)
	if err != nil {
		return 0
	}
	return st
}

// processAlive reports whether pid is a live (not zombie) process that
// started at start (0: any start).
func processAlive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	state, st, _, _, err := procStat(pid)
	if err != nil {
		return false
	}
	if state == 'Z' || state == 'X' {
		return false
	}
	return start == 0 || st == start
}
