package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The control protocol: one JSON object per SOCK_SEQPACKET message on the
// sandbox's control socket. A request gets one response; an exec request
// carries the new process's stdin, stdout and stderr as SCM_RIGHTS and its
// connection stays open: the client may send signal requests for that
// process on it, and the sandbox sends a last response with the exit.

// syncMessage is what the sandbox process reports to `create` once the
// sandbox is built (or could not be).
type syncMessage struct {
	Error string `json:"error,omitempty"`
}

// request is a message to the sandbox process.
type request struct {
	Op     string       `json:"op"` // start, signal, exec, pause, resume, pids, update
	Signal int          `json:"signal,omitempty"`
	All    bool         `json:"all,omitempty"`
	Exec   *ExecProcess `json:"exec,omitempty"`
	Memory int64        `json:"memory,omitempty"` // update: the new limit in bytes
}

// response is the sandbox's answer.
type response struct {
	Error string    `json:"error,omitempty"`
	Pid   int       `json:"pid,omitempty"`
	Pids  []int     `json:"pids,omitempty"`
	Exit  *ExitInfo `json:"exit,omitempty"`
}

// ExecProcess is a process for exec, as the sandbox process takes it.
type ExecProcess struct {
	Args     []string `json:"args"`
	Env      []string `json:"env"`
	Cwd      string   `json:"cwd"`
	User     bool     `json:"hasUser"` // UID, GID and Groups are set
	UID      uint32   `json:"uid"`
	GID      uint32   `json:"gid"`
	Groups   []uint32 `json:"groups,omitempty"`
	Terminal bool     `json:"terminal,omitempty"`
	// PreserveFDs is the number of descriptors beyond stdio the process
	// gets as its fds 3 and up (--preserve-fds).
	PreserveFDs int `json:"preserveFds,omitempty"`
}

// ExitInfo is how a guest process ended.
type ExitInfo struct {
	Code   int `json:"code"`
	Signal int `json:"signal,omitempty"`
}

// Status is the shell-style status: the code, or 128+signal.
func (e ExitInfo) Status() int {
	if e.Signal != 0 {
		return 128 + e.Signal
	}
	return e.Code
}

const maxMessage = 1 << 20

// conn is one control connection.
type conn struct {
	c *net.UnixConn
}

// socketAddr names the control socket of state directory dir, through
// /proc/self/fd when the path is too long for a socket address.
func socketAddr(dir string) (string, func(), error) {
	p := filepath.Join(dir, socketFile)
	if len(p) < 100 {
		return p, func() {}, nil
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + socketFile, func() { unix.Close(fd) }, nil
}

// listenControl makes the control socket of state directory dir.
func listenControl(dir string) (*net.UnixListener, error) {
	addr, done, err := socketAddr(dir)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	defer done()
	os.Remove(filepath.Join(dir, socketFile))
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: addr, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	l.SetUnlinkOnClose(false)
	return l, nil
}

// dialControl connects to the sandbox of state directory dir.
func dialControl(dir string) (*conn, error) {
	addr, done, err := socketAddr(dir)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	defer done()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: addr, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("the sandbox process does not answer: %w", err)
	}
	return &conn{c: c}, nil
}

// send writes one message, with descriptors.
func (c *conn) send(v any, fds ...int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err = c.c.WriteMsgUnix(b, oob, nil)
	return err
}

// recv reads one message into v and returns the descriptors it carried.
func (c *conn) recv(v any) ([]int, error) {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(4*8))
	n, oobn, _, _, err := c.c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				if got, err := unix.ParseUnixRights(&m); err == nil {
					fds = append(fds, got...)
				}
			}
		}
	}
	if n == 0 {
		closeFDs(fds)
		return nil, errors.New("connection closed")
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		closeFDs(fds)
		return nil, fmt.Errorf("control message: %w", err)
	}
	return fds, nil
}

func (c *conn) close() { c.c.Close() }

// call sends one request and reads its response, within timeout (0: no
// limit).
func (c *conn) call(req request, timeout time.Duration, fds ...int) (response, error) {
	if timeout > 0 {
		c.c.SetDeadline(time.Now().Add(timeout))
		defer c.c.SetDeadline(time.Time{})
	}
	var resp response
	if err := c.send(req, fds...); err != nil {
		return resp, fmt.Errorf("control request %s: %w", req.Op, err)
	}
	if _, err := c.recv(&resp); err != nil {
		return resp, fmt.Errorf("control request %s: %w", req.Op, err)
	}
	if resp.Error != "" {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

// control makes one request to container dir's sandbox.
func control(dir string, req request, timeout time.Duration) (response, error) {
	c, err := dialControl(dir)
	if err != nil {
		return response{}, err
	}
	defer c.close()
	return c.call(req, timeout)
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
