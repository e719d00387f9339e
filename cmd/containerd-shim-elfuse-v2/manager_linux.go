//go:build linux

// The shim manager: how containerd starts (`containerd-shim-elfuse-v2 start`), finds and cleans up
// (`delete`) a shim. Start follows containerd's runc shim manager
// (cmd/containerd-shim-runc-v2/manager/manager_linux.go, Apache-2.0, The containerd Authors),
// changed for elfuse: its own grouping label, no shim cgroup, and an OOM score adjustment that
// may fail with a permission error (no CAP_SYS_RESOURCE) without failing the start. Stop is runc's:
// it reads the runtime binary and root that Create recorded in the bundle (runtime, options.json).

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"syscall"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	runcmanager "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/version"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"github.com/containerd/typeurl/v2"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"google.golang.org/protobuf/proto"
	anypb "google.golang.org/protobuf/types/known/anypb"
)

// groupLabels put containers into one shim, first match wins: elfuse's own label, then the pod
// (sandbox) id CRI sets on every container of a pod.
var groupLabels = []string{
	"io.containerd.elfuse.v2.group",
	"io.kubernetes.cri.sandbox-id",
}

type manager struct {
	name string
	runc shim.Shim // Stop
}

func newManager(name string) shim.Shim {
	return &manager{name: name, runc: runcmanager.NewShimManager(name)}
}

func (m *manager) Name() string { return m.name }

func (m *manager) Stop(ctx context.Context, id string) (shim.StopStatus, error) {
	return m.runc.Stop(ctx, id)
}

func newCommand(ctx context.Context, id, containerdAddress string, debug bool) (*exec.Cmd, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	args := []string{"-namespace", ns, "-id", id, "-address", containerdAddress}
	if debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, args...)
	cmd.Dir = cwd
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, nil
}

// readAnnotations reads the annotations of config.json in the current directory (the bundle).
func readAnnotations() (map[string]string, error) {
	f, err := os.Open("config.json")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var s struct {
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	if err := json.NewDecoder(f).Decode(&s); err != nil {
		return nil, err
	}
	return s.Annotations, nil
}

type shimSocket struct {
	addr string
	s    *net.UnixListener
	f    *os.File
}

func (s *shimSocket) Close() {
	if s.s != nil {
		s.s.Close()
	}
	if s.f != nil {
		s.f.Close()
	}
	_ = shim.RemoveSocket(s.addr)
}

func newShimSocket(ctx context.Context, root, path, id string, debug bool) (*shimSocket, error) {
	address, err := shim.CreateSocketAddress(ctx, root, path, id, debug)
	if err != nil {
		return nil, err
	}
	socket, err := shim.NewSocket(address)
	if err != nil {
		// In use: either a shim of the same group already serves it (grouping), or a dead
		// shim's socket was left behind.
		if !shim.SocketEaddrinuse(err) {
			return nil, fmt.Errorf("create new shim socket: %w", err)
		}
		if !debug && shim.CanConnect(address) {
			return &shimSocket{addr: address}, errdefs.ErrAlreadyExists
		}
		if err := shim.RemoveSocket(address); err != nil {
			return nil, fmt.Errorf("remove pre-existing socket: %w", err)
		}
		if socket, err = shim.NewSocket(address); err != nil {
			return nil, fmt.Errorf("try create new shim socket 2x: %w", err)
		}
	}
	s := &shimSocket{addr: address, s: socket}
	f, err := socket.File()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.f = f
	return s, nil
}

func (m *manager) Start(ctx context.Context, opts *bootapi.BootstrapParams) (_ *bootapi.BootstrapResult, retErr error) {
	params := bootapi.BootstrapResult{Version: 3, Protocol: "ttrpc"}
	id := opts.GetInstanceID()
	debugLog := opts.GetLogLevel() <= bootapi.LogLevel_LOG_LEVEL_DEBUG

	cmd, err := newCommand(ctx, id, opts.GetContainerdGrpcAddress(), debugLog)
	if err != nil {
		return nil, err
	}
	grouping := id
	annotations, err := readAnnotations()
	if err != nil {
		return nil, err
	}
	for _, group := range groupLabels {
		if groupID, ok := annotations[group]; ok {
			grouping = groupID
			break
		}
	}

	var sockets []*shimSocket
	defer func() {
		if retErr != nil {
			for _, s := range sockets {
				s.Close()
			}
		}
	}()
	socketDir := opts.GetSocketDir()
	if socketDir == "" {
		socketDir = filepath.Join(defaults.DefaultStateDir, "s")
	}
	s, err := newShimSocket(ctx, socketDir, opts.GetContainerdGrpcAddress(), grouping, false)
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			params.Address = s.addr
			return &params, nil
		}
		return nil, err
	}
	sockets = append(sockets, s)
	cmd.ExtraFiles = append(cmd.ExtraFiles, s.f)
	if debugLog {
		s, err = newShimSocket(ctx, socketDir, opts.GetContainerdGrpcAddress(), grouping, true)
		if err != nil {
			return nil, err
		}
		sockets = append(sockets, s)
		cmd.ExtraFiles = append(cmd.ExtraFiles, s.f)
	}

	goruntime.LockOSThread()
	err = cmd.Start()
	goruntime.UnlockOSThread()
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			cmd.Process.Kill()
		}
	}()
	go cmd.Wait()

	if err := shim.AdjustOOMScore(cmd.Process.Pid); err != nil {
		if !errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("failed to adjust OOM score for shim: %w", err)
		}
		// EPERM/EACCES: no CAP_SYS_RESOURCE to go below the score's floor. The shim keeps the
		// score it inherited from containerd.
		log.G(ctx).WithError(err).Warn("elfuse: shim OOM score left as inherited")
	}
	params.Address = sockets[0].addr
	return &params, nil
}

// Info reports the runtime: its name, containerd's version and elfuse-runtime's features.
func (m *manager) Info(ctx context.Context, optionsR io.Reader) (*types.RuntimeInfo, error) {
	info := &types.RuntimeInfo{
		Name:    m.name,
		Version: &types.RuntimeVersion{Version: version.Version, Revision: version.Revision},
	}
	data, err := io.ReadAll(optionsR)
	if err != nil {
		return nil, fmt.Errorf("read runtime options: %w", err)
	}
	var opts *anypb.Any
	if len(data) > 0 {
		opts = &anypb.Any{}
		if err := proto.Unmarshal(data, opts); err != nil {
			return nil, fmt.Errorf("runtime options: %w", err)
		}
	}
	o, err := readOptions(opts)
	if err != nil {
		return nil, err
	}
	if info.Options, err = typeurl.MarshalAnyToProto(o.runc); err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, o.runc.BinaryName, "features")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		log.G(ctx).WithError(err).WithField("stderr", stderr.String()).Debug("elfuse: runtime features")
		return info, nil
	}
	var feat features.Features
	if err := json.Unmarshal(out, &feat); err != nil {
		return nil, fmt.Errorf("%s features: %w", o.runc.BinaryName, err)
	}
	if info.Features, err = typeurl.MarshalAnyToProto(&feat); err != nil {
		return nil, err
	}
	return info, nil
}
