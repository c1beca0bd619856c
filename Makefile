# Bulwark. Run as root on Debian 12.  `make lab` = three local machines bootstrapped into a cluster;
# `make test` = install every dependency, build, run every suite (one summary line at the end).
SHELL := /bin/bash
NODE  ?= node
BULWARK := $(NODE) dist/src/cli/main.js
LAB_CONFIG ?= .lab/bulwark.yaml

.PHONY: all deps build format test unit lab lab-down lab-status bench clean

all: build

deps: ## apt + npm dependencies (idempotent; apt only when something is missing)
	@bash .ci/install-deps.sh

build: node_modules/.package-lock.json
	@echo "build: lint and format check (biome)"; npx biome ci --reporter=summary --colors=off
	@echo "build: tsc"; npx tsc -p tsconfig.json
	@echo "build: type-check tests and benchmarks"; npx tsc -p tsconfig.check.json
	@$(NODE) dist/tools/runtime-build.js

format: node_modules/.package-lock.json ## rewrite src, test, bench and tools in the project's format (biome.json)
	npx biome format --write

node_modules/.package-lock.json: package.json package-lock.json
	@bash .ci/install-deps.sh

test: deps build
	@$(NODE) test/run-all.mjs

unit: build
	@$(NODE) test/run-all.mjs --project unit

lab: deps build
	$(BULWARK) lab up --config-out $(LAB_CONFIG)
	$(BULWARK) -c $(LAB_CONFIG) bootstrap --all

lab-down: build
	$(BULWARK) lab down

lab-status: build
	$(BULWARK) lab status

bench: deps build
	@bash bench/run.sh

clean:
	rm -rf dist build test-results
