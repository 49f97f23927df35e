# Core314 Stability. `make run` starts everything; `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Unset DATABASE_URL / REDIS_URL: the embedded servers are started for the command and stopped after.
EMBED := $(BIN)/python -m core314.embedded exec --

.PHONY: run test test-unit test-e2e test-browser bench lint typecheck format install stop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The demo runs with 2-second health windows and a probe tick of 1 s (production defaults: 10 s and 2 s).
run: $(STAMP)
	DEBUG=$${DEBUG:-1} CORE314_ROLLUP_INTERVAL=$${CORE314_ROLLUP_INTERVAL:-2} CORE314_PROBE_TICK=$${CORE314_PROBE_TICK:-1} \
		$(EMBED) $(BIN)/python manage.py runstack

# Every test, with the coverage floor (the share of lines the suite runs in its own process).
COVERAGE_FLOOR ?= 85
test: $(STAMP)
	$(EMBED) $(BIN)/python -m pytest --cov --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR) $(PYTEST_ARGS)

# The pure modules only: no PostgreSQL, no Redis, no embedded servers (seconds).
test-unit: $(STAMP)
	CORE314_OFFLINE=1 $(BIN)/python -m pytest tests/unit -p no:cacheprovider $(PYTEST_ARGS)

test-e2e: $(STAMP)
	$(EMBED) $(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

test-browser: $(STAMP)
	$(EMBED) $(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

bench: $(STAMP)
	$(EMBED) $(BIN)/python -m bench

lint: $(STAMP) typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

# mypy with the Django and DRF plugins; the settings load without starting any server.
typecheck: $(STAMP)
	CORE314_OFFLINE=1 $(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

stop:
	$(BIN)/python -m core314.embedded stop

clean: stop
	rm -rf .data
