package stubgen

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// TestCommittedStubIsCurrent fails when arch/amd64/zstub.go is stale.
func TestCommittedStubIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("as"); err != nil {
		t.Skip("GNU as (binutils) not installed: cannot regenerate the stub")
	}
	got, err := Generate("../stub.S", "amd64")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../zstub.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("arch/amd64/zstub.go is stale: run `go generate ./arch/amd64`")
	}
}
