// Package amd64 holds what is particular to amd64 guests: page-table
// entries, the ring-0 stub, descriptor tables and the long-mode vCPU state.
// It is independent of the host OS and of the hypervisor backend.
package amd64

//go:generate go run ./stubgen/cmd
//go:generate go run ./vdsogen/cmd
