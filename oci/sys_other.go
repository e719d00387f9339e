//go:build !linux

package oci

import (
	"os"
	"os/exec"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func newPty() (master, slave *os.File, name string, err error) { return nil, nil, "", errUnsupported }

func setWinsize(f *os.File, rows, cols uint16) error { return errUnsupported }

func copyWinsize(to, from *os.File) error { return errUnsupported }

func isTerminal(f *os.File) bool { return false }

func makeRaw(f *os.File) (func(), error) { return nil, errUnsupported }

func sendConsole(path string, master *os.File) error { return errUnsupported }

func startIn(cmd *exec.Cmd, netns string) error { return errUnsupported }

func hostDeviceMatches(d specs.LinuxDevice) bool { return false }

func dieAs(e ExitInfo) { os.Exit(e.Status()) }

func withNewNetNS(a *syscall.SysProcAttr) {}

func loopbackUp() error { return errUnsupported }

func sysProcAttr(ctty bool) *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

func checkNamespaceType(path string, typ specs.LinuxNamespaceType) error { return nil }
