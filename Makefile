# haul — build, test, demo, bench, lint, fuzz.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
BIN := bin/haul
FUZZTIME ?= 20s
# goreleaser v2.17 is the newest that builds with Go 1.26.
GORELEASER_VERSION ?= v2.17.0
GORELEASER ?= $(shell command -v goreleaser 2>/dev/null || echo $(shell $(GO) env GOPATH)/bin/goreleaser)

.PHONY: all build test test-deps demo bench lint snapshot fuzz clean

all: build

build: ## Build bin/haul
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/haul

test-deps: ## Install what the integration tests need (root only; reports what is missing otherwise)
	@bash scripts/test-deps.sh

test: test-deps ## The whole suite: gofmt, vet, race tests (integration tests included when their tools exist)
	@bash scripts/test.sh

demo: build ## Serve on a temp dir, upload sample media, export and download it
	@bash scripts/demo.sh

bench: build ## Go benchmarks and the peer race (see README)
	@bash scripts/bench.sh

lint: $(GORELEASER) ## gofmt, go vet, goreleaser check
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: run 'gofmt -w' on the files above"; exit 1; }
	$(GO) vet ./...
	@$(GORELEASER) check

$(GORELEASER):
	$(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

snapshot: $(GORELEASER) ## Build release archives for every platform into dist/ (no publishing)
	$(GORELEASER) release --snapshot --clean

fuzz: ## Run every fuzz target for FUZZTIME each
	@bash scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin dist
