//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/api/types/runc/options"
	runtimeoptions "github.com/containerd/containerd/api/types/runtimeoptions/v1"
	"github.com/containerd/typeurl/v2"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[any]int64{nil: 0, int64(4096): 4096, "1GiB": 1 << 30, "512M": 512 << 20, "64k": 64 << 10, "100": 100, " 2 GB": 2 << 30} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%v) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []any{"lots", "-1G", int64(-5), true} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%v): want an error", in)
		}
	}
}

func TestReadOptions(t *testing.T) {
	// No options: elfuse-runtime found beside the binary or on PATH, the default root.
	dir := t.TempDir()
	rt := filepath.Join(dir, runtimeBinary)
	if err := os.WriteFile(rt, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	o, err := readOptions(nil)
	if err != nil || o.runc.Root != defaultRoot || filepath.Base(o.runc.BinaryName) != runtimeBinary {
		t.Fatalf("readOptions(nil) = %+v, %v", o, err)
	}

	// CRI's generic options with the TOML options table.
	a, err := typeurl.MarshalAnyToProto(&runtimeoptions.Options{ConfigBody: []byte("BinaryName = \"/x/elfuse-runtime\"\nDebug = true\nGuestMemory = \"1GiB\"\nSystemdCgroup = true\n")})
	if err != nil {
		t.Fatal(err)
	}
	o, err = readOptions(a)
	if err != nil || o.runc.BinaryName != "/x/elfuse-runtime" || !o.debug || o.guestMemory != 1<<30 || o.runc.Root != defaultRoot {
		t.Fatalf("readOptions(CRI body) = %+v, %v", o, err)
	}

	// runc's options (ctr --runc-binary style) are kept.
	a, err = typeurl.MarshalAnyToProto(&options.Options{BinaryName: "/y/rt", Root: "/run/y"})
	if err != nil {
		t.Fatal(err)
	}
	o, err = readOptions(a)
	if err != nil || o.runc.BinaryName != "/y/rt" || o.runc.Root != "/run/y" {
		t.Fatalf("readOptions(runc) = %+v, %v", o, err)
	}
}

func TestApplyGuestMemory(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"ociVersion":"1.2.0","process":{"args":["sh"]},"linux":{"namespaces":[{"type":"pid"}],"big":12345678901234567}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := applyGuestMemory(dir, 1<<30); err != nil {
		t.Fatal(err)
	}
	if got := specMemoryLimit(dir); got != 1<<30 {
		t.Fatalf("limit %d after applyGuestMemory", got)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["ociVersion"] != "1.2.0" {
		t.Fatalf("config.json after: %s (%v)", b, err)
	}
	if !json.Valid(b) || !strings.Contains(string(b), "12345678901234567") {
		t.Fatalf("large number not kept: %s", b)
	}
	// A limit already there is left alone.
	if err := applyGuestMemory(dir, 2<<30); err != nil || specMemoryLimit(dir) != 1<<30 {
		t.Fatalf("second applyGuestMemory changed the limit: %d, %v", specMemoryLimit(dir), err)
	}
}

func TestReadProcUsage(t *testing.T) {
	u, err := readProcUsage(os.Getpid())
	if err != nil || u.rss == 0 || u.threads == 0 {
		t.Fatalf("readProcUsage(self) = %+v, %v", u, err)
	}
	if _, err := sandboxMetrics(os.Getpid(), t.TempDir(), 0, 3); err != nil {
		t.Fatal(err)
	}
}
