//go:build !linux

// Command elfuse-bench is the elfuse benchmark driver; it runs on Linux only (see main.go).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "elfuse-bench: runs on Linux only")
	os.Exit(2)
}
