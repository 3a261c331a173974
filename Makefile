# Two commands from a fresh clone: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

SF_CLI := node_modules/.bin/sf

.PHONY: demo test lint typecheck unit integration bench clean sf-cli

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The Salesforce CLI an admin deploys salesforce/ with; its tests run it against the sandbox org.
# Installed once per checkout from package-lock.json (npm's cache makes later installs offline);
# without npm or the registry the CLI tests skip and everything else still runs.
$(SF_CLI): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefer-offline --no-audit --no-fund --loglevel=error && touch $(SF_CLI) \
		|| echo "npm ci failed: the Salesforce CLI tests will be skipped"; \
	else echo "npm not found: the Salesforce CLI tests will be skipped"; fi

sf-cli: $(SF_CLI)

demo: $(STAMP)
	$(BIN)/csm-sync demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check worker jobs mappings connectors sandbox

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) sf-cli
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -n 2 -q

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP) sf-cli
	$(BIN)/pytest -q tests/integration

bench: $(STAMP)
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache *.egg-info node_modules
