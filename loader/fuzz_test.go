package loader

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the ELF parser: it must return a File
// or an error, never panic, and a File it returns must be self-consistent.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.elf")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err == nil {
			f.Add(b)
		}
	}
	if b, err := os.ReadFile("/bin/true"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("\x7fELF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ef, err := Parse(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		for _, s := range ef.Segments {
			if s.Offset+s.Filesz > uint64(len(b)) || s.Filesz > s.Memsz {
				t.Fatalf("accepted bad segment %+v", s)
			}
		}
	})
}
