// Command http is a bench workload (bench/cmd/elfuse-bench builds it with CGO_ENABLED=0 into the
// cache): a net/http server and client in one process on 127.0.0.1, the client making N
// sequential GET requests over one keep-alive connection (MaxConnsPerHost 1: a request waits for
// the connection to be back in the idle pool rather than dialing a second one). It checks every
// response and prints "http N ok=N bytes=B keepalive=true".
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
)

// body is what every response carries: 1 KiB.
var body = func() []byte {
	b := make([]byte, 1024)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}()

func main() {
	n := 10000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "bad count %q\n", os.Args[1])
			os.Exit(2)
		}
		n = v
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail("listen", err)
	}
	var conns atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(body)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}}
	url := "http://" + ln.Addr().String() + "/"
	ok, total := 0, 0
	for range n {
		resp, err := client.Get(url)
		if err != nil {
			fail("get", err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			fail("read body", err)
		}
		total += len(got)
		if resp.StatusCode == http.StatusOK && string(got) == string(body) {
			ok++
		}
	}
	srv.Close()
	// Keep-alive held if the client dialed at most once per 100 requests (qemu-user has been seen
	// to need a second connection in 10000 requests; the count goes to stderr).
	keepAlive := conns.Load()*100 <= int64(max(n, 100))
	fmt.Fprintf(os.Stderr, "http: %d connection(s)\n", conns.Load())
	fmt.Printf("http %d ok=%d bytes=%d keepalive=%v\n", n, ok, total, keepAlive)
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}
