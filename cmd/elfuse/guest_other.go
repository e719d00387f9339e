//go:build !(linux && amd64)

package main

import (
	"fmt"
	"runtime"
)

func runGuest(o guestOptions) (int, guestStats, error) {
	return 1, guestStats{}, fmt.Errorf("running guests on %s/%s is not supported by this build yet", runtime.GOOS, runtime.GOARCH)
}
