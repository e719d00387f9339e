//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// registry is a Debian docker-registry serving on a free 127.0.0.1 port from temporary storage.
type registry struct {
	host   string // 127.0.0.1:port
	cmd    *exec.Cmd
	exited chan error
	logs   *lockedBuffer
}

// lockedBuffer collects the registry's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startRegistry starts bin (docker-registry) with its config and storage under dir, listening on
// 127.0.0.1 only, and waits until its API answers.
func startRegistry(bin, dir string) (*registry, error) {
	storage := filepath.Join(dir, "storage")
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return nil, fmt.Errorf("registry storage: %w", err)
	}
	var lastErr error
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		host := l.Addr().String()
		l.Close()
		// No auth, no debug listener, no access log: only the API on loopback.
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`, storage, host)
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			return nil, fmt.Errorf("registry config: %w", err)
		}
		r := &registry{host: host, exited: make(chan error, 1), logs: &lockedBuffer{}}
		r.cmd = exec.Command(bin, "serve", cfgPath)
		// REGISTRY_* variables would override the config (the listen address among them).
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "REGISTRY_") {
				r.cmd.Env = append(r.cmd.Env, kv)
			}
		}
		r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
		if err := r.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start docker-registry: %w", err)
		}
		go func() { r.exited <- r.cmd.Wait() }()
		if lastErr = r.waitReady(); lastErr == nil {
			return r, nil
		}
		r.stop()
		lastErr = fmt.Errorf("%w: %s", lastErr, lastLine(r.logs.String()))
	}
	return nil, lastErr
}

// waitReady polls the API base until it answers 200.
func (r *registry) waitReady() error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-r.exited:
			r.exited <- err
			return fmt.Errorf("docker-registry exited at start: %v", err)
		default:
		}
		resp, err := client.Get("http://" + r.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("docker-registry did not answer on " + r.host + " within 15 s")
}

// stop ends the registry: SIGTERM, then SIGKILL after 5 s.
func (r *registry) stop() {
	select {
	case err := <-r.exited:
		r.exited <- err
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.exited:
		r.exited <- err
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		r.exited <- <-r.exited
	}
}

// registryVersion returns docker-registry's version line.
func registryVersion(ctx context.Context, bin string) string {
	return toolVersion(ctx, bin, "--version")
}

// toolVersion runs argv and returns the last word of the first line it prints (the version
// number, for the tools here), or "" when it fails.
func toolVersion(ctx context.Context, argv ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if f := strings.Fields(line); len(f) > 0 {
		return f[len(f)-1]
	}
	return ""
}
