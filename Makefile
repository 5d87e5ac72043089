# reconfig — see README.md. `make demo` and `make test` are the quick start.
GO       ?= go
BIN      ?= bin/reconfig
# reconfig-dev: reconfig with the embedded etcd server and the demo, which
# `reconfig dev` runs (found beside reconfig, then on PATH). The daemon
# itself links no etcd server.
DEVBIN   ?= $(dir $(BIN))reconfig-dev
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X github.com/reconfig/reconfig/internal/command.Version=$(VERSION) -X github.com/reconfig/reconfig/internal/command.Commit=$(COMMIT)

.PHONY: all build deps demo lint test test-long fuzz bench bench-fleet vet man release clean deb deb-test

all: build

deps:
	$(GO) mod download

build: deps
	$(GO) build -o $(BIN) -ldflags '$(LDFLAGS)' .
	$(GO) build -o $(DEVBIN) -ldflags '$(LDFLAGS)' ./cmd/reconfig-dev

# Plan, apply, change a key, plan again — against an embedded etcd, in a
# temporary directory.
demo: build
	$(GO) run ./testfixtures/demo -reconfig $(BIN)

test: lint
	$(GO) test -count=1 -timeout 15m ./...

# Before the tests: gofmt, go vet, every release target (and FreeBSD) vetted
# so that it keeps building (tests that need Linux are built for it only),
# staticcheck (pinned, installed into bin/tools) and a tidy go.mod.
CROSS             := darwin/arm64 darwin/amd64 freebsd/amd64 linux/arm64
STATICCHECK_VER   := v0.8.2
STATICCHECK       := bin/tools/staticcheck-$(STATICCHECK_VER)

lint: deps $(STATICCHECK)
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@set -e; for t in $(CROSS); do \
		echo "GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet ./..."; \
		GOOS=$${t%/*} GOARCH=$${t#*/} $(GO) vet ./...; \
	done
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	$(STATICCHECK) ./...
	$(GO) mod tidy -diff

$(STATICCHECK):
	mkdir -p bin/tools
	GOBIN=$(CURDIR)/bin/tools $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VER)
	mv bin/tools/staticcheck $@

# The reliability suite at full size (RECONFIG_LONG: 200 kill -9 runs,
# 10,000 watch-driven updates, 50 rounds of concurrent writers), the core
# packages under the race detector, then every fuzzer for a bounded time.
test-long: deps
	RECONFIG_LONG=1 $(GO) test -count=1 -timeout 60m ./...
	$(GO) test -race -count=1 -timeout 20m ./internal/watch ./internal/etcd ./apply ./plan ./internal/render ./internal/snapshot ./state
	$(MAKE) fuzz

# Each fuzzer (package:Fuzzer:executions), one `go test -fuzz` each. The
# budget is a count of executions, about 20 s each on a 2-core machine, not
# a duration: Go 1.26's fuzzing coordinator can report its own -fuzztime
# deadline as a failure ("context deadline exceeded", go.dev/issue/75804),
# and a count never sets that deadline. FUZZSCALE multiplies every count.
# A failing input is saved under the package's testdata/fuzz/ and replayed
# by `make test` from then on.
FUZZSCALE ?= 1
FUZZERS := bindings:FuzzLoad:12000 bindings:FuzzParsePattern:700000 \
	internal/render:FuzzTemplate:150000 internal/render:FuzzValues:20000 \
	internal/render:FuzzInstrument:250000 internal/render:FuzzPrintfSize:250000 \
	internal/snapshot:FuzzUnmarshal:250000 state:FuzzLoad:20000 apply:FuzzApplyHostileData:16000

fuzz: deps
	@set -e; for f in $(FUZZERS); do \
		pkg=$${f%%:*}; rest=$${f#*:}; name=$${rest%%:*}; n=$$(( $${rest#*:} * $(FUZZSCALE) )); \
		echo "fuzz $$pkg $$name for $$n executions"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $${n}x ./$$pkg; \
	done

# Benchmarks against real etcd (BENCHMARKS.md has the figures and how to
# read them). Output is benchstat-compatible: make bench | tee new.txt
# The last line runs reconfig interleaved with the floors (bench/floor),
# the least any tool can do for the same durable result, and reports ratios.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 20x ./plan
	$(GO) test -run '^$$' -bench . -benchtime 5x ./internal/render
	$(GO) test -run '^$$' -bench . -benchtime 3x ./internal/snapshot
	$(GO) test -run '^$$' -bench WatchConvergence -benchtime 2000x ./internal/watch
	$(GO) test -run '^$$' -bench BurstSlowReload -benchtime 1x ./internal/watch
	$(GO) test -run '^$$' -bench . -skip Floor -benchtime 3x -timeout 60m ./bench
	$(GO) test -run '^$$' -bench Floor -benchtime 1x -timeout 20m ./bench

# The fleet at scale (BENCHMARKS.md "Fleet at scale"): N `reconfig watch`
# daemons (RECONFIG_BENCH_FLEET_N, default 200), then the same fleet
# through `etcd grpc-proxy`, then N confd processes, against one process
# of Debian's etcd; a table at the end. Heavy: minutes, N processes at
# once. confd is built from its source into CONFD_CACHE (outside the
# repository; bench/fleet/build-confd.sh says how); without it the run goes
# on without the peer and says so.
CONFD_CACHE ?= $(HOME)/.cache/reconfig-bench/confd-v0.16.0

bench-fleet: deps
	@sh bench/fleet/build-confd.sh $(CONFD_CACHE) || echo "bench-fleet: confd could not be built (above): the run goes on without it"
	RECONFIG_BENCH_FLEET=1 RECONFIG_BENCH_CONFD=$$(test -x $(CONFD_CACHE)/confd && echo $(abspath $(CONFD_CACHE))/confd) \
		$(GO) test -count=1 -run '^TestFleet$$' -v -timeout 60m ./bench

vet:
	$(GO) vet ./...

# The man page, made from the command definitions.
man: build
	mkdir -p dist
	$(BIN) man > dist/reconfig.1
	@echo "wrote dist/reconfig.1 (view: man -l dist/reconfig.1)"

# Static release binaries with the version and commit stamped in: reconfig
# and reconfig-dev for each of RELEASE, and their SHA-256 in SHA256SUMS.
# reconfig finds reconfig-dev-OS-ARCH beside reconfig-OS-ARCH, or
# reconfig-dev beside reconfig or on PATH.
RELEASE := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

release: deps
	rm -rf dist && mkdir -p dist
	@set -e; for t in $(RELEASE); do \
		os=$${t%/*}; arch=$${t#*/}; \
		echo "build dist/reconfig-$$os-$$arch dist/reconfig-dev-$$os-$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/reconfig-$$os-$$arch .; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/reconfig-dev-$$os-$$arch ./cmd/reconfig-dev; \
	done
	cd dist && sha256sum reconfig-* | tee SHA256SUMS

# The Debian package (packaging/nfpm.yaml): reconfig, its man page, bash
# and zsh completion, the systemd unit, /etc/default/reconfig, the
# /etc/reconfig directories and a `reconfig` system user made by the
# postinst. reconfig-dev is not in it: production hosts need no embedded
# etcd server (`make release` builds it). nfpm is a pinned tool installed
# into bin/tools, like staticcheck: packaging is no dependency of reconfig.
# DEB_ARCH is Go's name (amd64, arm64); nfpm names the Debian one.
NFPM_VER    := v2.48.0
NFPM        := bin/tools/nfpm-$(NFPM_VER)
DEB_ARCH    ?= $(shell $(GO) env GOARCH)
# v1.2.0 -> 1.2.0; v1.2.0-3-gabc1234-dirty -> 1.2.0+3+gabc1234+dirty; no
# tag yet -> 0.0.0~git.abc1234, below every release.
DEB_VERSION ?= $(shell echo '$(VERSION)' | sed -E 's/^v([0-9])/\1/; /^[0-9]+\./!s/^/0.0.0~git./; s/-/+/g')
DEB         := dist/reconfig_$(DEB_VERSION)_$(DEB_ARCH).deb

deb: man $(NFPM)
	rm -rf dist/deb && mkdir -p dist/deb
	CGO_ENABLED=0 GOOS=linux GOARCH=$(DEB_ARCH) $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/deb/reconfig .
	gzip -9n < dist/reconfig.1 > dist/deb/reconfig.1.gz
	$(BIN) completion bash > dist/deb/reconfig.bash
	$(BIN) completion zsh > dist/deb/_reconfig
	DEB_ARCH=$(DEB_ARCH) DEB_VERSION='$(DEB_VERSION)' $(NFPM) package --config packaging/nfpm.yaml --packager deb --target $(DEB)
	@echo "wrote $(DEB)"

# Install the package with dpkg, use it, verify the unit, remove and purge
# it (packaging/deb-test.sh). As root, on Debian or Ubuntu: CI runs it.
deb-test: deb
	sh packaging/deb-test.sh $(DEB)

$(NFPM):
	mkdir -p bin/tools
	GOBIN=$(CURDIR)/bin/tools $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VER)
	mv bin/tools/nfpm $@

clean:
	rm -rf bin dist
