// Command http is a bench workload (bench/cmd/elfuse-bench builds it with CGO_ENABLED=0 into the
// cache): a net/http server and client in one process on 127.0.0.1, the client making N
// sequential GET requests over one keep-alive connection (MaxConnsPerHost 1: a request waits for
// the connection to be back in the idle pool rather than dialing a second one). It checks every
// response and prints "http N ok=N bytes=B keepalive=true".
//
// With the arguments `serve ADDR` it is the server alone, for a load generator outside (the
// http-wrk row): it listens on ADDR (127.0.0.1:0 for a free port), prints "http serving
// HOST:PORT" once it accepts connections, and serves the same 1 KiB body until SIGTERM or SIGINT,
// when it shuts down, reports the requests it served on stderr and exits 0.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
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
	if len(os.Args) == 3 && os.Args[1] == "serve" {
		serve(os.Args[2])
		return
	}
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

// serve is the server-only mode: see the package comment.
func serve(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fail("listen", err)
	}
	var served atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
		served.Add(1)
	})}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Printf("http serving %s\n", ln.Addr())
	select {
	case err := <-done:
		fail("serve", err)
	case <-stop:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		fail("shutdown", err)
	}
	fmt.Fprintf(os.Stderr, "http: served %d requests\n", served.Load())
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}
