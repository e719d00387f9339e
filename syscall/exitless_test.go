//go:build linux && amd64

package syscall

import (
	"bytes"
	"testing"
)

func TestParseSyscallMode(t *testing.T) {
	for _, s := range []string{"exit", "exitless", "auto", ""} {
		m, err := ParseSyscallMode(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if want := map[string]string{"": "auto"}[s]; want != "" && m.String() != want || want == "" && m.String() != s {
			t.Errorf("%q reads as %v", s, m)
		}
	}
	if _, err := ParseSyscallMode("fast"); err == nil {
		t.Error("a bad mode is accepted")
	}
}

func TestOriginalBytes(t *testing.T) {
	xs := newXLSpace(nil)
	xs.sites[0x1005] = xlSite{orig: []byte{0xb8, 0x27, 0, 0, 0}, patch: []byte{0xe9, 1, 2, 3, 4}}
	buf := []byte{0x90, 0x90, 0xe9, 1, 2, 3, 4, 0x0f}
	xs.original(0x1003, buf)
	if want := []byte{0x90, 0x90, 0xb8, 0x27, 0, 0, 0, 0x0f}; !bytes.Equal(buf, want) {
		t.Fatalf("% x, want % x", buf, want)
	}
	tail := []byte{2, 3, 4, 0x0f, 0x05}
	xs.original(0x1007, tail)
	if want := []byte{0, 0, 0, 0x0f, 0x05}; !bytes.Equal(tail, want) {
		t.Fatalf("% x, want % x", tail, want)
	}
}
