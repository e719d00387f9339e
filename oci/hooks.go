package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runHooks runs the hooks of one lifecycle point in order, each with the
// container's state JSON on its stdin, as the runtime-spec says. The
// first failure stops the list and is returned.
func runHooks(kind string, hooks []specs.Hook, st specs.State, log *slog.Logger) error {
	if len(hooks) == 0 {
		return nil
	}
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	for i, h := range hooks {
		if err := runHook(h, state); err != nil {
			return fmt.Errorf("%s hook #%d (%s): %w", kind, i, h.Path, err)
		}
		log.Debug("hook ran", "kind", kind, "index", i, "path", h.Path)
	}
	return nil
}

// runHooksWarn runs every hook of kind (poststart, poststop): one that
// fails is logged as a warning and the rest still run, as the
// runtime-spec asks for these.
func runHooksWarn(kind string, hooks []specs.Hook, st specs.State, log *slog.Logger) {
	for i := range hooks {
		if err := runHooks(kind, hooks[i:i+1], st, log); err != nil {
			log.Warn(kind+" hook failed", "index", i, "error", err)
		}
	}
}

func runHook(h specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}
