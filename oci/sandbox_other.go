//go:build !(linux && amd64)

package oci

import (
	"fmt"
	"log/slog"
	"runtime"
)

// sandboxSupported says this build can run containers.
const sandboxSupported = false

// errUnsupported is the error of every command that needs a sandbox.
var errUnsupported = fmt.Errorf("running containers on %s/%s is not supported by this build yet", runtime.GOOS, runtime.GOARCH)

// SandboxMain is the hidden `init` command; this build has no sandbox.
func SandboxMain(dir string, log *slog.Logger) int {
	log.Error("sandbox", "error", errUnsupported)
	return 1
}
