// Package peers drives an OCI runtime with runc's command line through the real programs that call
// one (issue 8): Debian's containerd 1.6 with its runc shim (`ctr run --runc-binary`), Debian's
// Docker 20.10 (`dockerd --add-runtime elfuse=...`) and podman (`podman --runtime`).
//
// The suites run only with ELFUSE_PEERS=1 (`make test-peers`), as root. The runtime under test is
// ELFUSE_PEER_RUNTIME (default build/elfuse-runtime); `ELFUSE_PEER_RUNTIME=/usr/sbin/runc` checks the
// harness itself against runc. The daemons are scripts/peers-setup.sh's private instances: when they
// are not running, TestMain starts them and stops them at the end (ELFUSE_PEERS_KEEP=1 keeps them);
// when they are, it uses them, restarting dockerd if its elfuse runtime is another binary.
//
// On a failure the test logs what the daemons wrote meanwhile (containerd.log, dockerd.log under
// ELFUSE_PEERS_DIR), where the runtime's errors appear as containerd's shim reports them.
package peers
