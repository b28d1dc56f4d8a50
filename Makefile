# The project's commands. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DESTINATION ?= duckdb
DBT_TARGET := $(if $(filter filesystem,$(DESTINATION)),lake,dev)
DBT_FLAGS := --warn-error-options '{"error": ["Deprecations"]}'

export DBT_PROFILES_DIR := $(CURDIR)

.PHONY: install install-spark run load build test lint docs bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# Spark and dbt-spark (about 350 MB) for `--target spark` and its test; the
# DuckDB path never needs them.
$(BIN)/.installed-spark: $(BIN)/.installed
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $@

install-spark: $(BIN)/.installed-spark

## Load from the API, then build and test the models.
run: load build

load: install
	$(BIN)/python -m loader --destination $(DESTINATION)

build: install $(if $(filter spark,$(DBT_TARGET)),install-spark)
	$(BIN)/dbt build --target $(DBT_TARGET) $(DBT_FLAGS)

## The whole suite, offline: lint, loader tests, dbt build against the replay server.
test: install install-spark lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check loader tests
	$(BIN)/ruff format --check loader tests
	WAREHOUSE_PATH=$${TMPDIR:-/tmp}/fakestore-lint.duckdb $(BIN)/sqlfluff lint models macros tests

docs: install
	$(BIN)/dbt docs generate --target $(DBT_TARGET)
	$(BIN)/dbt docs serve --target $(DBT_TARGET)

clean:
	rm -rf target logs data
