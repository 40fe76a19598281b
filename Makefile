# pixelmill: `make run` starts everything on this machine, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIXELMILL := $(BIN)/pixelmill

.PHONY: install prometheus run test lint format down bench-engine bench-pipeline

install: $(VENV)/.installed

# Reinstalled when the declared or locked dependencies change.
$(VENV)/.installed: pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "pixelmill needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,stack]'
	@touch $@

# Debian's prometheus package for tests/observability and `stack up --with-prometheus`;
# installed only when promtool is missing (PROMTOOL names the one to look for).
PROMTOOL ?= promtool
prometheus:
	@PROMTOOL='$(PROMTOOL)' sh infra/prometheus/install.sh

run: install
	$(PIXELMILL) stack up
	$(PIXELMILL) run

test: install prometheus
	$(PIXELMILL) stack up
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

down:
	@if [ -x $(PIXELMILL) ]; then $(PIXELMILL) stack down; fi

# Benchmarks print ratios measured side by side in one run; see each script's docstring.
# ARGS passes options, e.g. ARGS=--quick, or ARGS=--rss for the engine's memory growth.
bench-engine: install
	$(BIN)/python -m bench.engine $(ARGS)

bench-pipeline: install
	$(PIXELMILL) stack up
	$(BIN)/python -m bench.pipeline $(ARGS)
