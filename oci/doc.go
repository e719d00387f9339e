// Package oci is elfuse's OCI runtime: runtime-spec bundles
// (config.json), the container state directory under the runtime's root,
// the container lifecycle (create, start, kill, delete, exec, pause,
// resume) and the sandbox process that holds one container.
//
// The command line that drives it, with runc's flags, is
// cmd/elfuse-runtime. The process model is runc's:
//
//   - `create` starts the sandbox process, a re-exec of the runtime's
//     own binary as the hidden `init` command, in a new session. The
//     sandbox process builds the VM and loads the entrypoint up to its
//     first instruction (syscall.New), reports success or the error back
//     over a pipe, and waits for `start` on a control socket in the state
//     directory. `create` writes --pid-file (the sandbox's host pid) and
//     exits, so the sandbox process is left to the caller's subreaper.
//   - When the container's pid 1 ends, the sandbox process exits with
//     the same status: exit(code), or death by the same signal.
//   - Every other command talks to the sandbox process over the control
//     socket (a SOCK_SEQPACKET unix socket; stdio descriptors for exec
//     travel with SCM_RIGHTS), and reads the state directory for what it
//     can answer without it, so that no command hangs on a dead sandbox.
//   - `exec` runs one more guest process in the sandbox. The host process
//     that represents it is the `exec` command itself, or with --detach a
//     small helper process (a re-exec of the runtime as the hidden
//     `exec-proxy` command) whose host pid is what --pid-file gets: it
//     relays signals to the guest process and exits with its status, so a
//     shim waiting on that pid sees the guest process's exit.
//
// proc and sysfs mounts are elfuse's synthetic /proc and /sys, which show
// the spec's mounts, capabilities, sysctls, id mappings and OOM score
// adjustment; linux.maskedPaths hide what they name and
// linux.readonlyPaths make it read-only.
//
// Known gaps (each waits on the sandbox, package syscall):
// nosuid/nodev/noexec are recorded only; a signal for one exec'd process
// (exec's relayed signals, a shim killing an exec) is logged and dropped;
// `update` cannot change the guest RAM of a running sandbox; `ps` lists
// guest pids only; linux.devices not on the host are left out.
package oci
