# Two commands from a fresh clone: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Pinned and hash-checked: requirements/*.lock, regenerated from pyproject.toml with `make lock`.
LOCKS := requirements/build.lock requirements/dev.lock
COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11

SF_CLI := node_modules/.bin/sf

.PHONY: demo test lint typecheck unit integration bench lock dist clean sf-cli

# The locked dependencies first, then csm-sync and the sandbox distribution as editable installs of this tree.
$(STAMP): pyproject.toml sandbox/pyproject.toml $(LOCKS)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/build.lock -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . -e ./sandbox
	$(BIN)/pip check
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
	$(BIN)/ruff format --check worker jobs state mappings connectors configfiles sandbox

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

# After changing dependencies in pyproject.toml or sandbox/pyproject.toml: re-pin every lock file.
lock: $(STAMP)
	$(COMPILE) requirements/build.in -o requirements/build.lock
	$(COMPILE) requirements/prod.in --no-emit-package csm-sync -o requirements/prod.lock
	$(COMPILE) requirements/dev.in --no-emit-package csm-sync --no-emit-package csm-sync-sandbox \
		-o requirements/dev.lock

# The two wheels: csm-sync (production) and csm-sync-sandbox (`pip install --find-links dist 'csm-sync[sandbox]'`).
dist: $(STAMP)
	$(BIN)/pip wheel --quiet --no-deps --no-build-isolation -w dist . ./sandbox

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache *.egg-info sandbox/*.egg-info build sandbox/build dist node_modules
