// Command guest is the static guest program of the loopback tests: it talks
// TCP or UDP over loopback to a host process, as client or server.
//
//	guest tcp-client ADDR SIZE   send SIZE bytes, half-close, read the echo back, check it
//	guest tcp-server ADDR        listen (print the address), echo one connection
//	guest udp-client ADDR N      send N datagrams, read each reply, check it
//	guest udp-server ADDR N      bind (print the address), answer N datagrams
//
// It prints one "ok ..." line per finished step and exits 1 on any error.
package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

// Pattern is the byte stream both sides agree on: byte i is i*7+i>>8.
func Pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func fail(format string, args ...any) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: guest MODE ADDR [N]")
	}
	mode, addr := os.Args[1], os.Args[2]
	n := 0
	if len(os.Args) > 3 {
		n, _ = strconv.Atoi(os.Args[3])
	}
	deadline := time.Now().Add(60 * time.Second)
	switch mode {
	case "tcp-client":
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fail("dial %s: %v", addr, err)
		}
		c.SetDeadline(deadline)
		want := Pattern(n)
		go func() {
			// Writes in 64 KiB pieces while the echo is read back.
			for off := 0; off < len(want); off += 64 << 10 {
				end := min(off+64<<10, len(want))
				if _, err := c.Write(want[off:end]); err != nil {
					fail("write: %v", err)
				}
			}
			c.(*net.TCPConn).CloseWrite()
		}()
		got, err := io.ReadAll(c)
		if err != nil {
			fail("read: %v", err)
		}
		if !bytes.Equal(got, want) {
			fail("echo differs: %d bytes back of %d", len(got), len(want))
		}
		fmt.Printf("ok tcp-client %d bytes echoed\n", len(got))
	case "tcp-server":
		l, err := net.Listen("tcp", addr)
		if err != nil {
			fail("listen %s: %v", addr, err)
		}
		fmt.Printf("addr %s\n", l.Addr())
		c, err := l.Accept()
		if err != nil {
			fail("accept: %v", err)
		}
		c.SetDeadline(deadline)
		k, err := io.Copy(c, c)
		if err != nil {
			fail("echo: %v", err)
		}
		c.(*net.TCPConn).CloseWrite()
		// Wait for the peer to close.
		io.Copy(io.Discard, c)
		c.Close()
		l.Close()
		fmt.Printf("ok tcp-server echoed %d bytes\n", k)
	case "udp-client":
		c, err := net.Dial("udp", addr)
		if err != nil {
			fail("dial %s: %v", addr, err)
		}
		c.SetDeadline(deadline)
		buf := make([]byte, 65536)
		for i := 0; i < n; i++ {
			msg := Pattern(100 + i*500)
			// Datagrams may be lost, even on loopback: resend on a short timeout.
			for try := 0; ; try++ {
				if _, err := c.Write(msg); err != nil {
					fail("write: %v", err)
				}
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				k, err := c.Read(buf)
				if err == nil {
					if !bytes.Equal(buf[:k], reply(msg)) {
						fail("datagram %d: wrong reply (%d bytes)", i, k)
					}
					break
				}
				if try == 5 {
					fail("datagram %d: %v", i, err)
				}
			}
		}
		fmt.Printf("ok udp-client %d datagrams answered\n", n)
	case "udp-server":
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			fail("listen %s: %v", addr, err)
		}
		fmt.Printf("addr %s\n", c.LocalAddr())
		c.SetDeadline(deadline)
		buf := make([]byte, 65536)
		seen := map[int]bool{}
		for len(seen) < n {
			k, from, err := c.ReadFrom(buf)
			if err != nil {
				fail("read: %v", err)
			}
			seen[k] = true
			if _, err := c.WriteTo(reply(buf[:k]), from); err != nil {
				fail("write: %v", err)
			}
		}
		fmt.Printf("ok udp-server answered %d distinct datagrams\n", len(seen))
	default:
		fail("unknown mode %q", mode)
	}
}

// reply is the answer to a datagram: its bytes reversed.
func reply(b []byte) []byte {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return r
}
