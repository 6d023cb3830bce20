# acmectl — build, demo, test. `make test` installs what the tests need
# (Pebble via `go install` into .tools/, BIND9 and nginx via apt-get when
# missing) and runs every suite, including the end-to-end ones.

GO            ?= go
TOOLS         := $(CURDIR)/.tools
PEBBLE_VERSION:= v2.10.3
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS       := -s -w -X main.version=$(VERSION)
export ACMECTL_TOOLS := $(TOOLS)

.PHONY: all build demo test test-short tools packages bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/acmectl ./cmd/acmectl

$(TOOLS)/pebble $(TOOLS)/pebble-challtestsrv:
	GOBIN=$(TOOLS) $(GO) install github.com/letsencrypt/pebble/v2/cmd/pebble@$(PEBBLE_VERSION) github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$(PEBBLE_VERSION)

tools: $(TOOLS)/pebble $(TOOLS)/pebble-challtestsrv

packages:
	./scripts/ensure-packages.sh

# A real certificate from a local Pebble, with the built binary.
demo: build tools
	./scripts/demo.sh

# Everything: unit, integration and end-to-end suites against real servers.
test: tools packages
	ACMECTL_REQUIRE_SERVERS=1 $(GO) test -count=1 -timeout 20m ./...
	$(GO) -C test/v1compat test -count=1 ./...

# Unit tests only (no servers).
test-short:
	$(GO) test -short ./...

# One issuance with an existing account against Pebble: wall time,
# requests, peak memory.
bench: build tools
	./scripts/bench.sh

clean:
	rm -rf bin dist
