# tapstack — a userspace TCP/IP stack in Go on a Linux TAP device.
#
#   make build   bin/tapstack
#   make test    deps (ping/curl/ip only when missing), go vet, gofmt -l, go test, go test -race
#   make bench   every benchmark with -benchmem
#   make demo    scripts/demo.sh (root): ping and curl a virtual host in a throwaway netns
#   make fuzz    every Fuzz target for FUZZTIME (default 30s); a new input is
#                minimized in at most 1000 runs (the default, 60s each,
#                stalls targets that find many inputs at 0 execs/s)

GO       ?= go
FUZZTIME ?= 30s
# Packages with concurrency that also run under the race detector (only those
# that exist, so the target works while the tree grows).
RACE_PKGS := $(foreach d,stack link tap arp ipv4 ipv6 ndp igmp mld ping tcp udp dhcp dns host gateway trace internal/sim internal/stacktest,$(if $(wildcard $(d)/*.go),./$(d)/...))

.PHONY: all build test vet race deps bench demo fuzz sim clean

all: build

build:
	$(GO) build -o bin/tapstack ./cmd/tapstack

vet:
	$(GO) vet ./...
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt: these files need gofmt -w:"; echo "$$out"; exit 1; fi

race:
	$(GO) test -race -timeout 10m $(RACE_PKGS)

test: deps vet
	$(GO) test -timeout 10m ./...
	$(GO) test -race -timeout 10m $(RACE_PKGS)

# The netns integration tests run real ping and curl (and ip). Install them
# only when one is missing and we are root; otherwise those tests skip and say why.
deps:
	@bash scripts/deps.sh

# Go micro-benchmarks of the hot paths, then the whole-system comparison
# (tapstack vs gVisor netstack vs the Linux kernel), tapstack against Linux
# through the fault decorator (bench_faults.sh: against the host's default
# congestion control, then against CUBIC, tapstack's), and the gateway comparison,
# each when its script exists.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
	@if [ -f scripts/bench.sh ]; then bash scripts/bench.sh; fi
	@if [ -f scripts/bench_faults.sh ]; then bash scripts/bench_faults.sh; LINUX_CC=cubic bash scripts/bench_faults.sh; fi
	@if [ -f scripts/bench_gateway.sh ]; then bash scripts/bench_gateway.sh; fi

# The deterministic fault simulation with many seeds: make sim SEEDS=10000
SEEDS ?= 1000
# prints the run's summary line (run time, faults, worst cases) at the end.
sim:
	@f=$$(mktemp); TAPSTACK_SIM_SUMMARY=$$f $(GO) test -timeout 120m -run 'TestSim' ./internal/sim -seeds=$(SEEDS) -v=false; \
	rc=$$?; cat $$f; rm -f $$f; exit $$rc

demo:
	bash scripts/demo.sh

fuzz:
	@failed=""; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1000x $$pkg || failed="$$failed $$pkg.$$f"; \
	  done; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed"; exit 1; fi; echo "fuzz: all targets passed"

clean:
	rm -rf bin
