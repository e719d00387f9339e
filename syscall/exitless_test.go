//go:build linux && amd64

package syscall

import (
	"bytes"
	"testing"

	"github.com/elfuse/elfuse/arch/amd64"
)

func TestMatchSite(t *testing.T) {
	pad := []byte{0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90}
	cat := func(b ...[]byte) []byte { return bytes.Join(b, nil) }
	cases := []struct {
		name string
		code []byte
		nr   uint64
		form string // "" for no match
		at   int    // offset from the end of the replaced bytes
	}{
		{"glibc mov eax", cat(pad, []byte{0x31, 0xd2, 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05}), 0x27, "mov-eax", 7},
		{"after a je", cat(pad, []byte{0x74, 0x17, 0xb8, 0x01, 0, 0, 0, 0x0f, 0x05}), 1, "mov-eax", 7},
		{"after pop", cat(pad, []byte{0x5b, 0xb8, 0x01, 0, 0, 0, 0x0f, 0x05}), 1, "mov-eax", 7},
		{"number differs", cat(pad, []byte{0x31, 0xd2, 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05}), 0x28, "", 0},
		{"rex before b8 (mov r8d)", cat(pad, []byte{0x41, 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05}), 0x27, "", 0},
		{"b8 is a disp8", cat(pad, []byte{0xc7, 0x44, 0x24, 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05}), 0x27, "", 0},
		{"b8 is a disp8 (rbp)", cat(pad, []byte{0x81, 0x7d, 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05}), 0x27, "", 0},
		{"operand-size prefix", cat(pad, []byte{0x66, 0xb8, 0x27, 0, 0, 0, 0x0f, 0x05}), 0x27, "", 0},
		{"go mov rax", cat(pad, []byte{0x48, 0xc7, 0xc0, 0xe4, 0, 0, 0, 0x0f, 0x05}), 0xe4, "mov-rax", 9},
		{"glibc syscall()", cat(pad, []byte{0x4d, 0x89, 0xc8, 0x4c, 0x8b, 0x4c, 0x24, 0x08, 0x0f, 0x05}), 110, "glibc-syscall", 7},
		{"go Syscall6", cat(pad, []byte{0x49, 0x89, 0xf2, 0x48, 0x89, 0xfa, 0x48, 0x89, 0xce, 0x48, 0x89, 0xdf, 0x0f, 0x05}), 0, "go-syscall6", 5},
		{"glibc read", cat(pad, []byte{0x80, 0x3d, 0x61, 0xe8, 0x06, 0x00, 0x00, 0x74, 0x17, 0x31, 0xc0, 0x0f, 0x05}), 0, "glibc-read", 6},
		{"xor eax alone", cat(pad, []byte{0x90, 0x31, 0xc0, 0x0f, 0x05}), 0, "", 0},
		{"register form unknown", cat(pad, []byte{0x48, 0x89, 0xf8, 0x0f, 0x05}), 39, "", 0},
		{"too short", []byte{0xb8, 0x27, 0, 0, 0, 0x0f, 0x05}, 0x27, "", 0},
	}
	for _, c := range cases {
		f, at, ok := matchSite(c.code, c.nr)
		switch {
		case c.form == "" && ok:
			t.Errorf("%s: matched %s, want no match", c.name, f.name)
		case c.form != "" && !ok:
			t.Errorf("%s: no match, want %s", c.name, c.form)
		case ok && (f.name != c.form || len(c.code)-at != c.at):
			t.Errorf("%s: %s at -%d, want %s at -%d", c.name, f.name, len(c.code)-at, c.form, c.at)
		}
	}
}

func TestThunkCode(t *testing.T) {
	code := thunkCode([]byte{0xb8, 0x27, 0, 0, 0}, 0x401234)
	if len(code) > thunkSize {
		t.Fatalf("thunk is %d bytes, slots are %d", len(code), thunkSize)
	}
	want := []byte{0xb8, 0x27, 0, 0, 0, 0x48, 0xb9, 0x34, 0x12, 0x40, 0, 0, 0, 0, 0, 0x49, 0xbb}
	if !bytes.HasPrefix(code, want) || !bytes.HasSuffix(code, []byte{0x41, 0xff, 0xe3}) {
		t.Fatalf("thunk % x", code)
	}
}

func TestXLClassify(t *testing.T) {
	start, end := amd64.XLCodeRange()
	if r, _, _ := amd64.XLClassify(start - 1); r != amd64.XLNone {
		t.Errorf("before the code: %v", r)
	}
	if r, _, _ := amd64.XLClassify(end); r != amd64.XLNone {
		t.Errorf("after the code: %v", r)
	}
	if r, fix, _ := amd64.XLClassify(start); r != amd64.XLBefore || fix != 0 {
		t.Errorf("at the entry: %v %d", r, fix)
	}
	// Every address of the code has a region, and the stack adjustments
	// are those of the red-zone steps.
	fixes := map[uint64]bool{}
	for rip := start; rip < end; rip++ {
		r, fix, _ := amd64.XLClassify(rip)
		if r == amd64.XLNone {
			t.Fatalf("%#x in the code has no region", rip)
		}
		fixes[fix] = true
	}
	if len(fixes) != 3 || !fixes[0] || !fixes[128] || !fixes[136] {
		t.Errorf("stack fixes %v, want 0, 128 and 136", fixes)
	}
}

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
