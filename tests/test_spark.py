"""The same models on Apache Spark (local[2]) over the Parquet lake.

The loader writes the lake from the recorded API, `dbt build --target spark`
reads it through external tables, and the mart must equal the DuckDB mode's
row for row, types included. Two loads, with a cart edited and one added in
between, check that both engines keep each cart's newest version and cut
days in UTC, in a process zone west of UTC.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from tests.conftest import dbt, query, run_loader
from tests.replay_server import ReplayServer
from tests.test_end_to_end import EXPECTED, MART

# Between the loads: cart 6 (user 4) loses its line of product 12, and user
# 5 gets a cart at 01:30 UTC on 2020-03-04 (the 3rd in Sao Paulo) with a
# jewelery line and a line of a product /products does not know.
EDITED_CART = {"id": 6, "products": [{"productId": 10, "quantity": 2}]}
NEW_CART = {
    "id": 8,
    "userId": 5,
    "date": "2020-03-04T01:30:00.000Z",
    "products": [
        {"productId": 5, "quantity": 1},
        {"productId": 999, "quantity": 3},
    ],
    "__v": 0,
}
EXPECTED_AFTER_EDIT = [
    row
    if row[0] not in (4, 5)
    else {
        4: (4, dt.date(2020, 3, 1), "electronics", 2, 1, 2),
        5: (5, dt.date(2020, 3, 4), "jewelery", 1, 1, 4),
    }[row[0]]
    for row in EXPECTED
]
COLUMNS = """
    select column_name, data_type from information_schema.columns
    where table_schema = 'marts' and table_name = 'user_cart_summary'
    order by ordinal_position
"""
WEST = {"TZ": "America/Sao_Paulo"}
# The second load reads every cart again, not only the last lag_days.
READ_ALL_AGAIN = {**WEST, "SOURCES__FAKESTORE__LAG_DAYS": "3650"}


def edit_carts(replay: ReplayServer) -> None:
    carts = copy.deepcopy(replay.store.carts)
    for cart in carts:
        if cart["id"] == EDITED_CART["id"]:
            cart["products"] = EDITED_CART["products"]
    replay.store.replace_carts([*carts, NEW_CART])


def ran(stdout: str) -> str:
    """dbt's count of what a build ran: hooks, models, data and unit tests."""
    return re.findall(r"Finished running (.*?) in \d+ hours", stdout)[-1]


def summary(stdout: str) -> str:
    """dbt's closing line: PASS=.. WARN=.. ERROR=.. SKIP=.."""
    return re.findall(r"PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+", stdout)[-1]


def spark_mart(warehouse_dir: Path) -> tuple[list[tuple], list[tuple]]:
    """The Spark table's rows and column types, read from its Parquet files."""
    files = warehouse_dir / "marts.db" / "user_cart_summary" / "*.parquet"
    with duckdb.connect() as connection:
        connection.execute("create schema marts")
        connection.execute(
            "create view marts.user_cart_summary as"
            f" select * from read_parquet('{files}')"
        )
        return connection.execute(MART).fetchall(), connection.execute(
            COLUMNS
        ).fetchall()


def test_spark_builds_the_duckdb_mart_from_the_lake(
    warehouse: Path,
    replay: ReplayServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spark_dir = tmp_path / "spark-warehouse"
    monkeypatch.setenv("SPARK_WAREHOUSE_DIR", str(spark_dir))
    # Whatever a mart writes beside its table stays out of the repository.
    monkeypatch.setenv("MARTS_EXPORT_DIR", str(tmp_path / "exports"))
    for destination in ("duckdb", "filesystem"):
        loaded = run_loader("--destination", destination, env=WEST)
        assert loaded.returncode == 0, loaded.stderr
    edit_carts(replay)
    for destination in ("duckdb", "filesystem"):
        loaded = run_loader("--destination", destination, env=READ_ALL_AGAIN)
        assert loaded.returncode == 0, loaded.stderr

    on_duckdb = dbt("build", env=WEST)
    on_spark = dbt("build", "--target", "spark", env=WEST)

    assert on_duckdb.returncode == 0, on_duckdb.stdout
    assert on_spark.returncode == 0, on_spark.stdout[-5000:]
    # The same models, data tests and unit tests ran on Spark as on DuckDB,
    # with the same outcome: one warning, for the line of product 999 that
    # /products does not know.
    assert ran(on_spark.stdout) == ran(on_duckdb.stdout)
    assert "unit tests" in ran(on_spark.stdout)
    assert summary(on_spark.stdout) == summary(on_duckdb.stdout)
    assert "WARN=1 ERROR=0 SKIP=0" in summary(on_spark.stdout)
    rows, types = spark_mart(spark_dir)
    assert rows == query(warehouse, MART) == EXPECTED_AFTER_EDIT
    assert types == query(warehouse, COLUMNS)
