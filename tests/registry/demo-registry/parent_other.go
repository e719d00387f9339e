//go:build !linux

package main

// dieWithParent: elsewhere -lifetime bounds how long a forgotten registry runs.
func dieWithParent() {}
