# elfuse build, demo, test and benchmark entry points. `make` builds the
# binaries into build/; `make demo` and `make test` are the README's two
# commands and install what they need first (scripts/setup.sh).
GO        ?= go
BUILD     := build
CACHE     ?= $(HOME)/.cache/elfuse
export ELFUSE_CACHE := $(CACHE)

.PHONY: all elfuse setup demo test test-processes vet fuzz-short generate bench bench-quick clean

all: elfuse

# urfave_cli_no_docs leaves out the man-page generator and its package
# initialisers, which every start would pay for.
GOTAGS    := urfave_cli_no_docs

elfuse:
	@mkdir -p $(BUILD)
	$(GO) build -tags $(GOTAGS) -o $(BUILD)/elfuse ./cmd/elfuse

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
	$(GO) test ./loader -run '^$$' -fuzz FuzzParse -fuzztime 10s
	$(GO) test ./rootfs -run '^$$' -fuzz FuzzUnpackPaths -fuzztime 10s

# test runs every suite (KVM suites run where /dev/kvm is usable), then a
# short fuzz run of the parsers.
test: setup all
	$(GO) test -count=1 ./...
	$(MAKE) --no-print-directory fuzz-short

# test-processes runs the process and shell differential suites (issue 3,
# in progress; tests/diff/KNOWN.md lists what fails and why).
test-processes: setup all
	ELFUSE_PROCESS_SUITES=1 $(GO) test -count=1 ./tests/diff -run 'Proc|Shell'

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
