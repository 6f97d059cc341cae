# Coffer. Each target is thin; the logic lives in Go.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 20s
BENCHTIME ?= 1s
DATA      ?= $(CURDIR)/var/serve

.PHONY: all build test run deps fuzz lint bench image clean

all: build

deps:
	$(GO) mod download
	$(GO) run ./internal/devdeps test

build:
	$(GO) build -o bin/ ./cmd/...

# Every test, including swtpm, PyKMIP and QEMU tests (CI has them all).
test: deps lint
	$(GO) test -count=1 -timeout 25m $(PKGS)

# Until the appliance image exists: coffer serve on the host.
run: build
	$(GO) run ./internal/devdeps run
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
	rm -rf bin out
