//go:build linux

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task"
	"github.com/containerd/containerd/v2/core/events"
	ptypes "github.com/containerd/containerd/v2/pkg/protobuf/types"
	"github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/log"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The task service: containerd's runc task service (process lifecycle, stdio, ptys, exec, events,
// exit reaping as the shim is the sandbox's subreaper) wrapped where elfuse differs.
func init() {
	registry.Register(&plugin.Registration{
		Type: plugins.TTRPCPlugin,
		ID:   "task",
		Requires: []plugin.Type{
			plugins.EventPlugin,
			plugins.InternalPlugin,
		},
		InitFn: func(ic *plugin.InitContext) (any, error) {
			pp, err := ic.GetByID(plugins.EventPlugin, "publisher")
			if err != nil {
				return nil, err
			}
			ss, err := ic.GetByID(plugins.InternalPlugin, "shutdown")
			if err != nil {
				return nil, err
			}
			sd := ss.(shutdown.Service)
			pub := &flushingPublisher{Publisher: pp.(shim.Publisher)}
			sd.RegisterCallback(pub.flush)
			inner, err := task.NewTaskService(ic.Context, pub, sd)
			if err != nil {
				return nil, err
			}
			return &service{TTRPCTaskService: inner, limits: map[string]uint64{}}, nil
		},
	})
}

// flushingPublisher lets the events of the last calls reach containerd before the shim exits. The
// runc task service queues events (TaskDelete, the last TaskExit) and forwards them from a goroutine;
// after containerd's Shutdown call the shim's main returns once the shutdown callbacks ran, which
// can be before that goroutine published them (runc's shim then loses its TaskDelete now and then).
// flush, a shutdown callback, waits until no publish is in flight and none started for a moment.
type flushingPublisher struct {
	shim.Publisher
	mu       sync.Mutex
	inflight int
	last     time.Time
}

func (p *flushingPublisher) Publish(ctx context.Context, topic string, event events.Event) error {
	p.mu.Lock()
	p.inflight++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inflight--
		p.last = time.Now()
		p.mu.Unlock()
	}()
	return p.Publisher.Publish(ctx, topic, event)
}

func (p *flushingPublisher) flush(ctx context.Context) error {
	const quiet, limit = 50 * time.Millisecond, 2 * time.Second
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		p.mu.Lock()
		idle := p.inflight == 0 && time.Since(p.last) >= quiet
		p.mu.Unlock()
		if idle {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

type service struct {
	taskAPI.TTRPCTaskService

	mu     sync.Mutex
	limits map[string]uint64 // memory limits set by Update, by container id
}

var _ shim.TTRPCService = (*service)(nil)

// RegisterTTRPC serves the wrapper, not the inner service, on the shim's ttrpc server, under the
// task API's v3 name and, for containerd 1.x, its v2 name.
func (s *service) RegisterTTRPC(server *ttrpc.Server) error {
	taskAPI.RegisterTTRPCTaskService(server, s)
	registerTaskV2(server, s) // containerd 1.x (compat_linux.go)
	return nil
}

// Create fills in elfuse-runtime as the runtime binary (and its root) in the options the runc
// task service reads, and applies the shim-only options, before creating the task as runc's shim
// does: rootfs mounts at <bundle>/rootfs, `elfuse-runtime create --bundle --pid-file
// [--console-socket]`, stdio FIFOs or log URIs.
func (s *service) Create(ctx context.Context, r *taskAPI.CreateTaskRequest) (*taskAPI.CreateTaskResponse, error) {
	if r.Checkpoint != "" || r.ParentCheckpoint != "" {
		return nil, errgrpc.ToGRPCf(errdefs.ErrNotImplemented, "elfuse: restoring a checkpoint is not supported")
	}
	o, err := readOptions(r.Options)
	if err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "elfuse: %v", err)
	}
	if o.debug {
		_ = log.SetLevel("debug")
	}
	if o.guestMemory > 0 {
		if err := applyGuestMemory(r.Bundle, o.guestMemory); err != nil {
			return nil, errgrpc.ToGRPCf(errdefs.ErrInvalidArgument, "elfuse: guest memory: %v", err)
		}
	}
	if r.Options, err = typeurl.MarshalAnyToProto(o.runc); err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	log.G(ctx).WithField("id", r.ID).WithField("runtime", o.runc.BinaryName).WithField("root", o.runc.Root).
		WithField("terminal", r.Terminal).Debug("elfuse: create")
	return s.TTRPCTaskService.Create(ctx, r)
}

// Checkpoint is not supported: there is no CRIU for a kernel-less sandbox, and elfuse has no
// snapshot of its own yet.
func (s *service) Checkpoint(ctx context.Context, r *taskAPI.CheckpointTaskRequest) (*ptypes.Empty, error) {
	return nil, errgrpc.ToGRPCf(errdefs.ErrNotImplemented, "elfuse: checkpoint of task %s is not supported (no checkpoint/restore in elfuse)", r.ID)
}

// Update passes the resources to the runtime (`elfuse-runtime update`) and remembers a new memory
// limit for Stats, since the bundle's config.json keeps the one of create.
func (s *service) Update(ctx context.Context, r *taskAPI.UpdateTaskRequest) (*ptypes.Empty, error) {
	res, err := s.TTRPCTaskService.Update(ctx, r)
	if err != nil || r.Resources == nil {
		return res, err
	}
	// The resources are runtime-spec JSON, as the runc task service reads them.
	var lr specs.LinuxResources
	if json.Unmarshal(r.Resources.GetValue(), &lr) == nil && lr.Memory != nil && lr.Memory.Limit != nil && *lr.Memory.Limit > 0 {
		s.mu.Lock()
		s.limits[r.ID] = uint64(*lr.Memory.Limit)
		s.mu.Unlock()
	}
	return res, nil
}

// Delete forgets what Update remembered of the container.
func (s *service) Delete(ctx context.Context, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	res, err := s.TTRPCTaskService.Delete(ctx, r)
	if err == nil && r.ExecID == "" {
		s.mu.Lock()
		delete(s.limits, r.ID)
		s.mu.Unlock()
	}
	return res, err
}

// Stats reports the sandbox process's CPU and memory (stats_linux.go) instead of a cgroup's.
func (s *service) Stats(ctx context.Context, r *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error) {
	st, err := s.TTRPCTaskService.State(ctx, &taskAPI.StateRequest{ID: r.ID})
	if err != nil {
		return nil, err
	}
	if st.Pid == 0 {
		return nil, errgrpc.ToGRPCf(errdefs.ErrFailedPrecondition, "elfuse: task %s has no sandbox process", r.ID)
	}
	nprocs := -1
	if ps, err := s.TTRPCTaskService.Pids(ctx, &taskAPI.PidsRequest{ID: r.ID}); err == nil {
		nprocs = len(ps.Processes)
	}
	s.mu.Lock()
	limit := s.limits[r.ID]
	s.mu.Unlock()
	m, err := sandboxMetrics(int(st.Pid), st.Bundle, limit, nprocs)
	if err != nil {
		return nil, errgrpc.ToGRPCf(errdefs.ErrNotFound, "elfuse: stats of task %s (sandbox pid %d): %v", r.ID, st.Pid, err)
	}
	data, err := typeurl.MarshalAnyToProto(m)
	if err != nil {
		return nil, fmt.Errorf("elfuse: stats: %w", err)
	}
	return &taskAPI.StatsResponse{Stats: data}, nil
}
