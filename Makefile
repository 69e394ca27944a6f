# sdlaunch — see README.md
GO        ?= go
BIN       := bin
SDLAUNCH  := $(BIN)/sdlaunch
PORT      ?= 8000
WORKERS   ?= 4

.PHONY: all build demo test test-unit integration lint bench measure deps clean deb fleet

all: build

# `sdlaunch --version` says what was built: the version and commit from git
# (packaging/version.sh), as `make deb` stamps them. urfave_cli_no_docs
# leaves out urfave/cli's doc generators: the man page and completions are
# sdlaunch's own (sdlaunch __manpage ...).
VERSION ?= $(shell packaging/version.sh)
COMMIT  ?= $(shell packaging/version.sh --commit)
GOTAGS  := urfave_cli_no_docs

build:
	$(GO) build -tags $(GOTAGS) -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o $(SDLAUNCH) ./cmd/sdlaunch

$(BIN)/demo: $(wildcard contrib/examples/go/*.go)
	$(GO) build -o $@ ./contrib/examples/go

# The quick start: a demo app under `sdlaunch run`, no systemd needed.
# Ctrl-C stops it gracefully.
demo: build $(BIN)/demo
	@echo "demo: try 'curl http://127.0.0.1:$(PORT)/' in another terminal; Ctrl-C stops it"
	$(SDLAUNCH) run --workers $(WORKERS) --listen 127.0.0.1:$(PORT) -- $(BIN)/demo

# Every test: unit tests, the launcher against real processes and sockets,
# and the units against a real systemd in a container (needs root).
test: deps
	$(GO) test -race -count=1 -timeout 45m ./...

# Fast tests that need no root, no packages and no systemd.
test-unit:
	$(GO) test -race -count=1 ./activation/... ./prefork/... ./units/... ./cmd/...

integration: deps
	$(GO) test -race -count=1 -timeout 45m ./integration/...

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) tool staticcheck ./...

# sdlaunch beside supervisord + gunicorn, gunicorn's own HUP, a hand-written
# gunicorn unit and the bare workers, on the same Flask app and load, closed
# and open loop; plus boot, request path, log forwarding, scale and accept
# balance. Writes bench/results/ and the README's table. Needs root; about 12 min,
# BENCHFLAGS=-quick about 3 (see integration/bench/main.go for the rest).
BENCHFLAGS ?=
bench: deps build
	$(GO) build -o $(BIN)/bench-goapp ./integration/bench/goapp
	$(GO) run ./integration/bench -sdlaunch $(SDLAUNCH) -goapp $(BIN)/bench-goapp -out bench/results -readme README.md $(BENCHFLAGS)

# Debian packages the tests and benchmarks use (installed when missing, as root).
deps:
	@scripts/deps.sh

# The Debian package dist/sdlaunch_<version>_<arch>.deb (packaging/build-deb.sh).
deb:
	GO=$(GO) VERSION=$(VERSION) packaging/build-deb.sh dist

# The operator tooling on a real fleet: contrib/ansible's role rolls releases
# over three systemd 252 containers (ssh, Debian's ansible) behind HAProxy,
# and contrib/deploy/deploy.sh deploys on one, under load. Needs root; the
# .deb is `make deb`'s. FLEETFLAGS="-count=10" repeats it.
FLEETFLAGS ?=
fleet: deps
	deb=$$(GO=$(GO) VERSION=$(VERSION) packaging/build-deb.sh dist) && \
	SDLAUNCH_DEB="$$deb" $(GO) test -race -count=1 -timeout 60m -v $(FLEETFLAGS) ./integration/fleet/

clean:
	rm -rf $(BIN) dist

# Launcher numbers quoted in the issue notes: start -> READY=1, RSS, SIGKILL -> replacement.
measure: build
	$(GO) build -o $(BIN)/testapp ./integration/testapp
	python3 scripts/measure/readytime.py $(SDLAUNCH) 18680 notify 20
	python3 scripts/measure/readytime.py $(SDLAUNCH) 18680 serve 20
	TESTAPP=$(BIN)/testapp python3 scripts/measure/killtime.py $(SDLAUNCH) 18681 10
	TESTAPP=$(BIN)/testapp python3 scripts/measure/watchdog.py $(SDLAUNCH) 18682 10
