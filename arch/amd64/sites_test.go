package amd64

import (
	"bytes"
	"encoding/binary"
	"testing"
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
		f, at, ok := MatchSite(c.code, c.nr)
		switch {
		case c.form == "" && ok:
			t.Errorf("%s: matched %s, want no match", c.name, f.Name)
		case c.form != "" && !ok:
			t.Errorf("%s: no match, want %s", c.name, c.form)
		case ok && (f.Name != c.form || len(c.code)-at != c.at):
			t.Errorf("%s: %s at -%d, want %s at -%d", c.name, f.Name, len(c.code)-at, c.form, c.at)
		}
	}
}

func TestThunkCode(t *testing.T) {
	site := []byte{0xb8, 0x27, 0, 0, 0, 0x0f, 0x05}
	f, at, ok := MatchSite(append([]byte{0x90, 0x90, 0x90}, site...), 0x27)
	if !ok || at != 3 {
		t.Fatalf("the mov form does not match (%v, %d)", ok, at)
	}
	code := f.Thunk(site, 0x40122d, 0x3fe000, 0x401234)
	if len(code) > ThunkSize {
		t.Fatalf("thunk is %d bytes, slots are %d", len(code), ThunkSize)
	}
	want := []byte{0xb8, 0x27, 0, 0, 0, 0x48, 0xb9, 0x34, 0x12, 0x40, 0, 0, 0, 0, 0, 0x49, 0xbb}
	if !bytes.HasPrefix(code, want) || !bytes.HasSuffix(code, []byte{0x41, 0xff, 0xe3}) {
		t.Fatalf("thunk % x", code)
	}
}

func TestSiteJmp(t *testing.T) {
	f := &siteForms[0] // the mov form keeps the syscall
	if j := f.Jmp(0x401000, 0x400000, 0x401007); len(j) != 5 || j[0] != 0xe9 || int32(binary.LittleEndian.Uint32(j[1:])) != -0x1005 {
		t.Errorf("mov form jmp % x", j)
	}
	for _, g := range siteForms {
		if g.Name == "glibc-read" { // the jmp takes the syscall's place: int3 over its last byte
			if j := g.Jmp(0x401000, 0x400000, 0x401006); len(j) != 6 || j[5] != 0xcc {
				t.Errorf("glibc read jmp % x", j)
			}
		}
	}
}

func TestXLClassify(t *testing.T) {
	start, end := XLCodeRange()
	if r, _, _ := XLClassify(start - 1); r != XLNone {
		t.Errorf("before the code: %v", r)
	}
	if r, _, _ := XLClassify(end); r != XLNone {
		t.Errorf("after the code: %v", r)
	}
	if r, fix, _ := XLClassify(start); r != XLBefore || fix != 0 {
		t.Errorf("at the entry: %v %d", r, fix)
	}
	// Every address of the code has a region, and the stack adjustments
	// are those of the red-zone steps.
	fixes := map[uint64]bool{}
	for rip := start; rip < end; rip++ {
		r, fix, _ := XLClassify(rip)
		if r == XLNone {
			t.Fatalf("%#x in the code has no region", rip)
		}
		fixes[fix] = true
	}
	if len(fixes) != 3 || !fixes[0] || !fixes[128] || !fixes[136] {
		t.Errorf("stack fixes %v, want 0, 128 and 136", fixes)
	}
}
