# The Resource service. `make run` and `make test` install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-integration lint format bench cluster clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install  ## the API on http://127.0.0.1:8000, embedded PostgreSQL unless DATABASE_URL
	$(BIN)/resources serve

test: install  ## the whole suite; an embedded PostgreSQL unless TEST_DATABASE_URL
	$(BIN)/pytest

test-integration: install  ## the tests that touch storage
	$(BIN)/pytest tests/integration tests/e2e

lint: install  ## ruff, mypy --strict and the import-linter contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install  ## prints the performance figures (embedded PostgreSQL unless BENCH_DATABASE_URL)
	$(BIN)/python -m bench

cluster: install  ## a deployment rehearsal: failover under load, with replicas and PgBouncer
	$(BIN)/python -m bench.rehearsal

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
