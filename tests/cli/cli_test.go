// Package cli tests the elfuse command line as a user meets it: bad input
// gets one clear line on stderr and exit status 1, and leaves nothing behind.
package cli

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/elfuse/elfuse/tests/diff"
)

func elfuse(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(diff.ElfuseBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// hello builds a static program to corrupt.
func hello(t *testing.T) []byte {
	dir := t.TempDir()
	src := filepath.Join(dir, "h.c")
	os.WriteFile(src, []byte("int main(){return 0;}\n"), 0o644)
	out := filepath.Join(dir, "h")
	if b, err := exec.Command("gcc", "-static", "-O1", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// phdr returns the offset of program header i.
func phdr(b []byte, i int) int { return int(binary.LittleEndian.Uint64(b[32:])) + 56*i }

func firstLoad(b []byte) int {
	for i := 0; i < int(binary.LittleEndian.Uint16(b[56:])); i++ {
		if binary.LittleEndian.Uint32(b[phdr(b, i):]) == 1 {
			return i
		}
	}
	return -1
}

func TestBadInput(t *testing.T) {
	diff.RequireKVM(t)
	good := hello(t)
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	le := binary.LittleEndian
	cases := []struct {
		name string
		data []byte // nil: path given as is
		path string
		want string // in the error line
	}{
		{name: "missing file", path: "/nonexistent/prog", want: "no such file"},
		{name: "directory", path: "/tmp", want: "is a directory"},
		{name: "not an ELF", data: []byte("hello\n"), want: "not an ELF"},
		{name: "script with a missing interpreter", data: []byte("#!/nonexistent/interp -x\n"), want: "no such file"},
		{name: "script without an interpreter", data: []byte("#!  \n"), want: "exec format error"},
		{name: "empty file", data: []byte{}, want: "not an ELF"},
		{name: "32-bit", data: mutate(func(b []byte) []byte { b[4] = 1; return b }), want: "32-bit"},
		{name: "big-endian", data: mutate(func(b []byte) []byte { b[5] = 2; return b }), want: "big-endian"},
		{name: "other machine", data: mutate(func(b []byte) []byte { le.PutUint16(b[18:], 40); return b }), want: "machine"},
		{name: "arm64 without translator", data: mutate(func(b []byte) []byte { le.PutUint16(b[18:], 183); return b }), want: "translator"},
		{name: "truncated header", data: good[:40], want: "truncated"},
		{name: "truncated program headers", data: good[:100], want: "outside"},
		{name: "no program headers", data: mutate(func(b []byte) []byte { le.PutUint16(b[56:], 0); return b }), want: "program header count"},
		{name: "absurd program header count", data: mutate(func(b []byte) []byte { le.PutUint16(b[56:], 60000); return b }), want: "program header count"},
		{name: "segment outside file", data: mutate(func(b []byte) []byte {
			p := phdr(b, firstLoad(b))
			le.PutUint64(b[p+8:], 1<<40)
			return b
		}), want: "outside the"},
		{name: "file size above memory size", data: mutate(func(b []byte) []byte {
			p := phdr(b, firstLoad(b))
			le.PutUint64(b[p+40:], le.Uint64(b[p+32:])-1)
			return b
		}), want: "exceeds memory size"},
		{name: "segment in kernel space", data: mutate(func(b []byte) []byte {
			p := phdr(b, firstLoad(b))
			le.PutUint64(b[p+16:], 0xffff800000000000)
			return b
		}), want: "outside user space"},
		{name: "bad entry point", data: mutate(func(b []byte) []byte { le.PutUint64(b[24:], 0x10); return b }), want: "entry point"},
		{name: "not an executable", data: mutate(func(b []byte) []byte { le.PutUint16(b[16:], 1); return b }), want: "not an executable"},
		{name: "missing interpreter", data: mutate(func(b []byte) []byte {
			// Turn the first non-load header into a PT_INTERP naming a missing file.
			name := "/nonexistent/ld.so\x00"
			off := len(b)
			b = append(b, name...)
			for i := 0; i < int(le.Uint16(b[56:])); i++ {
				p := phdr(b, i)
				if typ := le.Uint32(b[p:]); typ != 1 {
					le.PutUint32(b[p:], 3)
					le.PutUint64(b[p+8:], uint64(off))
					le.PutUint64(b[p+32:], uint64(len(name)))
					return b
				}
			}
			t.Fatal("no header to reuse")
			return b
		}), want: "interpreter /nonexistent/ld.so"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmp := t.TempDir()
			path := c.path
			if c.data != nil {
				path = filepath.Join(tmp, "prog")
				if err := os.WriteFile(path, c.data, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			work := t.TempDir()
			stdout, stderr, code := elfuse(t, []string{"TMPDIR=" + work}, path)
			if code != 1 {
				t.Errorf("exit status %d, want 1 (stderr %q)", code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "elfuse: ") || !strings.Contains(lines[0], c.want) {
				t.Errorf("stderr %q: want one line starting \"elfuse: \" containing %q", stderr, c.want)
			}
			if left, _ := os.ReadDir(work); len(left) > 0 {
				t.Errorf("left behind in TMPDIR: %v", left)
			}
		})
	}
}

func TestNoKVM(t *testing.T) {
	good := hello(t)
	path := filepath.Join(t.TempDir(), "prog")
	os.WriteFile(path, good, 0o755)
	_, stderr, code := elfuse(t, []string{"ELFUSE_KVM_DEVICE=/nonexistent/kvm"}, path)
	if code != 1 || !strings.Contains(stderr, "/dev/kvm") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("without KVM: status %d, stderr %q", code, stderr)
	}
}

func TestExitStatusAndArgs(t *testing.T) {
	diff.RequireKVM(t)
	stdout, _, code := elfuse(t, nil, "--", "/bin/busybox", "sh", "-c", "echo $0 $1; exit 7", "-x", "--y")
	if code != 7 || stdout != "-x --y\n" {
		t.Errorf("got status %d stdout %q", code, stdout)
	}
	// Death by a signal is 128+N.
	_, _, code = elfuse(t, nil, "/bin/busybox", "sh", "-c", "kill -SEGV $$")
	if code != 128+11 {
		t.Errorf("killed by SIGSEGV: status %d, want 139", code)
	}
	out, _, code := elfuse(t, nil, "-V")
	if code != 0 || !strings.Contains(out, "elfuse") {
		t.Errorf("-V: %d %q", code, out)
	}
}

func TestVerboseTrace(t *testing.T) {
	diff.RequireKVM(t)
	_, stderr, code := elfuse(t, nil, "-v", "/bin/busybox", "true")
	if code != 0 {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{"exit_group(", "VM exits"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("trace lacks %q:\n%s", want, stderr)
		}
	}
}

// TestScriptEntry: a "#!" script given as the program runs under its
// interpreter, as execve runs one (nested up to Linux's depth).
func TestScriptEntry(t *testing.T) {
	diff.RequireKVM(t)
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("no busybox on the host")
	}
	dir := t.TempDir()
	inner := filepath.Join(dir, "inner")
	os.WriteFile(inner, []byte("#!"+bb+" sh\necho \"$0|$1|$2\"\nexit 7\n"), 0o755)
	outer := filepath.Join(dir, "outer")
	os.WriteFile(outer, []byte("#!"+inner+"\n"), 0o755)
	out, errs, code := elfuse(t, nil, "--", inner, "a b", "c")
	if code != 7 || out != inner+"|a b|c\n" {
		t.Errorf("script: exit %d, %q %q", code, out, errs)
	}
	// A script as the interpreter of another: Linux runs inner with outer
	// as its argument.
	out, errs, code = elfuse(t, nil, "--", outer, "x")
	if code != 7 || out != inner+"|"+outer+"|x\n" {
		t.Errorf("nested script: exit %d, %q %q", code, out, errs)
	}
}
