# elfuse build and test entry points. `make` builds the binaries into build/.
GO        ?= go
BUILD     := build
CACHE     ?= $(HOME)/.cache/elfuse
export ELFUSE_CACHE := $(CACHE)

.PHONY: all elfuse test test-unit test-e2e fixtures setup vet fuzz-short generate check-generated bench bench-quick clean

all: elfuse

elfuse:
	@mkdir -p $(BUILD)
	$(GO) build -o $(BUILD)/elfuse ./cmd/elfuse

# setup installs what the build and the tests need on a fresh Debian machine.
setup:
	./scripts/setup.sh

# fixtures builds the downloaded test inputs into $(CACHE), reusing what is there.
fixtures:
	./scripts/fixtures.sh

generate:
	$(GO) generate ./...

vet:
	$(GO) vet ./...
	GOOS=darwin GOARCH=arm64 $(GO) vet ./...

fuzz-short:
	$(GO) test ./loader -run '^$$' -fuzz FuzzParse -fuzztime 10s

test: all fixtures
	$(GO) test -count=1 ./...
	$(MAKE) fuzz-short

bench bench-quick:
	@echo "bench: see issue 7" && false

clean:
	rm -rf $(BUILD)
