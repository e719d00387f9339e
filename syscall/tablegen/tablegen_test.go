package tablegen

import (
	"bytes"
	"os"
	"testing"
)

// TestCommittedTableIsCurrent fails when syscall/ztable_amd64.go is stale.
func TestCommittedTableIsCurrent(t *testing.T) {
	if err := os.Chdir(".."); err != nil {
		t.Fatal(err)
	}
	got, err := Generate("amd64.tbl", "syscall", "amd64Table")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("ztable_amd64.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("syscall/ztable_amd64.go is stale: run `go generate ./syscall`")
	}
}
