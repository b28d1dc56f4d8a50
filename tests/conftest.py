"""Shared fixtures: a replay server on 127.0.0.1 and an isolated warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.alert_receiver import AlertReceiver
from tests.replay_server import DATA_DIR, ReplayServer, Store

__all__ = ["DATA_DIR"]

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    """The recorded real API responses, served on 127.0.0.1 at a free port."""
    with ReplayServer(Store.from_dir()) as server:
        yield server


@pytest.fixture
def warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replay: ReplayServer
) -> Path:
    """A fresh warehouse path, pipeline folder and API URL for one test.

    Retries are kept but without waiting, so error tests stay quick.
    """
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("WAREHOUSE_PATH", str(path))
    monkeypatch.setenv("LAKE_URL", str(tmp_path / "lake"))
    monkeypatch.setenv("PIPELINES_DIR", str(tmp_path / "pipelines"))
    monkeypatch.setenv("SOURCES__FAKESTORE__BASE_URL", replay.url)
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_RETRY_DELAY", "0")
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    monkeypatch.setenv("DBT_PROFILES_DIR", str(REPO))
    return path


def query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Rows of `sql` against the warehouse, opened read-only."""
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute(sql, params).fetchall()


def row_counts(path: Path, schema: str = "raw") -> dict[str, int]:
    tables = query(
        path,
        "select table_name from information_schema.tables"
        f" where table_schema = '{schema}'"
        " and table_name not like '\\_dlt%' escape '\\'",
    )
    return {
        name: query(path, f'select count(*) from {schema}."{name}"')[0][0]
        for (name,) in tables
    }


def run_loader(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m loader` as a user runs it, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "loader", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def dbt(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A dbt command in the project, as `make build` runs it."""
    return subprocess.run(
        [
            str(BIN / "dbt"),
            *args,
            "--warn-error-options",
            '{"error": ["Deprecations"]}',
        ],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertReceiver]:
    """A webhook on 127.0.0.1, set as ALERT_WEBHOOK_URL, keeping each alert."""
    with AlertReceiver() as receiver:
        monkeypatch.setenv("ALERT_WEBHOOK_URL", receiver.url)
        yield receiver
