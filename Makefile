# volspike-oi — every target sets up what it needs (venv, dependencies) from python3 alone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# CHROMIUM: a chromium/chrome binary for the browser test (else `chromium` on PATH, see browser).
CHROMIUM ?=
BROWSER_HELP := make test needs Chromium for the debug-page browser test: install Debian's \
	chromium (sudo apt-get install chromium) or set CHROMIUM=/path/to/chromium

TSC    := clients/typescript/node_modules/typescript/bin/tsc
NPM_HELP := make test needs Node.js and npm (the TypeScript compiler checks the generated \
	declarations): install Debian's nodejs and npm (sudo apt-get install nodejs npm)

.PHONY: install install-prod test lint format pytest browser typescript demo run sim bench soak lock clean db-migrate db-retention db-shell types

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

## install-prod: the service for production (the droplet): the package and its locked runtime
## dependencies only (requirements-prod.lock), no test or lint tools
install-prod:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-prod.lock
	$(BIN)/python -m pip install --quiet --no-deps .

## test: lint, type-check and run the whole test suite (what CI runs)
test: lint pytest

lint: $(STAMP)
	$(BIN)/ruff check volspike_oi tests
	$(BIN)/ruff format --check volspike_oi tests
	$(BIN)/mypy

# Three workers on two cores: the longest tests wait on the real clock (a database outage, the
# browser, processes), so a third worker overlaps them with the CPU-bound ones (288 s → 226 s).
pytest: $(STAMP) browser typescript
	$(if $(CHROMIUM),CHROMIUM='$(CHROMIUM)' )$(BIN)/pytest -n 3 --dist loadfile

## typescript: the TypeScript compiler, pinned in clients/typescript/package-lock.json (npm
## registry), for the test that compiles the generated declarations and a typed client
typescript: $(TSC)

$(TSC): clients/typescript/package.json clients/typescript/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "$(NPM_HELP)" >&2; exit 1; }
	cd clients/typescript && npm ci --silent --no-audit --no-fund
	@touch $(TSC)

## browser: Chromium for the browser test of the debug page: $(CHROMIUM) if set, else `chromium`
## on PATH, else (as root, e.g. CI on Debian) Debian's chromium; otherwise one line and a failure
browser:
	@if [ -n '$(CHROMIUM)' ]; then \
		[ -f '$(CHROMIUM)' ] && [ -x '$(CHROMIUM)' ] || \
			{ echo "CHROMIUM=$(CHROMIUM) is not an executable file: $(BROWSER_HELP)" >&2; exit 1; }; \
	elif command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium (apt-get)"; \
		apt-get update -qq && apt-get install -y -qq chromium; \
	else \
		echo "$(BROWSER_HELP)" >&2; exit 1; \
	fi

format: $(STAMP)
	$(BIN)/ruff check --fix volspike_oi tests
	$(BIN)/ruff format volspike_oi tests

## demo: the service against the built-in simulator (no network needed)
demo: $(STAMP)
	$(BIN)/volspike-oi demo

## run: the service against real Binance (settings from the environment, see ops/.env.example)
run: $(STAMP)
	$(BIN)/volspike-oi serve

## db-migrate: create or upgrade the schema (DATABASE_URL, else the embedded Postgres)
db-migrate: $(STAMP)
	$(BIN)/volspike-oi db migrate

## db-retention: drop daily sample partitions older than DAYS (default 30)
DAYS ?= 30
db-retention: $(STAMP)
	$(BIN)/volspike-oi db retention --days $(DAYS)

## db-shell: psql on whichever database the service uses
db-shell: $(STAMP)
	$(BIN)/volspike-oi db shell

## sim: run the Binance simulator on localhost:9100 (600 perps, seed 1)
sim: $(STAMP)
	$(BIN)/volspike-oi sim --port 9100 --symbols 600 --seed 1

## bench: performance figures, printed as a table (never asserted)
bench: $(STAMP)
	$(BIN)/python -m volspike_oi.bench

## soak: the service against the simulator with every fault of issue 9 for SOAK_MINUTES (default
## 10) of real time, then one table; fails when a sample is lost or a ban is probed too often
soak: $(STAMP)
	$(BIN)/python -m volspike_oi.bench.soak

## types: TypeScript declarations for the frontend, generated from /openapi.json
types: $(STAMP)
	$(BIN)/python -m volspike_oi.web.typescript

## lock: re-pin every dependency after editing pyproject.toml
lock: $(STAMP)
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --no-emit-index-url \
		--no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links \
		-c requirements.lock -o requirements-prod.lock pyproject.toml

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info \
		clients/typescript/node_modules
