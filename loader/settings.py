"""Defaults and names the loader shares with the dbt project and the README."""

from __future__ import annotations

PIPELINE_NAME = "fakestore"
DATASET_NAME = "raw"

DEFAULT_BASE_URL = "https://fakestoreapi.com"
# The recorded carts start on 2020-01-01; a first run starts there.
DEFAULT_START_DATE = "2020-01-01"
# About 28 windows from 2020 to 2026: a polite first run over the real API,
# while a daily run still asks for a single window.
DEFAULT_WINDOW_DAYS = 90
DEFAULT_LAG_DAYS = 7
DEFAULT_MAX_WORKERS = 8

# Environment variables read outside dlt's own config.
WAREHOUSE_PATH_ENV = "WAREHOUSE_PATH"
DEFAULT_WAREHOUSE_PATH = "data/warehouse.duckdb"
LAKE_URL_ENV = "LAKE_URL"
DEFAULT_LAKE_URL = "data/lake"
# The lake's raw files; dbt's lake target reads them with read_parquet.
LAKE_FILE_FORMAT = "parquet"
PIPELINES_DIR_ENV = "PIPELINES_DIR"
DEFAULT_PIPELINES_DIR = "data/.pipelines"

# Raw table names; the dbt sources read the same names.
PRODUCTS = "products"
USERS = "users"
CARTS = "carts"
CART_LINES = "carts__products"
QUARANTINE = "quarantine"
