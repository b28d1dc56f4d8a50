"""The loader against the replay server: what lands in raw, and how it fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dlt.common.exceptions import DltException

from loader.pipeline import LoaderError, _one_line, run
from tests.conftest import DATA_DIR, dbt, query, row_counts, run_loader
from tests.replay_server import ReplayServer, Reply

RECORDED = {"products": 20, "users": 10, "carts": 7, "carts__products": 14}


def passwords() -> list[str]:
    users = json.loads((DATA_DIR / "users.json").read_text("utf-8"))
    return [user["password"] for user in users]


def test_a_load_lands_every_raw_table(warehouse: Path) -> None:
    summary = run()

    assert row_counts(warehouse) == RECORDED
    assert summary.rows == RECORDED
    assert summary.full_reload
    assert query(warehouse, "select count(*) from raw.carts where user_id = 1") == [
        (2,)
    ]
    # Integer prices in the response do not change the column's type.
    assert query(
        warehouse, "select price from raw.products where id in (1, 8) order by id"
    ) == [(109.95,), (10.99,)]


def test_no_password_is_stored_anywhere(warehouse: Path, tmp_path: Path) -> None:
    run()

    columns = query(
        warehouse,
        "select table_schema, table_name, column_name from information_schema.columns"
        " where data_type = 'VARCHAR'",
    )
    assert not [c for c in columns if "password" in c[2]]
    secrets = passwords()
    for schema, table, column in columns:
        hits = query(
            warehouse,
            f'select count(*) from {schema}."{table}"'
            f' where list_contains(?, "{column}")',
            [secrets],
        )
        assert hits == [(0,)], f"a password in {schema}.{table}.{column}"
    # The pipeline's own folder (state, load packages) holds none either.
    for file in (tmp_path / "pipelines").rglob("*"):
        if file.is_file():
            content = file.read_bytes()
            assert not [s for s in secrets if s.encode() in content], file


def test_a_rerun_without_new_data_changes_no_row_count(warehouse: Path) -> None:
    run()
    before = row_counts(warehouse)

    summary = run()

    assert row_counts(warehouse) == before
    assert not summary.full_reload


def test_the_cli_logs_a_line_per_table_and_exits_zero(warehouse: Path) -> None:
    result = run_loader()

    assert result.returncode == 0, result.stderr
    for table, rows in RECORDED.items():
        assert f"table {table}: {rows} rows in " in result.stderr


@pytest.mark.parametrize(
    ("path", "reply", "message"),
    [
        ("/carts", Reply(status=500, body=b"oops"), "/carts?startdate="),
        ("/users", Reply(status=404, body=b"Not Found"), "/users answered HTTP 404"),
        (
            "/products",
            Reply(body=b"<html><body>Service unavailable</body></html>"),
            "/products answered HTTP 200 with a body that is not JSON",
        ),
        (
            "/users",
            Reply(body=b'{"message": "rate limited"}'),
            "/users answered JSON dict where a list was expected",
        ),
        ("/products", Reply(body=b"null"), "answered JSON null where a list"),
    ],
)
def test_a_bad_answer_fails_with_one_clear_line_and_keeps_the_warehouse(
    warehouse: Path, replay: ReplayServer, path: str, reply: Reply, message: str
) -> None:
    run()
    before = row_counts(warehouse)
    replay.fault = lambda seen, query, number: reply if seen == path else None

    result = run_loader()

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    assert message in errors[0]
    if reply.status != 200:
        assert f"HTTP {reply.status}" in errors[0]
    assert row_counts(warehouse) == before


def test_an_unreachable_api_is_named(warehouse: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOURCES__FAKESTORE__BASE_URL", "http://127.0.0.1:9")

    with pytest.raises(
        LoaderError,
        match=r"GET http://127.0.0.1:9/\S+ failed after 3 attempt\(s\): Conn",
    ):
        run()

    assert not warehouse.exists() or row_counts(warehouse) == {}


def test_a_first_load_without_any_cart_still_gives_every_user_a_row(
    warehouse: Path, replay: ReplayServer
) -> None:
    replay.store.replace_carts([])

    summary = run()
    built = dbt("build")

    assert summary.rows == {
        "products": 20,
        "users": 10,
        "carts": 0,
        "carts__products": 0,
    }
    assert built.returncode == 0, built.stdout
    assert query(
        warehouse,
        "select count(*), count(latest_cart_date), count(top_category),"
        " sum(cart_count) from marts.user_cart_summary",
    ) == [(10, 0, 0, 0)]


def test_a_start_date_after_now_is_refused_not_skipped(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__FAKESTORE__START_DATE", "2999-01-01")

    with pytest.raises(LoaderError, match=r"start_date '2999-01-01' is not before"):
        run()

    assert not warehouse.exists() or row_counts(warehouse) == {}


def test_a_max_workers_that_is_not_a_number_is_named(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCES__FAKESTORE__MAX_WORKERS", "abc")

    result = run_loader()

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, result.stderr
    assert "max_workers" in errors[0]
    assert "Traceback" not in result.stderr


def test_an_unreadable_warehouse_fails_instead_of_reloading(warehouse: Path) -> None:
    warehouse.write_bytes(b"not a duckdb file" * 100)

    with pytest.raises(LoaderError, match="warehouse"):
        run()

    assert warehouse.read_bytes() == b"not a duckdb file" * 100


def test_a_failure_inside_dlt_is_named_by_its_cause() -> None:
    wrapper = DltException("Pipeline execution failed at `step=normalize` with:")
    wrapper.__cause__ = ValueError("Column 'id' is declared non-nullable\nmore")
    outer = RuntimeError("a library's own message")
    outer.__cause__ = OSError("deeper detail")

    assert _one_line(wrapper) == "ValueError: Column 'id' is declared non-nullable"
    # Outside dlt's wrappers, the first error already says what happened.
    assert _one_line(outer) == "RuntimeError: a library's own message"
