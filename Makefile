# Two commands on a fresh machine: `make demo` and `make test`. Everything else is here for them.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The port `make demo` and `make serve` listen on: `make demo PORT=8080`.
PORT ?= 8000

.PHONY: demo serve test lint format migrate vendor benchmark clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/burgerbegroting demo --port $(PORT)
	$(BIN)/burgerbegroting serve --host 127.0.0.1 --port $(PORT)

serve: $(STAMP)
	$(BIN)/burgerbegroting serve --port $(PORT)

migrate: $(STAMP)
	$(BIN)/burgerbegroting db upgrade

test: $(STAMP)
	scripts/with-postgres $(PY) -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks alembic
	$(BIN)/ruff format --check src tests benchmarks alembic
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks alembic
	$(BIN)/ruff format src tests benchmarks alembic

vendor:
	scripts/vendor-frontend

benchmark: $(STAMP)
	$(PY) benchmarks/tally.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
