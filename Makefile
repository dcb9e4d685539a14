# The one entry point for people and CI. README's quick start is
# `make demo` and `make test`; .ci/run calls the same targets.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/wasmpod/target
CARGO ?= cargo
WASMPOD_RELEASE := $(CARGO_TARGET_DIR)/release/wasmpod
EXAMPLES_OUT := $(CARGO_TARGET_DIR)/examples-wasm

.PHONY: setup build release examples demo test lint unit bench clean-cache

## Install missing prerequisites (clang, wasi-libc, ...).
setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --workspace

release: setup
	$(CARGO) build --release -p wasmpod

## Compile the example guests with clang + wasi-libc.
examples: setup
	@mkdir -p $(EXAMPLES_OUT)
	clang --target=wasm32-wasi -O2 -o $(EXAMPLES_OUT)/hello.wasm examples/hello/hello.c

## Set up, build, and run the examples: `wasmpod run` of a module, then
## `wasmpod up` of a wasi:http service with a Job (until Ctrl-C; with CI=true
## it curls the Service and stops by itself).
demo: release examples
	WASMPOD=$(WASMPOD_RELEASE) scripts/demo.sh

## Set up and run every check: format, lints, unit and integration tests.
test: setup
	@scripts/setup.sh test
	$(MAKE) lint unit

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	$(CARGO) test --workspace

## Benchmarks against peers (see docs/benchmarks.md).
bench: setup
	@scripts/setup.sh bench
	$(CARGO) build --release -p wasmpod -p wasmpod-shim
	bench/run-startup.sh
	bench/pull.sh
	PHASES=1 bench/ctr-cold-start.sh
	PHASES=1 CONTAINERD=1.7 bench/ctr-cold-start.sh
	bench/cri-density.sh
	bench/http.sh
	bench/k8s-startup.sh
