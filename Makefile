# elfuse build, demo, test and benchmark entry points. `make` builds the
# binaries into build/; `make demo` and `make test` are the README's two
# commands and install what they need first (scripts/setup.sh).
GO        ?= go
BUILD     := build
CACHE     ?= $(HOME)/.cache/elfuse
export ELFUSE_CACHE := $(CACHE)

.PHONY: all elfuse elfuse-runtime setup demo test test-processes test-peers test-runtime-tools vet fuzz-short generate bench bench-quick clean

all: elfuse elfuse-runtime containerd-shim-elfuse-v2

# urfave_cli_no_docs leaves out the man-page generator and its package
# initialisers, which every start would pay for.
GOTAGS    := urfave_cli_no_docs

elfuse:
	@mkdir -p $(BUILD)
	$(GO) build -tags $(GOTAGS) -o $(BUILD)/elfuse ./cmd/elfuse

elfuse-runtime:
	@mkdir -p $(BUILD)
	$(GO) build -tags $(GOTAGS) -o $(BUILD)/elfuse-runtime ./cmd/elfuse-runtime

# The containerd shim v2 (runtime type io.containerd.elfuse.v2); no_grpc as containerd builds its shims.
.PHONY: containerd-shim-elfuse-v2
containerd-shim-elfuse-v2:
	@mkdir -p $(BUILD)
	$(GO) build -tags "$(GOTAGS) no_grpc" -o $(BUILD)/containerd-shim-elfuse-v2 ./cmd/containerd-shim-elfuse-v2

# setup installs the Debian packages and Go modules the build and tests need.
setup:
	./scripts/setup.sh

# demo is the main job: build, run a static program, then a container image.
demo: setup all
	./scripts/demo.sh

generate:
	$(GO) generate ./...

vet:
	$(GO) vet ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...

fuzz-short:
	$(GO) test ./loader -run '^$$' -fuzz FuzzParse -fuzztime 5000x
	$(GO) test ./rootfs -run '^$$' -fuzz FuzzUnpackPaths -fuzztime 300x

# test runs every suite (KVM suites run where /dev/kvm is usable), then a
# short fuzz run of the parsers. The first run builds the Debian root and musl
# sysroot of tests/distro into $(CACHE)/distro (debootstrap, a few minutes).
test: setup all
	./scripts/distro-root.sh >/dev/null
	$(GO) test -count=1 ./...
	$(MAKE) --no-print-directory fuzz-short

# test-modes runs the default suites once per system call path: every call
# through a VM exit, then the exitless path (issue 10; `make test` runs auto).
.PHONY: test-modes
test-modes: setup all
	./scripts/distro-root.sh >/dev/null
	ELFUSE_SYSCALLS=exit $(GO) test -count=1 ./...
	ELFUSE_SYSCALLS=exitless $(GO) test -count=1 ./...

# test-processes runs the process and shell differential suites (issue 3,
# in progress; tests/diff/KNOWN.md lists what fails and why).
test-processes: setup all
	ELFUSE_PROCESS_SUITES=1 $(GO) test -count=1 ./tests/diff -run 'Proc|Shell'

# test-peers drives the OCI runtime (ELFUSE_PEER_RUNTIME, default build/elfuse-runtime; /usr/sbin/runc
# checks the harness) through containerd's runc shim, Docker and podman (tests/peers); the test starts
# scripts/peers-setup.sh's private daemons when they are not running and stops them after.
test-peers: all
	ELFUSE_PEERS=1 $(GO) test -count=1 -v -timeout 30m ./tests/peers

# test-runtime-tools runs the OCI runtime-tools validation suite against the same runtime and prints
# the pass count (tests/peers/RUNTIME-TOOLS.md lists the failures and why).
test-runtime-tools: all
	./scripts/runtime-tools.sh

# test-shim runs ctr against containerd v2 (built from the module proxy by scripts/containerd2.sh, a
# private instance under a temporary directory) with the runc shim (the harness check) and then
# containerd-shim-elfuse-v2 (tests/shim).
.PHONY: test-shim
test-shim: all
	./scripts/containerd2.sh build >/dev/null
	ELFUSE_SHIM=1 $(GO) test -count=1 -v -timeout 30m ./tests/shim

# test-gostd runs the Go standard-library test binaries of issue 4 natively and under elfuse
# (scripts/gostd.sh builds them once per Go version into $(CACHE)/gostd/) and compares the
# failures with tests/gostd/KNOWN.md; it prints per-package counts and the pass rate.
.PHONY: test-gostd
test-gostd: elfuse
	ELFUSE_GOSTD=1 $(GO) test -count=1 -v -timeout 120m -run 'TestGoStd$$' ./tests/gostd

# test-distro builds (once) a Debian bookworm root and a musl sysroot under $(CACHE)/distro/
# (scripts/distro-root.sh) and runs real dynamic programs (bash, coreutils, python3, perl, gcc,
# make, git, sqlite3, musl programs) natively in a chroot and under elfuse --sysroot
# (tests/distro; KNOWN.md lists the expected failures and why).
.PHONY: test-distro
test-distro: elfuse
	./scripts/distro-root.sh >/dev/null
	ELFUSE_DISTRO=1 $(GO) test -count=1 -v -timeout 60m ./tests/distro

# test-pysuite runs CPython's own regression tests (test_os, test_subprocess, test_socket, ...,
# from Debian's libpython3.11-testsuite in the distro root) natively in a chroot and under
# elfuse --sysroot, and compares the per-test results with tests/pysuite/KNOWN.md (issue 5).
.PHONY: test-pysuite
test-pysuite: elfuse
	./scripts/distro-root.sh build debian >/dev/null
	ELFUSE_PYSUITE=1 $(GO) test -count=1 -v -timeout 150m -run 'TestPySuite$$' ./tests/pysuite

# test-busybox runs BusyBox's own test suite with busybox-static natively and
# under elfuse and compares the pass/fail lists (issue 3; 10 to 20 minutes, so
# not in make test; tests/busyboxsuite/KNOWN.md lists the allowed differences).
.PHONY: test-busybox
test-busybox: setup elfuse
	./scripts/busybox-testsuite.sh fetch >/dev/null
	ELFUSE_BUSYBOX_SUITE=1 $(GO) test -count=1 -v -timeout 90m ./tests/busyboxsuite

# bench measures elfuse beside native, runc, runsc and qemu-user (BENCHMARKS.md);
# bench-quick is a representative subset in under 3 minutes.
bench: all
	./scripts/bench-setup.sh
	$(GO) run ./bench/cmd/elfuse-bench -elfuse $(BUILD)/elfuse -md BENCHMARKS.md

bench-quick: all
	./scripts/bench-setup.sh
	$(GO) run ./bench/cmd/elfuse-bench -elfuse $(BUILD)/elfuse -quick

clean:
	rm -rf $(BUILD)
