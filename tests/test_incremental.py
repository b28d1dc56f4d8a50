"""Windows, cursor and lag against the replay server with synthetic carts.

Every run pins `now`, so the windows asked for are known to the millisecond:
start_date 2024-01-01, windows of 10 days, a lag of 3 days, a first run up to
2024-01-31 (the cursor), a second one up to 2024-02-10.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from loader.pipeline import run
from tests.conftest import dbt, query, row_counts, run_loader
from tests.replay_server import ReplayServer, Reply, Store

UTC = dt.UTC
FIRST_NOW = dt.datetime(2024, 1, 31, tzinfo=UTC)
SECOND_NOW = dt.datetime(2024, 2, 10, tzinfo=UTC)
OPTIONS = {"start_date": "2024-01-01", "window_days": 10, "lag_days": 3}

PRODUCTS = [
    {"id": 1, "title": "drive", "price": 64, "category": "electronics"},
    {"id": 2, "title": "jacket", "price": 55.99, "category": "men's clothing"},
    {"id": 3, "title": "ring", "price": 9.99, "category": "jewelery"},
]


def user(user_id: int) -> dict[str, Any]:
    return {
        "id": user_id,
        "email": f"u{user_id}@example.invalid",
        "username": f"u{user_id}",
        "password": f"secret-{user_id}",
        "name": {"firstname": f"f{user_id}", "lastname": f"l{user_id}"},
        "address": {"city": "kilcoole"},
    }


def cart(cart_id: int, user_id: int, date: str, *lines: tuple[int, int]) -> dict:
    return {
        "id": cart_id,
        "userId": user_id,
        "date": date,
        "products": [{"productId": p, "quantity": q} for p, q in lines],
        "__v": 0,
    }


# Cart 1 opens the data; cart 2 sits exactly on the boundary between the
# first and second windows; cart 3 is inside the lag of the first run's
# cursor; cart 4 is exactly at the cursor, so the first run (enddate
# exclusive) does not see it and the second run does.
ON_BOUNDARY = cart(2, 1, "2024-01-11T00:00:00.000Z", (2, 4))
IN_LAG = cart(3, 2, "2024-01-29T12:00:00.000Z", (1, 2), (2, 1))
AT_CURSOR = cart(4, 3, "2024-01-31T00:00:00.000Z", (3, 1))
CARTS = [
    cart(1, 1, "2024-01-01T00:00:00.000Z", (1, 1)),
    ON_BOUNDARY,
    IN_LAG,
    AT_CURSOR,
]


def windows_asked(server: ReplayServer) -> list[tuple[str, str]]:
    """(startdate, enddate) of every /carts request, in order of start."""
    asked = []
    for target in server.requests_to("/carts"):
        params = parse_qs(urlsplit(target).query)
        asked.append((params["startdate"][0], params["enddate"][0]))
    return sorted(asked)


def served_ids(server: ReplayServer, cart_id: int) -> int:
    """How many /carts responses contained `cart_id`, replaying the log."""
    seen = 0
    for start, end in windows_asked(server):
        body = server.answer("/carts", {"startdate": start, "enddate": end}).body
        seen += f'"id":{cart_id},'.encode() in body
    return seen


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    """Synthetic carts instead of the recorded ones (the warehouse uses this)."""
    store = Store(PRODUCTS, [user(1), user(2), user(3)], list(CARTS))
    with ReplayServer(store) as server:
        yield server


def test_the_first_run_asks_for_every_window_from_start_date(
    warehouse: Path, replay: ReplayServer
) -> None:
    summary = run(now=FIRST_NOW, **OPTIONS)

    assert windows_asked(replay) == [
        ("2024-01-01T00:00:00.000Z", "2024-01-11T00:00:00.000Z"),
        ("2024-01-11T00:00:00.000Z", "2024-01-21T00:00:00.000Z"),
        ("2024-01-21T00:00:00.000Z", "2024-01-31T00:00:00.000Z"),
    ]
    assert summary.full_reload
    # Rows counted before the merge: a cart read twice would count twice.
    assert summary.rows["carts"] == 3
    assert summary.rows["carts__products"] == 4
    assert served_ids(replay, ON_BOUNDARY["id"]) == 1
    assert query(warehouse, "select id from raw.carts order by id") == [
        (1,),
        (2,),
        (3,),
    ]


def test_the_second_run_asks_from_cursor_minus_lag_to_now(
    warehouse: Path, replay: ReplayServer
) -> None:
    run(now=FIRST_NOW, **OPTIONS)
    replay.reset_log()

    summary = run(now=SECOND_NOW, **OPTIONS)

    assert windows_asked(replay) == [
        ("2024-01-28T00:00:00.000Z", "2024-02-07T00:00:00.000Z"),
        ("2024-02-07T00:00:00.000Z", "2024-02-10T00:00:00.000Z"),
    ]
    assert not summary.full_reload
    # The lag re-reads cart 3; the cart at the cursor is read for the first
    # time; the cart on the old boundary is not read again.
    assert summary.rows["carts"] == 2
    assert served_ids(replay, IN_LAG["id"]) == 1
    assert served_ids(replay, AT_CURSOR["id"]) == 1
    assert served_ids(replay, ON_BOUNDARY["id"]) == 0
    counts = "select id, count(*) from raw.carts group by id order by id"
    assert query(warehouse, counts) == [(1, 1), (2, 1), (3, 1), (4, 1)]


def test_an_edited_cart_inside_the_lag_is_taken_in_its_new_version(
    warehouse: Path, replay: ReplayServer
) -> None:
    run(now=FIRST_NOW, **OPTIONS)
    # Cart 3 is edited upstream: it loses its jacket and its drives become
    # three rings. Cart 1, edited too, is outside the lag and is not re-read.
    edited = cart(3, 2, IN_LAG["date"], (3, 5))
    stale = cart(1, 1, "2024-01-01T00:00:00.000Z", (1, 9))
    replay.store.replace_carts([stale, ON_BOUNDARY, edited, AT_CURSOR])

    run(now=SECOND_NOW, **OPTIONS)
    built = dbt("build")

    assert built.returncode == 0, built.stdout
    lines = "select product_id, quantity from raw.carts__products where cart_id = ?"
    assert query(warehouse, lines, [3]) == [(3, 5)]
    assert query(warehouse, lines, [1]) == [(1, 1)]
    mart = query(
        warehouse,
        "select user_id, latest_cart_date, top_category, top_category_quantity,"
        " cart_count, total_quantity from marts.user_cart_summary order by user_id",
    )
    assert mart == [
        (1, dt.date(2024, 1, 11), "men's clothing", 4, 2, 5),
        (2, dt.date(2024, 1, 29), "jewelery", 5, 1, 5),
        (3, dt.date(2024, 1, 31), "jewelery", 1, 1, 1),
    ]


def test_a_deleted_warehouse_is_reloaded_from_start_date(
    warehouse: Path, replay: ReplayServer
) -> None:
    run(now=FIRST_NOW, **OPTIONS)
    before = row_counts(warehouse)
    # The pipeline folder keeps its cursor; the warehouse is gone.
    warehouse.unlink()
    replay.reset_log()

    summary = run(now=FIRST_NOW, **OPTIONS)

    assert summary.full_reload
    assert windows_asked(replay) == [
        ("2024-01-01T00:00:00.000Z", "2024-01-11T00:00:00.000Z"),
        ("2024-01-11T00:00:00.000Z", "2024-01-21T00:00:00.000Z"),
        ("2024-01-21T00:00:00.000Z", "2024-01-31T00:00:00.000Z"),
    ]
    assert (
        row_counts(warehouse)
        == before
        == {
            "products": 3,
            "users": 3,
            "carts": 3,
            "carts__products": 4,
        }
    )


def test_full_refresh_from_the_cli_reloads_everything(
    warehouse: Path, replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in OPTIONS.items():
        monkeypatch.setenv(f"SOURCES__FAKESTORE__{name.upper()}", str(value))
    monkeypatch.setenv("SOURCES__FAKESTORE__NOW", FIRST_NOW.isoformat())
    assert run_loader().returncode == 0
    # Cart 1 is deleted upstream: only a full refresh drops it from raw.
    replay.store.replace_carts(CARTS[1:])
    replay.reset_log()

    result = run_loader("--full-refresh")

    assert result.returncode == 0, result.stderr
    assert "full reload" in result.stderr
    assert len(windows_asked(replay)) == 3
    assert windows_asked(replay)[0][0] == "2024-01-01T00:00:00.000Z"
    assert query(warehouse, "select id from raw.carts order by id") == [(2,), (3,)]
    assert row_counts(warehouse)["carts__products"] == 3


@pytest.mark.parametrize("workers", [1, 4])
def test_windows_are_fetched_concurrently_up_to_max_workers(
    warehouse: Path,
    replay: ReplayServer,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
) -> None:
    monkeypatch.setenv("SOURCES__FAKESTORE__MAX_WORKERS", str(workers))
    lock = threading.Lock()
    in_flight = {"now": 0, "max": 0}

    def slow(path: str, query: dict[str, str], number: int) -> Reply | None:
        # Held inside the request handler: overlapping holds are requests
        # the loader has in flight at the same time.
        with lock:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
        time.sleep(0.05)
        with lock:
            in_flight["now"] -= 1
        return None

    replay.fault = slow
    options = {**OPTIONS, "window_days": 1}

    summary = run(now=FIRST_NOW, **options)

    assert len(windows_asked(replay)) == 30
    assert summary.rows["carts"] == 3
    if workers == 1:
        assert in_flight["max"] == 1
    else:
        assert 1 < in_flight["max"] <= workers
