# The one entry point for people and CI. README's quick start is
# `make demo` and `make test`; .ci/run calls the same targets.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/wasmpod/target
# A Go toolchain scripts/setup.sh fetched (when the machine's Go is older
# than 1.25) comes first; a folder that does not exist changes nothing.
export PATH := $(HOME)/.cache/wasmpod/go/bin:$(PATH)
CARGO ?= cargo
WASMPOD_RELEASE := $(CARGO_TARGET_DIR)/release/wasmpod
EXAMPLES_OUT := $(CARGO_TARGET_DIR)/examples-wasm

.PHONY: setup build release dist dist-check examples demo test test-fast test-daemon test-cluster test-all lint bench clean-cache

# Test tiers (CONTRIBUTING.md), chosen with Cargo features, never by skips:
# a selected tier that cannot run fails. No features: tests that need
# neither root nor a daemon. `daemon`: root, containerd, a registry,
# Podman and Docker Engine.
# `cluster`: the Kubernetes e2e suite.
DAEMON_FEATURES := wasmpod/daemon,wasmpod-shim/daemon,wasmpod-node/daemon,wasmpod-bundle/daemon,wasmpod-testkit/daemon,wasmpod-oci-runtime/daemon
CLUSTER_FEATURES := wasmpod-e2e/cluster
ALL_FEATURES := $(DAEMON_FEATURES),$(CLUSTER_FEATURES)

## Install missing prerequisites (clang, wasi-libc, ...).
setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --workspace

release: setup
	$(CARGO) build --release -p wasmpod

## What we ship, in $(CARGO_TARGET_DIR)/dist: the three release binaries
## without debug info, and each one's debug info in NAME.debug beside it
## (docs/release.md). `dist/wasmpod node image REF` builds the installer
## image from them.
dist: setup
	$(CARGO) build --release -p wasmpod -p wasmpod-shim -p wasmpod-oci-runtime
	scripts/dist.sh

## Checks dist/: no debug sections shipped, each debug file matches its
## binary, and addr2line and a panic's backtrace resolve file:line with it.
dist-check: dist
	scripts/check-dist.sh

## Compile the example guests with clang + wasi-libc.
examples: setup
	@mkdir -p $(EXAMPLES_OUT)
	clang --target=wasm32-wasi -O2 -o $(EXAMPLES_OUT)/hello.wasm examples/hello/hello.c

## Set up, build, and run the examples: `wasmpod run` of a module, then
## `wasmpod up` of a wasi:http service with a Job (until Ctrl-C; with CI=true
## it curls the Service and stops by itself).
demo: release examples
	WASMPOD=$(WASMPOD_RELEASE) scripts/demo.sh

## Set up and run every check: format, lints, and every test tier.
test: setup
	@scripts/setup.sh test
	$(MAKE) lint test-all

## The fast tier: every test that needs neither root nor a daemon. Runs as
## a normal user (after `make setup` once for clang and wasi-libc).
test-fast:
	$(CARGO) test --workspace

## The fast and daemon tiers: adds containerd, registry and root tests.
test-daemon:
	$(CARGO) test --workspace --features $(DAEMON_FEATURES)

## The cluster tier alone: the Kubernetes e2e suite (builds Kubernetes,
## etcd and containerd from source on first use; needs root).
test-cluster:
	$(CARGO) test -p wasmpod-e2e --features $(CLUSTER_FEATURES)

## All three tiers in one cargo run (what `make test` and CI run).
test-all:
	$(CARGO) test --workspace --features $(ALL_FEATURES)

## Lints every tier's code, and the fast tier's build alone (code only a
## higher tier uses must not warn there), and the docs' relative links.
lint:
	scripts/check-links.sh
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --features $(ALL_FEATURES) -- -D warnings
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Benchmarks against peers (see docs/benchmarks.md).
bench: setup
	@scripts/setup.sh bench
	$(CARGO) build --release -p wasmpod -p wasmpod-shim -p wasmpod-oci-runtime
	bench/run-startup.sh
	bench/first-run.sh
	bench/pull.sh
	PHASES=1 bench/ctr-cold-start.sh
	PHASES=1 CONTAINERD=1.7 bench/ctr-cold-start.sh
	bench/cri-density.sh
	bench/http.sh
	bench/wasm-stack.sh
	$(CARGO) test --workspace --no-run
	bench/wasi-versions.sh
	bench/k8s-startup.sh
	PHASES=1 bench/oci-runtime.sh
	bench/trust.sh
	bench/node-policy.sh
