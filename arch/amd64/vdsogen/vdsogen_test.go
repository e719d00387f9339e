package vdsogen

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestCommittedVDSOIsCurrent fails when arch/amd64/zvdso.go is stale for
// the toolchain that built it.
func TestCommittedVDSOIsCurrent(t *testing.T) {
	want, err := os.ReadFile("../zvdso.go")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := Toolchain()
	if err != nil {
		t.Skipf("no gcc/ld to rebuild the vDSO: %v", err)
	}
	m := regexp.MustCompile(`const vdsoToolchain = "([^"]*)"`).FindSubmatch(want)
	if m == nil {
		t.Fatal("zvdso.go records no toolchain")
	}
	if string(m[1]) != tc {
		t.Skipf("zvdso.go was built by %q, this machine has %q: bytes not comparable", m[1], tc)
	}
	dir, _ := filepath.Abs("../vdso")
	got, err := Generate(dir, "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("arch/amd64/zvdso.go is stale: run `go generate ./arch/amd64`")
	}
}
