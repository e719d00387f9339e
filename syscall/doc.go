// Package syscall is elfuse's Linux ABI: the sandbox that runs guest
// processes on vCPUs, and the system calls they make, decoded per guest
// architecture from one generated table (ztable_amd64.go from amd64.tbl)
// and carried out over the host's own system calls.
//
// Linux values (flags, errno, struct layouts) are decoded here and
// re-encoded for the host through golang.org/x/sys/unix; they are never
// handed to the host as they are.
package syscall

//go:generate go run ./tablegen/cmd
