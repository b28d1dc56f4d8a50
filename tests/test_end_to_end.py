"""Load the recorded API, build the models, read the mart: the job end to end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.conftest import dbt, query, row_counts, run_loader

MART = """
    select user_id, latest_cart_date, top_category, top_category_quantity,
        cart_count, total_quantity
    from marts.user_cart_summary
    order by user_id
"""
MART_COLUMNS = [
    "user_id",
    "latest_cart_date",
    "top_category",
    "top_category_quantity",
    "cart_count",
    "total_quantity",
]
# The values the issue states for the recorded data; cart counts and totals
# follow from tests/data/carts.json by hand.
EXPECTED = [
    (1, dt.date(2020, 3, 2), "men's clothing", 25, 2, 27),
    (2, dt.date(2020, 3, 1), "men's clothing", 2, 1, 3),
    (3, dt.date(2020, 3, 1), "men's clothing", 4, 2, 6),
    (4, dt.date(2020, 3, 1), "electronics", 5, 1, 5),
    (5, None, None, None, 0, 0),
    (6, None, None, None, 0, 0),
    (7, None, None, None, 0, 0),
    (8, dt.date(2020, 3, 1), "women's clothing", 1, 1, 1),
    (9, None, None, None, 0, 0),
    (10, None, None, None, 0, 0),
]


def test_load_then_build_gives_the_mart_in_any_timezone(warehouse: Path) -> None:
    # West of UTC, midnight-UTC carts fall on the previous local day.
    west = {"TZ": "America/Sao_Paulo"}

    loaded = run_loader(env=west)
    built = dbt("build", env=west)

    assert loaded.returncode == 0, loaded.stderr
    assert built.returncode == 0, built.stdout
    assert query(warehouse, MART) == EXPECTED
    assert "WARN=0 ERROR=0 SKIP=0" in built.stdout


def test_running_the_job_again_changes_no_row_count(warehouse: Path) -> None:
    assert run_loader().returncode == 0
    assert dbt("build").returncode == 0
    raw, mart = row_counts(warehouse), row_counts(warehouse, "marts")

    assert run_loader().returncode == 0
    rebuilt = dbt("build")

    assert rebuilt.returncode == 0, rebuilt.stdout
    assert row_counts(warehouse) == raw
    assert row_counts(warehouse, "marts") == mart == {"user_cart_summary": 10}
    assert query(warehouse, MART) == EXPECTED


def test_the_mart_exposes_no_contact_field(warehouse: Path) -> None:
    assert run_loader().returncode == 0
    assert dbt("build").returncode == 0

    columns = query(
        warehouse,
        "select column_name from information_schema.columns"
        " where table_schema = 'marts' and table_name = 'user_cart_summary'"
        " order by ordinal_position",
    )
    assert [c for (c,) in columns] == MART_COLUMNS
