# The project's commands. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
AIRFLOW_VENV := .venv-airflow
DESTINATION ?= duckdb
DBT_TARGET := $(if $(filter filesystem,$(DESTINATION)),lake,dev)
DBT_FLAGS := --warn-error-options '{"error": ["Deprecations"]}'
DOCS_PORT ?= 8080

export DBT_PROFILES_DIR := $(CURDIR)

.PHONY: install install-spark run load build test lint docs bench clean airflow \
	airflow-standalone

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## Airflow in an environment of its own: its pins and dbt's or dlt's never meet.
$(AIRFLOW_VENV)/bin/.installed: orchestration/requirements.txt
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet --upgrade pip
	$(AIRFLOW_VENV)/bin/pip install --quiet -r orchestration/requirements.txt
	touch $@

airflow: $(AIRFLOW_VENV)/bin/.installed

## Airflow locally (scheduler, UI on http://localhost:8080) running orchestration/.
airflow-standalone: install airflow
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/orchestration \
	AIRFLOW__CORE__LOAD_EXAMPLES=False \
	$(AIRFLOW_VENV)/bin/airflow standalone

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
test: install install-spark airflow lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check loader tests dbt_plugins orchestration bench
	$(BIN)/ruff format --check loader tests dbt_plugins orchestration bench
	WAREHOUSE_PATH=$${TMPDIR:-/tmp}/fakestore-lint.duckdb $(BIN)/sqlfluff lint models macros tests

## The dbt docs site with the lineage graph, at http://localhost:$(DOCS_PORT).
docs: install
	$(BIN)/dbt docs generate --target $(DBT_TARGET) $(DBT_FLAGS)
	$(BIN)/dbt docs serve --target $(DBT_TARGET) --port $(DOCS_PORT) --no-browser

## Loader vs the naive script on generated data; writes BENCHMARKS.md (~2 min).
bench: install
	$(BIN)/python -m bench

clean:
	rm -rf target logs data
