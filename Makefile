# Coffer. Each target is thin; the logic lives in Go.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 20s
BENCHTIME ?= 1s
DATA      ?= $(CURDIR)/var/serve

.PHONY: all build test run serve deps fuzz lint bench image clean

all: build

deps:
	$(GO) mod download
	$(GO) run ./internal/devdeps test

build:
	$(GO) build -o bin/ ./cmd/...

# Every test, including swtpm, PyKMIP and QEMU tests (CI has them all).
test: deps lint
	$(GO) test -count=1 -timeout 25m $(PKGS)

# The main job: build the appliance image if stale, boot it in QEMU with
# swtpm (state in var/vm). Ctrl-C powers the VM off cleanly.
run: build
	$(GO) run ./internal/devdeps run
	./bin/coffer image build --if-stale
	./bin/coffer vm run

# The appliance image (kernel, initramfs, signed boot policy, data disk).
image: build
	$(GO) run ./internal/devdeps run
	./bin/coffer image build --if-stale

# KMIP server on the host without QEMU (data in var/serve).
serve: build
	./bin/coffer serve --data $(DATA)

# Short, bounded fuzzing of every Fuzz target.
fuzz:
	$(GO) run ./internal/fuzzall -fuzztime $(FUZZTIME)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

clean:
	rm -rf bin
