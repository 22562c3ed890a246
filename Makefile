# wharf — build, install, test, demo and benchmark.
# `make demo` and `make test` are the two entry points (see README.md); both run
# as root on Debian 12 and install what they need with apt.

SHELL := /bin/bash
# Go lives outside the default PATH on the build machines.
export PATH := /usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

GO        ?= go
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
BINARIES  := wharf wharfd wharf-shim
DEB_DEPS  := runc busybox-static debootstrap nftables procps curl jq hyperfine wrk iproute2 skopeo docker-registry
SOCK      ?= /run/wharf/wharf.sock
DEMO_LOG  ?= /tmp/wharf-demo.log
# The e2e suite runs ~100 containers one after another; 20 min leaves room on 2 cores.
E2E_TIMEOUT ?= 20m
FUZZTIME  ?= 3000x

.PHONY: all build install deps test vet unit e2e fuzz demo bench clean

all: build

# The shim runs once per container: built static (no libc mapped) its PSS is
# lowest. The client is static too: without the dynamic loader it starts
# ~1 ms sooner, and it runs once per command.
build:
	$(GO) build -trimpath -o bin/ ./cmd/wharfd
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/wharf ./cmd/wharf-shim

install: build
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(addprefix bin/,$(BINARIES)) $(DESTDIR)$(BINDIR)/

# Idempotent: asks apt only for packages that are not installed yet, so a
# second run costs no network round trip.
deps:
	@missing=""; for p in $(DEB_DEPS); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "deps: all present ($(DEB_DEPS))"; fi

vet:
	$(GO) vet ./...

# The e2e suite has its own target (it builds binaries and starts a daemon).
# -p 1: packages one at a time. Root tests of engine/, network/ and runtime/
# create bridges, nft tables, cgroups and network namespaces on the real host;
# run side by side they see each other's objects (and the kernel's slow netns
# teardown) and fail their leak checks.
unit:
	$(GO) test -p 1 $$($(GO) list ./... | grep -v '/test/e2e')

e2e: build
	$(GO) test -count=1 -timeout $(E2E_TIMEOUT) ./test/e2e/...

# A short smoke run of every fuzz target: go test runs one -fuzz target per
# invocation, so loop over (package, target) pairs found in the sources. The
# budget is a count of inputs, not a duration: with -fuzztime=5s go's fuzz
# coordinator fails spuriously ("context deadline exceeded") on a busy
# 2-core box. Longer runs: make fuzz FUZZTIME=10m.
fuzz:
	@set -e; grep -rl --include='*_test.go' '^func Fuzz' . | grep -v '^./test/' | while read -r f; do \
		pkg=./$$(dirname "$${f#./}"); \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f"); do \
			echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) "$$pkg"; \
		done; \
	done

test: deps build vet unit e2e fuzz

# Starts the installed daemon unless one already answers on $(SOCK), then
# walks through the tutorial. The daemon keeps running afterwards
# (stop it with: kill $$(pidof wharfd)).
demo: deps install
	@if curl -sf --unix-socket $(SOCK) http://localhost/_ping >/dev/null 2>&1; then \
		echo "wharf daemon already running on $(SOCK)"; \
	else \
		echo "starting wharf daemon (log: $(DEMO_LOG))"; \
		setsid nohup $(BINDIR)/wharf daemon -H unix://$(SOCK) >$(DEMO_LOG) 2>&1 </dev/null & \
		for i in $$(seq 1 300); do \
			curl -sf --unix-socket $(SOCK) http://localhost/_ping >/dev/null 2>&1 && break; \
			sleep 0.1; \
		done; \
		curl -sf --unix-socket $(SOCK) http://localhost/_ping >/dev/null || \
			{ echo "daemon did not answer on $(SOCK); log:"; tail -n 50 $(DEMO_LOG); exit 1; }; \
	fi
	WHARF=$(BINDIR)/wharf WHARF_HOST=unix://$(SOCK) contrib/demo.sh

bench: deps build
	WHARF=$(CURDIR)/bin/wharf bench/run-latency.sh
	WHARF=$(CURDIR)/bin/wharf bench/memory.sh
	WHARF=$(CURDIR)/bin/wharf bench/http.sh
	WHARF=$(CURDIR)/bin/wharf bench/pushpull.sh
	WHARF=$(CURDIR)/bin/wharf bench/swarm.sh
	bench/scheduler.sh
	WHARF=$(CURDIR)/bin/wharf bench/build.sh

clean:
	rm -rf bin/
