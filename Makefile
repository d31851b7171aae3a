# infergate: `make demo` and `make test` work on a fresh Linux x64 machine
# with Go and npm; each sets up what it needs (the ONNX Runtime library via
# `make ort`).

GO       ?= go
BIN      := bin/infergate
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null)
DATE     ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
# `infergate version` prints all three (unstamped: what the go command
# recorded of the checkout, if anything).
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
# Unit and end-to-end tests; CI allows 90 minutes, this takes a few.
TEST_TIMEOUT ?= 15m
# actionlint lints the example workflows; `go run pkg@version` fetches it
# through the module proxy without adding it to go.mod.
ACTIONLINT_VERSION ?= v1.7.12
# staticcheck, the same way (the newest the module proxy serves here).
STATICCHECK_VERSION ?= v0.8.2
# go-nvml's cgo prologue calls NVML functions its own header marks
# deprecated: a screenful of gcc warnings on every fresh build, none ours.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

.PHONY: all build ort chromium test vet lint-actions race fuzz-smoke demo gen fuzz bench-overhead bench-loader eval-gate clean docs

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/infergate

# Fetch the pinned ONNX Runtime (npm pack onnxruntime-node, SHA-256 checked)
# into ~/.cache/infergate. Does nothing when it is already there.
ort:
	@bash scripts/fetch-ort.sh >/dev/null

# A headless Chromium for the HTML report's browser test: one on PATH (or
# INFERGATE_CHROMIUM), else Debian's package through apt-get.
chromium:
	@bash scripts/chromium.sh

vet:
	$(GO) mod verify
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# The example workflows under examples/workflows/. actionlint does not read
# a composite action's action.yml: internal/actiontest (part of go test)
# checks it, and every run: block of both, for ${{ }} expressions. shellcheck
# is turned off so the result does not depend on what the machine has.
lint-actions:
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION) -shellcheck= -pyflakes= examples/workflows/*.yml .github/workflows/*.yml

test: ort chromium vet lint-actions
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	@echo "== gate decisions on real models (runs alone: it measures latency)"
	INFERGATE_GATE_E2E=1 $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run '^TestGateDecisions$$' -v ./cmd/infergate

# The race detector over the packages that run goroutines (the scheduler,
# workers, endpoints, GPU sampling, the commands). -short skips the tests
# that judge measured latency: under the detector the numbers are its own.
# CI (.ci/run) runs it after `make test`; it takes a few minutes on 2 cores.
race: ort
	$(GO) test -race -short -count=1 -timeout $(TEST_TIMEOUT) ./bench/... ./cmd/... ./internal/...

# A few seconds of every fuzz target (CI); `make fuzz` runs them longer.
fuzz-smoke:
	bash scripts/fuzz.sh $${FUZZTIME:-3s}

# Runs the bundled example: production against a candidate about 25% slower
# per call, judged on p50 (examples/infergate.yaml says why). The gate catches the
# regression (infergate exits 1); the demo itself then exits 0. Any other
# exit code fails the demo.
demo: ort build
	@mkdir -p out
	@echo "== infergate run --config examples/infergate.yaml: examples/candidate.onnx against examples/production.onnx"
	@set +e; ./$(BIN) run --config examples/infergate.yaml --html out/demo-report.html; \
	  code=$$?; \
	  if [ $$code -eq 1 ]; then echo "== demo: the regression was caught (infergate exited 1, as a CI job would fail); reports in out/ (demo-result.json, demo-report.md, demo-report.html)"; \
	  else echo "== demo: expected exit 1 (regression), got $$code"; exit 1; fi

# Regenerate the CLI reference (docs/cli, Markdown) and man pages (docs/man)
# from the commands' help; TestCLIDocs fails when they are out of date.
docs:
	$(GO) test ./cmd/infergate -count=1 -run '^TestCLIDocs$$' -update-docs

# Regenerate the example and test models and datasets.
gen:
	$(GO) run ./examples/gen

fuzz:
	bash scripts/fuzz.sh $${FUZZTIME:-30s}

# Harness overhead: the p50 infergate reports for an MLP tuned to about
# 15 µs per call against a bare in-process loop calling Run on it, 7
# alternations; fails above OVERHEAD_LIMIT (1.03). Workers run from the
# test binary, so it needs no build.
bench-overhead: ort
	bash scripts/bench-overhead.sh

bench-loader: build
	bash scripts/bench-loader.sh

# How right is the gate? Judges model pairs of known cost ratio many times,
# with and without a bursty noisy neighbour, and writes docs/eval-gate.md.
# Takes about 40 minutes with the defaults; EVAL_ARGS="-runs 5 -quiet-runs 2"
# for a quick look.
eval-gate: ort build
	$(GO) run ./scripts/evalgate $(EVAL_ARGS)

clean:
	rm -rf bin out

# Endpoint client: infergate's KServe REST target against hey and vegeta on
# a loopback server (rate at concurrency 32), and its p50 overhead against a
# 1 ms server. About a minute; installs hey and vegeta into a temp GOBIN.
.PHONY: bench-http
bench-http:
	bash scripts/bench-http.sh
