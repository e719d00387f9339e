//go:build linux

// containerd 1.x (Debian's 1.6 here) speaks the older shim protocol: `start` gets no bootstrap
// parameters on stdin and reads the socket address as plain text from the shim's output, and the
// task service is called as containerd.task.v2.Task. containerd v2's shim library only speaks the
// new protocol (bootstrap parameters, containerd.task.v3.Task), so this file adds the old one: a
// `start` without bootstrap parameters is handled here, and the task service is also served under
// its v2 name (the v2 and v3 messages are the same on the wire; each call is re-decoded).

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	taskv2 "github.com/containerd/containerd/api/runtime/task/v2"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
)

// legacyStart handles `start` from containerd 1.x and exits; any other invocation returns, with
// stdin as it was, to the shim library.
func legacyStart() {
	fs := flag.NewFlagSet(os.Args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var (
		debug                                   bool
		namespace, id, address, socket, dsocket string
		bundle, publish                         string
		version, info                           bool
	)
	// The shim library's flags (pkg/shim parseFlags).
	fs.BoolVar(&debug, "debug", false, "")
	fs.BoolVar(&version, "v", false, "")
	fs.BoolVar(&version, "version", false, "")
	fs.BoolVar(&info, "info", false, "")
	fs.StringVar(&namespace, "namespace", "", "")
	fs.StringVar(&id, "id", "", "")
	fs.StringVar(&socket, "socket", "", "")
	fs.StringVar(&dsocket, "debug-socket", "", "")
	fs.StringVar(&bundle, "bundle", "", "")
	fs.StringVar(&address, "address", "", "")
	fs.StringVar(&publish, "publish-binary", "", "")
	if fs.Parse(os.Args[1:]) != nil || fs.Arg(0) != "start" || version || info {
		return
	}
	input, err := io.ReadAll(io.LimitReader(os.Stdin, 10<<20))
	if err != nil {
		fmt.Fprintln(os.Stderr, "containerd-shim-elfuse-v2: read stdin:", err)
		os.Exit(1)
	}
	var params bootapi.BootstrapParams
	if len(input) > 0 && proto.Unmarshal(input, &params) == nil && params.InstanceID == id && params.Namespace == namespace {
		// The new protocol: hand stdin back to the shim library.
		r, w, err := os.Pipe()
		if err == nil {
			go func() { w.Write(input); w.Close() }()
			os.Stdin = r
			return
		}
		fmt.Fprintln(os.Stderr, "containerd-shim-elfuse-v2: pipe:", err)
		os.Exit(1)
	}
	// containerd 1.x: its `start` reads this process's combined output as the address, so
	// nothing else may be printed on success.
	ctx := namespaces.WithNamespace(context.Background(), namespace)
	p := &bootapi.BootstrapParams{
		InstanceID:             id,
		Namespace:              namespace,
		ContainerdGrpcAddress:  address,
		ContainerdTtrpcAddress: os.Getenv("TTRPC_ADDRESS"),
		LogLevel:               bootapi.LogLevel_LOG_LEVEL_INFO,
	}
	if debug {
		p.LogLevel = bootapi.LogLevel_LOG_LEVEL_DEBUG
	}
	res, err := newManager(runtimeType).Start(ctx, p)
	if err != nil {
		fmt.Fprintln(os.Stderr, "containerd-shim-elfuse-v2: start:", err)
		os.Exit(1)
	}
	fmt.Fprint(os.Stdout, res.Address)
	os.Exit(0)
}

// taskV2 serves containerd.task.v2.Task by the v3 service.
type taskV2 struct{ s taskAPI.TTRPCTaskService }

func registerTaskV2(server *ttrpc.Server, s taskAPI.TTRPCTaskService) {
	taskv2.RegisterTTRPCTaskService(server, &taskV2{s})
}

// conv re-decodes a message as its twin of the other API version.
func conv[T proto.Message](from proto.Message, to T) (T, error) {
	b, err := proto.Marshal(from)
	if err != nil {
		return to, err
	}
	return to, proto.Unmarshal(b, to)
}

// call converts the request, calls the v3 method and converts the response back.
func call[Q2, Q3, R3, R2 proto.Message](ctx context.Context, req Q2, q3 Q3, r2 R2, f func(context.Context, Q3) (R3, error)) (R2, error) {
	q, err := conv(req, q3)
	if err != nil {
		return r2, err
	}
	r, err := f(ctx, q)
	if err != nil {
		return r2, err
	}
	return conv(r, r2)
}

func (t *taskV2) State(ctx context.Context, r *taskv2.StateRequest) (*taskv2.StateResponse, error) {
	return call(ctx, r, &taskAPI.StateRequest{}, &taskv2.StateResponse{}, t.s.State)
}
func (t *taskV2) Create(ctx context.Context, r *taskv2.CreateTaskRequest) (*taskv2.CreateTaskResponse, error) {
	return call(ctx, r, &taskAPI.CreateTaskRequest{}, &taskv2.CreateTaskResponse{}, t.s.Create)
}
func (t *taskV2) Start(ctx context.Context, r *taskv2.StartRequest) (*taskv2.StartResponse, error) {
	return call(ctx, r, &taskAPI.StartRequest{}, &taskv2.StartResponse{}, t.s.Start)
}
func (t *taskV2) Delete(ctx context.Context, r *taskv2.DeleteRequest) (*taskv2.DeleteResponse, error) {
	return call(ctx, r, &taskAPI.DeleteRequest{}, &taskv2.DeleteResponse{}, t.s.Delete)
}
func (t *taskV2) Pids(ctx context.Context, r *taskv2.PidsRequest) (*taskv2.PidsResponse, error) {
	return call(ctx, r, &taskAPI.PidsRequest{}, &taskv2.PidsResponse{}, t.s.Pids)
}
func (t *taskV2) Pause(ctx context.Context, r *taskv2.PauseRequest) (*emptypb.Empty, error) {
	return call(ctx, r, &taskAPI.PauseRequest{}, &emptypb.Empty{}, t.s.Pause)
}
func (t *taskV2) Resume(ctx context.Context, r *taskv2.ResumeRequest) (*emptypb.Empty, error) {
	return call(ctx, r, &taskAPI.ResumeRequest{}, &emptypb.Empty{}, t.s.Resume)
}
func (t *taskV2) Checkpoint(ctx context.Context, r *taskv2.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return call(ctx, r, &taskAPI.CheckpointTaskRequest{}, &emptypb.Empty{}, t.s.Checkpoint)
}
func (t *taskV2) Kill(ctx context.Context, r *taskv2.KillRequest) (*emptypb.Empty, error) {
	return call(ctx, r, &taskAPI.KillRequest{}, &emptypb.Empty{}, t.s.Kill)
}
func (t *taskV2) Exec(ctx context.Context, r *taskv2.ExecProcessRequest) (*emptypb.Empty, error) {
	return call(ctx, r, &taskAPI.ExecProcessRequest{}, &emptypb.Empty{}, t.s.Exec)
}
func (t *taskV2) ResizePty(ctx context.Context, r *taskv2.ResizePtyRequest) (*emptypb.Empty, error) {
	return call(ctx, r, &taskAPI.ResizePtyRequest{}, &emptypb.Empty{}, t.s.ResizePty)
}
func (t *taskV2) CloseIO(ctx context.Context, r *taskv2.CloseIORequest) (*emptypb.Empty, error) {
	return call(ctx, r, &taskAPI.CloseIORequest{}, &emptypb.Empty{}, t.s.CloseIO)
}
func (t *taskV2) Update(ctx context.Context, r *taskv2.UpdateTaskRequest) (*emptypb.Empty, error) {
	return call(ctx, r, &taskAPI.UpdateTaskRequest{}, &emptypb.Empty{}, t.s.Update)
}
func (t *taskV2) Wait(ctx context.Context, r *taskv2.WaitRequest) (*taskv2.WaitResponse, error) {
	return call(ctx, r, &taskAPI.WaitRequest{}, &taskv2.WaitResponse{}, t.s.Wait)
}
func (t *taskV2) Stats(ctx context.Context, r *taskv2.StatsRequest) (*taskv2.StatsResponse, error) {
	return call(ctx, r, &taskAPI.StatsRequest{}, &taskv2.StatsResponse{}, t.s.Stats)
}
func (t *taskV2) Connect(ctx context.Context, r *taskv2.ConnectRequest) (*taskv2.ConnectResponse, error) {
	return call(ctx, r, &taskAPI.ConnectRequest{}, &taskv2.ConnectResponse{}, t.s.Connect)
}
func (t *taskV2) Shutdown(ctx context.Context, r *taskv2.ShutdownRequest) (*emptypb.Empty, error) {
	return call(ctx, r, &taskAPI.ShutdownRequest{}, &emptypb.Empty{}, t.s.Shutdown)
}
