# sigil — build, run, test. `make test` is the one test command: it installs
# what the end-to-end tests need (Composer from Debian's packages) and runs
# every check CI runs.

GO        ?= go
BIN       ?= bin/sigil
FUZZTIME  ?= 10000x
# Packages with concurrency run under the race detector; that is all of them
# that matter, and the rest are cheap, so race-test everything.
RACE_PKGS ?= ./...

.PHONY: build run test check unit fuzz e2e e2e-deps bench bench-go clean

build:
	$(GO) build -o $(BIN) ./cmd/sigil

# Starts the proxy with its embedded defaults: Badger cache in the user cache
# directory, listening on 127.0.0.1:8780. Upstreams come from SIGIL_* env vars.
run: build
	./$(BIN) serve

test: check unit fuzz e2e

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 $(RACE_PKGS)

# Every fuzz target for FUZZTIME each: a count of inputs by default, so
# that a slow or loaded machine never ends a target mid-input (Go's fuzz
# engine reports that as a failure); longer on demand: make fuzz FUZZTIME=10m.
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash scripts/fuzz.sh

e2e-deps:
	bash scripts/e2e-deps.sh

# End-to-end tests with the real Composer and npm clients.
e2e: e2e-deps build
	SIGIL_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m ./integration/...

# The end-to-end benchmark: npm and Composer installing a generated
# project through sigil, Verdaccio and a static repository; prints ratios
# against their goals (a few minutes; installs Verdaccio from npm).
bench:
	GO=$(GO) bash scripts/bench.sh

# The hot-path micro-benchmarks (COUNT=5 make bench-go, then benchstat).
bench-go:
	GO=$(GO) bash scripts/bench-go.sh

clean:
	rm -rf bin
