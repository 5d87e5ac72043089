# reconfig — see README.md. `make demo` and `make test` are the quick start.
GO       ?= go
BIN      ?= bin/reconfig
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X github.com/reconfig/reconfig/command.Version=$(VERSION) -X github.com/reconfig/reconfig/command.Commit=$(COMMIT)

.PHONY: all build deps demo test test-long bench vet man release clean

all: build

deps:
	$(GO) mod download

build: deps
	$(GO) build -o $(BIN) -ldflags '$(LDFLAGS)' .

# Plan, apply, change a key, plan again — against an embedded etcd, in a
# temporary directory.
demo: build
	$(GO) run ./testfixtures/demo -reconfig $(BIN)

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...

test-long: deps
	RECONFIG_LONG=1 $(GO) test -count=1 -timeout 60m ./...

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 30m ./...

vet:
	$(GO) vet ./...

clean:
	rm -rf bin dist
