// Package loopback checks TCP and UDP over loopback between a guest program
// running under elfuse and a process on the host, in both directions
// (issue 4): the guest (./guest, a static Go program) as client of a host
// listener, and as server for a host client, over IPv4 and IPv6.
package loopback

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elfuse/elfuse/tests/diff"
)

const tcpSize = 4 << 20 // bytes the TCP tests echo

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func reply(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return r
}

var (
	buildOnce sync.Once
	guestBin  string
	buildErr  error
)

// guest builds ./guest statically (CGO_ENABLED=0) once per test run.
func guest(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "elfuse-loopback")
		if err != nil {
			buildErr = err
			return
		}
		guestBin = filepath.Join(dir, "guest")
		cmd := exec.Command("go", "build", "-o", guestBin, "./guest")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			guestBin = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the guest: %v\n%s", buildErr, guestBin)
	}
	return guestBin
}

// start runs the guest under elfuse (bounded by timeout -s KILL).
func start(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader, *bytes.Buffer) {
	t.Helper()
	diff.RequireKVM(t)
	elfuse := diff.ElfuseBin(t)
	g := guest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "timeout", append([]string{"-s", "KILL", "90", elfuse, "--", g}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, bufio.NewReader(out), &stderr
}

// finish waits for the guest and checks it printed want and exited 0.
func finish(t *testing.T, cmd *exec.Cmd, out *bufio.Reader, stderr *bytes.Buffer, want string) {
	t.Helper()
	rest, _ := io.ReadAll(out)
	err := cmd.Wait()
	if err != nil || !strings.Contains(string(rest), want) {
		t.Fatalf("guest: %v\nstdout:\n%s\nstderr:\n%s", err, rest, stderr.Bytes())
	}
	t.Logf("guest: %s", strings.TrimSpace(string(rest)))
}

// guestAddr reads the "addr HOST:PORT" line a guest server prints.
func guestAddr(t *testing.T, out *bufio.Reader, stderr *bytes.Buffer) string {
	t.Helper()
	line, err := out.ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "addr ")
	if err != nil || !ok {
		t.Fatalf("guest server printed %q (%v)\nstderr:\n%s", line, err, stderr.Bytes())
	}
	return addr
}

var families = []struct{ name, host string }{{"ipv4", "127.0.0.1"}, {"ipv6", "[::1]"}}

func skipNoIPv6(t *testing.T, host string) {
	if host != "[::1]" {
		return
	}
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback on the host: %v", err)
	}
	l.Close()
}

// TestTCPGuestClient: a host listener echoes what the guest sends.
func TestTCPGuestClient(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			skipNoIPv6(t, f.host)
			l, err := net.Listen("tcp", f.host+":0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			echoed := make(chan int64, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					echoed <- -1
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(90 * time.Second))
				n, _ := io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
				echoed <- n
			}()
			cmd, out, stderr := start(t, "tcp-client", l.Addr().String(), "4194304")
			finish(t, cmd, out, stderr, "ok tcp-client 4194304 bytes echoed")
			if n := <-echoed; n != tcpSize {
				t.Fatalf("host echoed %d bytes, want %d", n, tcpSize)
			}
		})
	}
}

// TestTCPGuestServer: the guest listens and echoes; the host connects.
func TestTCPGuestServer(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			skipNoIPv6(t, f.host)
			cmd, out, stderr := start(t, "tcp-server", f.host+":0")
			addr := guestAddr(t, out, stderr)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("dial the guest at %s: %v", addr, err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(90 * time.Second))
			want := pattern(tcpSize)
			go func() {
				c.Write(want)
				c.(*net.TCPConn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatalf("reading the echo: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("echo differs: %d bytes back of %d", len(got), len(want))
			}
			c.Close()
			finish(t, cmd, out, stderr, "ok tcp-server echoed 4194304 bytes")
		})
	}
}

// TestUDPGuestClient: a host UDP socket answers the guest's datagrams.
func TestUDPGuestClient(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			skipNoIPv6(t, f.host)
			pc, err := net.ListenPacket("udp", f.host+":0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			go func() {
				buf := make([]byte, 65536)
				for {
					n, from, err := pc.ReadFrom(buf)
					if err != nil {
						return
					}
					pc.WriteTo(reply(buf[:n]), from)
				}
			}()
			cmd, out, stderr := start(t, "udp-client", pc.LocalAddr().String(), "20")
			finish(t, cmd, out, stderr, "ok udp-client 20 datagrams answered")
		})
	}
}

// TestUDPGuestServer: the guest answers datagrams the host sends.
func TestUDPGuestServer(t *testing.T) {
	for _, f := range families {
		t.Run(f.name, func(t *testing.T) {
			skipNoIPv6(t, f.host)
			cmd, out, stderr := start(t, "udp-server", f.host+":0", "20")
			addr := guestAddr(t, out, stderr)
			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			buf := make([]byte, 65536)
			for i := 0; i < 20; i++ {
				msg := pattern(100 + i*500)
				for try := 0; ; try++ {
					c.Write(msg)
					c.SetReadDeadline(time.Now().Add(2 * time.Second))
					n, err := c.Read(buf)
					if err == nil {
						if !bytes.Equal(buf[:n], reply(msg)) {
							t.Fatalf("datagram %d: wrong reply (%d bytes)", i, n)
						}
						break
					}
					if try == 5 {
						t.Fatalf("datagram %d: no reply: %v\nstderr:\n%s", i, err, stderr.Bytes())
					}
				}
			}
			finish(t, cmd, out, stderr, "ok udp-server answered 20 distinct datagrams")
		})
	}
}
