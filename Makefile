# acmectl — build, demo, test. `make test` installs what the tests need
# (Pebble via `go install` into .tools/, BIND9 and nginx via apt-get when
# missing) and runs every suite, including the end-to-end ones
# (docs/dev/testing.md: which target runs what, and how long it takes).

GO            ?= go
# The Go release every build and test here uses: the smallest 1.26 release
# with the fixes govulncheck reports for 1.26.8 (GO-2026-6809 in crypto/x509
# is fixed in 1.26.10; net/http, crypto/tls, os, html/template in 1.26.9).
# The go command fetches it once from the module proxy (about 76 MB); a
# machine's own Go ignores go.mod's toolchain line, hence the export.
export GOTOOLCHAIN := go1.26.10
# Every build and test here with -trimpath: no build machine's paths in
# binaries, and build-cache keys that do not depend on the checkout's
# directory, so that a fresh clone reuses what the machine has compiled.
export GOFLAGS := -trimpath $(GOFLAGS)
# make vulncheck: govulncheck and the vulnerability database, both from the
# module proxy (the public database is not reachable from build machines).
GOVULNCHECK_VERSION := v1.9.0
VULNDB_VERSION := v0.0.0-20261105234957-e22db6528018
VULNDB_DATE    := 2026-11-05T23:49:57Z
TOOLS         := $(CURDIR)/.tools
PEBBLE_VERSION:= v2.10.3
GORELEASER_VERSION := v2.15.1
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS       := -s -w -X main.version=$(VERSION)
export ACMECTL_TOOLS := $(TOOLS)

.PHONY: install uninstall cross-check all build demo test test-race test-e2e test-norace test-v1compat test-short test-long fuzz flake-check tools packages bench clean man docs release-check

all: build

# acmectl and its etcd helper, which must stay beside it (acmectl starts
# bin/acmectl-etcd only for --storage etcd://).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/acmectl ./cmd/acmectl-etcd

$(TOOLS)/pebble $(TOOLS)/pebble-challtestsrv:
	GOBIN=$(TOOLS) $(GO) install github.com/letsencrypt/pebble/v2/cmd/pebble@$(PEBBLE_VERSION) github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$(PEBBLE_VERSION)

tools: $(TOOLS)/pebble $(TOOLS)/pebble-challtestsrv

packages:
	./scripts/ensure-packages.sh

# A real certificate from a local Pebble, with the built binary.
demo: build tools
	./scripts/demo.sh

# Everything: unit, integration and end-to-end suites against real servers,
# the race detector where it is affordable, the committed fuzz corpora
# (replayed by plain `go test`; fresh fuzzing is `make fuzz`/`test-long`).
# The go test runs and the cross-OS vet go three at a time (-j3): test/e2e,
# the longest, mostly waits on its servers and the acmectl processes it
# starts; the race-detected packages and the vet are CPU-bound.
test: tools packages
	$(MAKE) -j3 test-e2e test-race test-norace test-v1compat cross-check

# Other v1 clients, unchanged, against our legacy v1 test CA (a module of
# its own, so that their dependencies stay out of ours).
test-v1compat:
	$(GO) -C test/v1compat test $(GOTESTFLAGS) -count=1 ./...

# Packages tested under the race detector: those with concurrency of their
# own (responders, renewal, fleet, client) and cheap enough instrumented.
RACE_PKGS     := ./client/... ./challenges/... ./renew/... ./internal/...
# Every other package of the module but test/e2e (commands, packaging,
# test/hostile).
NORACE_PKGS    = $(shell $(GO) list ./... | grep -vxF -e "$$($(GO) list $(RACE_PKGS))" -e github.com/acmectl/acmectl/test/e2e)
# test/e2e runs its long, independent tests (t.Parallel) this many at once.
E2E_PARALLEL  ?= 6
# Extra go test flags, e.g. GOTESTFLAGS=-json to measure the stages with
# `make -O test GOTESTFLAGS=-json > t.json` and scripts/test-timing.sh.
GOTESTFLAGS   ?=

test-race:
	ACMECTL_REQUIRE_SERVERS=1 $(GO) test $(GOTESTFLAGS) -race -count=1 -timeout 20m $(RACE_PKGS)

test-e2e:
	ACMECTL_REQUIRE_SERVERS=1 $(GO) test $(GOTESTFLAGS) -count=1 -timeout 20m -parallel $(E2E_PARALLEL) ./test/e2e

test-norace:
	ACMECTL_REQUIRE_SERVERS=1 $(GO) test $(GOTESTFLAGS) -count=1 -timeout 20m $(NORACE_PKGS)

# govulncheck against an offline database built from the golang.org/x/vulndb
# module (scripts/vulndb); fails when an advisory is reachable from our code.
vulncheck:
	@db=$$($(GO) mod download -json golang.org/x/vulndb@$(VULNDB_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	test -d "$$db/data/osv" || { echo "vulncheck: golang.org/x/vulndb@$(VULNDB_VERSION) not downloaded" >&2; exit 1; }; \
	$(GO) run ./scripts/vulndb -osv "$$db/data/osv" -out $(TOOLS)/vulndb-$(VULNDB_VERSION) -modified $(VULNDB_DATE) && \
	$(GO) run golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION) -db file://$(TOOLS)/vulndb-$(VULNDB_VERSION) ./...

# The end-to-end suite against the real Boulder (Let's Encrypt's CA
# software), without Docker, on 127.0.0.1 (ports 80 and 443 must be free):
# installs MariaDB, Redis, SoftHSM and dnsmasq, builds the pinned Boulder
# release once into .tools/boulder, starts it, runs test/boulder, stops it.
.PHONY: test-boulder
test-boulder:
	./scripts/boulder/test.sh

# The release targets other than Linux must at least type-check
# (.goreleaser.yaml builds windows, darwin and freebsd too).
cross-check:
	for os in windows darwin freebsd; do GOOS=$$os $(GO) vet ./cmd/acmectl ./cmd/acmectl-etcd || exit 1; done

# Fresh fuzzing: every Go fuzz target (*_fuzz_test.go) for FUZZTIME each.
# `go test` alone replays their committed corpora (testdata/fuzz), so a
# crasher found here is committed there with its fix and replayed by every
# `make test` from then on.
FUZZTIME ?= 10s
# Go's fuzzer sometimes ends a -fuzztime run with "context deadline
# exceeded" and no failing input (a toolchain flake, seen here about 1 run
# in 8 for fast targets, also with -fuzzminimizetime=0). Such a run counts
# as passed; any run that writes a failing input, or fails otherwise, fails.
fuzz:
	@for f in $$(grep -rl --include='*_fuzz_test.go' '^func Fuzz' .); do \
	  for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/p' $$f); do \
	    echo "fuzz $$fn ($$(dirname $$f), $(FUZZTIME))"; \
	    out=$$($(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) ./$$(dirname $$f) 2>&1) || \
	      if echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input'; then \
	        echo "  (ended by Go's fuzz deadline flake, no failing input: counted as passed)"; \
	      else echo "$$out"; \
	        echo "fuzz: $$fn failed. Its failing input is in $$(dirname $$f)/testdata/fuzz/$$fn/:"; \
	        echo "      commit that file with the fix (go test replays it from then on)."; exit 1; fi; \
	  done; done

# The long variant (docs/reliability.md): the full 200-issuance nonce
# storm, the crash and hostile suites three times, 60 s per fuzz target.
test-long: tools packages
	ACMECTL_REQUIRE_SERVERS=1 ACMECTL_NONCESTORM_N=200 $(GO) test -count=1 -timeout 30m -run 'TestNonceStorm' ./test/e2e
	ACMECTL_REQUIRE_SERVERS=1 $(GO) test -count=3 -timeout 60m -run 'TestCrash|TestDiskFull|TestLostResponses|TestConcurrent' ./test/e2e
	$(GO) test -count=3 -timeout 30m ./test/hostile
	ACMECTL_TEST_INSTALL=1 $(GO) test -count=1 -run TestMakeInstall ./packaging
	$(MAKE) fuzz FUZZTIME=60s

# Fast tests without the end-to-end suites (test/e2e, test/hostile); -short
# also skips the Pebble, etcd and BIND tests inside packages that have them.
# Under a minute on 2 cores with a warm build cache.
test-short:
	$(GO) test -short $(GOTESTFLAGS) $$($(GO) list ./... | grep -v -e /test/e2e -e /test/hostile)

# Flaky-test hunt (scripts/flake-check.sh): FLAKE_PKGS FLAKE_N times each,
# as is, with GOMAXPROCS=1 and beside a CPU hog; prints failures per test.
# E.g. make flake-check FLAKE_PKGS=./test/e2e FLAKE_N=3 FLAKE_RUN=TestObtain
FLAKE_N    ?= 20
FLAKE_PKGS ?=
FLAKE_RUN  ?=
FLAKE_ARGS ?=
flake-check: tools
	./scripts/flake-check.sh -n $(FLAKE_N) $(if $(FLAKE_RUN),-r '$(FLAKE_RUN)') $(FLAKE_ARGS) $(FLAKE_PKGS)

# One issuance with an existing account against Pebble: wall time,
# requests, peak memory.
bench: build tools
	./scripts/bench.sh

# Man pages (bin/man) and shell completions (bin/completions) from the
# command tree; the release builds them the same way.
man:
	$(GO) run ./internal/docgen -man bin/man -completions bin/completions -version $(VERSION)

# Install the binaries (acmectl and its etcd helper side by side), man
# pages and shell completions: PREFIX=/usr/local by default, DESTDIR for
# packaging. Then `man acmectl` and completion work at once.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
install: build man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 bin/acmectl bin/acmectl-etcd $(DESTDIR)$(BINDIR)/
	install -m 0644 bin/man/*.1* $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 bin/completions/acmectl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/acmectl
	install -m 0644 bin/completions/_acmectl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_acmectl
	install -m 0644 bin/completions/acmectl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/acmectl.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/acmectl $(DESTDIR)$(BINDIR)/acmectl-etcd $(DESTDIR)$(MANDIR)/man1/acmectl*.1* \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions/acmectl \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_acmectl \
	  $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/acmectl.fish

# Regenerate the command reference in docs/reference (a test fails when it
# is stale).
docs:
	$(GO) generate ./internal/docgen

# goreleaser is a large Go module: installing it takes minutes, so it is
# not part of `make test`. Once .tools/goreleaser exists, `go test
# ./packaging` runs `goreleaser check` too.
$(TOOLS)/goreleaser:
	GOBIN=$(TOOLS) $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

release-check: $(TOOLS)/goreleaser
	$(TOOLS)/goreleaser check
	$(GO) test -count=1 ./packaging ./internal/docgen

clean:
	rm -rf bin dist
