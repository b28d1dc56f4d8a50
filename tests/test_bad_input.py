"""Bad input: every kind is kept under a documented rule or refused into
`raw.quarantine` with its reason and payload, and the run says how many.

One load of the recorded data plus a cart (and user) per kind of bad input,
one `dbt build`, then a test per kind reads its own rows: the mart row of
its user, its raw rows and its quarantine rows. Whole responses that cannot
be read (not JSON, an HTML page, an object, null, an empty list) fail the
run with one line and leave the warehouse as it was.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from loader.pipeline import LoaderError, run
from tests.conftest import REPO, dbt, query, row_counts, run_loader
from tests.replay_server import ReplayServer, Reply, Store
from tests.test_end_to_end import EXPECTED, MART

DAY = "2020-02-10T00:00:00.000Z"
FIRST_WINDOW = "2020-01-01T00:00:00.000Z"


def product(pid: int, category: str, price: Any = 12.5) -> dict[str, Any]:
    return {
        "id": pid,
        "title": f"product {pid}",
        "price": price,
        "description": "made up for a test",
        "category": category,
        "image": "https://example.invalid/img.png",
        "rating": {"rate": 4.1, "count": 7},
    }


def cart(cid: int, lines: list[Any], date: Any = DAY, **fields: Any) -> dict:
    record = {"id": cid, "userId": cid, "date": date, "products": lines}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not MISSING}


MISSING = object()


@dataclass
class Case:
    """One kind of bad input: what is sent, and what must come out."""

    name: str
    carts: list[dict[str, Any]] = field(default_factory=list)
    # Carts the API cannot place in a date window (no date, a bad date):
    # the replay adds them to the first window's answer.
    unplaced: list[dict[str, Any]] = field(default_factory=list)
    # (endpoint, record_id, words of the reason) of each quarantine row.
    refused: list[tuple[str, str | None, str]] = field(default_factory=list)
    # The user's mart row without user_id, or None for no row.
    mart: tuple | None = None
    user: int = 0
    # Rows in raw.carts and raw.carts__products for the case's cart id.
    raw_carts: int = 0
    raw_lines: int = 0


def line(pid: Any = MISSING, qty: Any = MISSING, **extra: Any) -> dict:
    values = {"productId": pid, "quantity": qty, **extra}
    return {k: v for k, v in values.items() if v is not MISSING}


FEB10 = dt.date(2020, 2, 10)
MEN = "men's clothing"
# (latest_cart_date, top_category, top_category_quantity, cart_count, total)
NO_POSITIVE_LINE = (None, None, None, 0, 0)

CASES = [
    Case(
        "missing userId",
        carts=[cart(101, [line(1, 1)], userId=MISSING)],
        refused=[("/carts", "101", "missing or non-integer userId")],
        user=101,
    ),
    Case(
        "null userId",
        carts=[cart(102, [line(1, 1)], userId=None)],
        refused=[("/carts", "102", "missing or non-integer userId")],
        user=102,
    ),
    Case(
        "missing date",
        unplaced=[cart(103, [line(1, 1)], date=MISSING)],
        refused=[("/carts", "103", "missing date")],
        user=103,
    ),
    Case(
        "null date",
        unplaced=[cart(104, [line(1, 1)], date=None)],
        refused=[("/carts", "104", "missing date")],
        user=104,
    ),
    Case(
        "missing products",
        carts=[cart(105, MISSING)],
        refused=[("/carts", "105", "missing products list")],
        user=105,
    ),
    Case(
        "null products",
        carts=[cart(106, None)],
        refused=[("/carts", "106", "missing products list")],
        user=106,
    ),
    Case(
        "missing productId",
        carts=[cart(107, [line(qty=2), line(1, 3)])],
        refused=[("/carts", "107", "missing or non-integer productId")],
        mart=(FEB10, MEN, 3, 1, 3),
        user=107,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "null productId",
        carts=[cart(108, [line(None, 2), line(1, 3)])],
        refused=[("/carts", "108", "missing or non-integer productId")],
        mart=(FEB10, MEN, 3, 1, 3),
        user=108,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "missing quantity",
        carts=[cart(109, [line(1), line(5, 1)])],
        refused=[("/carts", "109", "missing or null quantity")],
        mart=(FEB10, "jewelery", 1, 1, 1),
        user=109,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "null quantity",
        carts=[cart(110, [line(1, None), line(5, 1)])],
        refused=[("/carts", "110", "missing or null quantity")],
        mart=(FEB10, "jewelery", 1, 1, 1),
        user=110,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "quantity as a string",
        carts=[cart(111, [line(1, " 3"), line(5, "2")])],
        mart=(FEB10, MEN, 3, 1, 5),
        user=111,
        raw_carts=1,
        raw_lines=2,
    ),
    Case(
        "quantity as a word",
        carts=[cart(112, [line(1, "three"), line(5, 1)])],
        refused=[("/carts", "112", "unusable quantity 'three'")],
        mart=(FEB10, "jewelery", 1, 1, 1),
        user=112,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "zero quantity",
        carts=[cart(113, [line(1, 0)])],
        mart=NO_POSITIVE_LINE,
        user=113,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "negative quantity",
        carts=[cart(114, [line(1, -2), line(5, 1)])],
        mart=(FEB10, "jewelery", 1, 1, 1),
        user=114,
        raw_carts=1,
        raw_lines=2,
    ),
    Case(
        "product absent from /products",
        carts=[cart(115, [line(999, 5), line(5, 1)])],
        mart=(FEB10, "jewelery", 1, 1, 6),
        user=115,
        raw_carts=1,
        raw_lines=2,
    ),
    Case(
        "same product twice in one cart",
        carts=[cart(116, [line(1, 2), line(9, 4), line(1, 3)])],
        mart=(FEB10, MEN, 5, 1, 9),
        user=116,
        raw_carts=1,
        raw_lines=3,
    ),
    Case(
        "date with an offset",
        carts=[cart(117, [line(1, 1)], date="2020-03-01T22:30:00.000-03:00")],
        mart=(dt.date(2020, 3, 2), MEN, 1, 1, 1),
        user=117,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "date without milliseconds",
        carts=[cart(118, [line(1, 1)], date="2020-03-01T10:00:00Z")],
        mart=(dt.date(2020, 3, 1), MEN, 1, 1, 1),
        user=118,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "date without a zone",
        carts=[cart(119, [line(1, 1)], date="2020-03-01T23:30:00")],
        mart=(dt.date(2020, 3, 1), MEN, 1, 1, 1),
        user=119,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "malformed date",
        unplaced=[cart(120, [line(1, 1)], date="2020-02-31 noonish")],
        refused=[("/carts", "120", "malformed date '2020-02-31 noonish'")],
        user=120,
    ),
    Case(
        "new field in a cart and in a line",
        carts=[cart(121, [line(1, 1, giftWrap=True)], coupon="SPRING")],
        mart=(FEB10, MEN, 1, 1, 1),
        user=121,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "duplicate cart id in one response",
        carts=[cart(122, [line(1, 1)]), cart(122, [line(5, 2)])],
        refused=[("/carts", "122", "duplicate id 122 in one response")],
        mart=(FEB10, "jewelery", 2, 1, 2),
        user=122,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "category with an apostrophe and surrounding spaces",
        carts=[cart(123, [line(101, 2)])],
        mart=(FEB10, "kids' toys", 2, 1, 2),
        user=123,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "category with a curly quote",
        carts=[cart(124, [line(102, 2)])],
        mart=(FEB10, "women\u2019s shoes", 2, 1, 2),
        user=124,
        raw_carts=1,
        raw_lines=1,
    ),
    Case(
        "category with accents",
        carts=[cart(125, [line(103, 2)])],
        mart=(FEB10, "\u00e9picerie fine", 2, 1, 2),
        user=125,
        raw_carts=1,
        raw_lines=1,
    ),
]
NEW_PRODUCTS = [
    product(101, "  kids' toys "),
    product(102, "women\u2019s shoes"),
    product(103, "\u00e9picerie fine", price=7),
    {"title": "a product without id", "category": "jewelery"},
]
# Users: one without id, and user 1 twice (the last copy wins).
BAD_USERS = [
    {"username": "no-id", "password": "hunter2-no-id"},
    {"id": 1, "username": "johnd-old", "password": "old-secret-1"},
]
ENTITY_REFUSALS = [
    ("/products", None, "missing or non-integer id"),
    ("/users", "1", "duplicate id 1 in one response"),
    ("/users", None, "missing or non-integer id"),
]


@dataclass
class Loaded:
    path: Path
    stderr: str
    built: Any


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    """The recorded data with every bad input, loaded once and built once."""
    tmp = tmp_path_factory.mktemp("bad_input")
    store = Store.from_dir()
    store.products = store.products + NEW_PRODUCTS
    store.users = BAD_USERS + store.users
    store.replace_carts(store.carts + [c for case in CASES for c in case.carts])
    unplaced = [c for case in CASES for c in case.unplaced]

    with ReplayServer(store) as server:

        def hook(path: str, params: dict[str, str], number: int) -> Reply | None:
            if path != "/carts" or params.get("startdate") != FIRST_WINDOW:
                return None
            answer = json.loads(server.answer(path, params).body)
            return Reply(body=json.dumps(answer + unplaced).encode())

        server.fault = hook
        env = {
            "WAREHOUSE_PATH": str(tmp / "warehouse.duckdb"),
            "PIPELINES_DIR": str(tmp / "pipelines"),
            "SOURCES__FAKESTORE__BASE_URL": server.url,
            "DBT_TARGET_PATH": str(tmp / "target"),
            "DBT_LOG_PATH": str(tmp / "logs"),
            "DBT_PROFILES_DIR": str(REPO),
            # West of UTC: a zone-less date must not move to the local day.
            "TZ": "America/Sao_Paulo",
        }
        loaded = run_loader(env=env)
    assert loaded.returncode == 0, loaded.stderr
    built = dbt("build", env=env)
    yield Loaded(tmp / "warehouse.duckdb", loaded.stderr, built)


def refused_rows(path: Path) -> list[tuple]:
    return query(
        path,
        "select endpoint, record_id, reason, payload from raw.quarantine"
        " order by endpoint, record_id, reason",
    )


def test_the_run_counts_what_it_refused_and_dbt_builds(loaded: Loaded) -> None:
    refused = [r for case in CASES for r in case.refused] + ENTITY_REFUSALS
    kept = [case for case in CASES if case.raw_carts]

    assert f"{len(refused)} record(s) quarantined" in loaded.stderr
    assert row_counts(loaded.path) == {
        "products": 23,
        "users": 10,
        "carts": 7 + len(kept),
        "carts__products": 14 + sum(case.raw_lines for case in kept),
        "quarantine": len(refused),
    }
    # Labels outside the usual four only warn; nothing fails.
    assert loaded.built.returncode == 0, loaded.built.stdout
    assert " ERROR=0 " in loaded.built.stdout
    # The recorded users read as they always do.
    assert query(loaded.path, MART + " limit 10") == EXPECTED


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_bad_input_is_kept_by_its_rule_or_refused(
    loaded: Loaded, case: Case
) -> None:
    mart = query(
        loaded.path,
        "select latest_cart_date, top_category, top_category_quantity,"
        " cart_count, total_quantity from marts.user_cart_summary"
        " where user_id = ?",
        [case.user],
    )
    carts = query(
        loaded.path, "select count(*) from raw.carts where id = ?", [case.user]
    )
    lines = query(
        loaded.path,
        "select count(*) from raw.carts__products where cart_id = ?",
        [case.user],
    )
    refused = [r for r in refused_rows(loaded.path) if r[1] == str(case.user)]

    assert mart == ([case.mart] if case.mart else [])
    assert (carts, lines) == ([(case.raw_carts,)], [(case.raw_lines,)])
    assert len(refused) == len(case.refused)
    for (endpoint, record_id, reason, payload), expected in zip(
        refused, case.refused, strict=True
    ):
        assert (endpoint, record_id) == expected[:2]
        assert expected[2] in reason
        # The payload is the record as received (a line with its cart id).
        sent = json.loads(payload)
        assert sent.get("id", sent.get("cartId")) == case.user


def test_refused_products_and_users_keep_their_payload_without_password(
    loaded: Loaded,
) -> None:
    rows = [r for r in refused_rows(loaded.path) if r[0] != "/carts"]

    assert [(e, i) for e, i, _, _ in rows] == [(e, i) for e, i, _ in ENTITY_REFUSALS]
    for (_, _, reason, payload), expected in zip(rows, ENTITY_REFUSALS, strict=True):
        assert expected[2] in reason
        assert "password" not in json.loads(payload)
    assert json.loads(rows[0][3])["title"] == "a product without id"
    assert json.loads(rows[1][3])["username"] == "johnd-old"
    # User 1's last copy (the recorded one) is the one loaded.
    assert query(loaded.path, "select username from raw.users where id = 1") == [
        ("johnd",)
    ]


def test_new_fields_land_as_columns(loaded: Loaded) -> None:
    assert query(loaded.path, "select coupon from raw.carts where id = 121") == [
        ("SPRING",)
    ]
    assert query(
        loaded.path, "select gift_wrap from raw.carts__products where cart_id = 121"
    ) == [(True,)]


def test_category_labels_are_trimmed_and_otherwise_kept(loaded: Loaded) -> None:
    labels = query(
        loaded.path,
        "select category from staging.stg_fakestore__products"
        " where product_id > 100 order by product_id",
    )
    assert labels == [("kids' toys",), ("women\u2019s shoes",), ("\u00e9picerie fine",)]


LOADS = "select load_id, status from raw._dlt_loads order by load_id"
BAD_RESPONSES = [
    ("/products", Reply(body=b"Internal error, try later"), "not JSON"),
    (
        "/users",
        Reply(body=b"<!doctype html><html><body>Oops</body></html>"),
        "answered HTTP 200 with a body that is not JSON, starting '<!doctype html>",
    ),
    ("/carts", Reply(body=b'{"carts": []}'), "answered JSON dict where a list"),
    ("/users", Reply(body=b"null"), "answered JSON null where a list"),
    ("/products", Reply(body=b"[]"), "/products answered an empty list"),
    ("/users", Reply(body=b"[]"), "/users answered an empty list"),
]


@pytest.mark.parametrize(
    ("path", "reply", "message"),
    BAD_RESPONSES,
    ids=[
        "not JSON",
        "HTML with 200",
        "object",
        "null",
        "empty products",
        "empty users",
    ],
)
def test_an_unreadable_response_fails_the_run_and_changes_nothing(
    warehouse: Path, replay: ReplayServer, path: str, reply: Reply, message: str
) -> None:
    run()
    before = row_counts(warehouse)
    loads = query(warehouse, LOADS)
    cursor = max(enddates(replay.requests_to("/carts")))
    replay.reset_log()
    replay.fault = lambda seen, params, number: reply if seen == path else None

    with pytest.raises(LoaderError, match="GET http://127.0.0.1:") as failed:
        run()

    assert message in str(failed.value)
    assert path in str(failed.value)
    # No load reached the warehouse, so the mart built on it stays the
    # clean one (test_end_to_end builds that from these very tables).
    assert row_counts(warehouse) == before
    assert query(warehouse, LOADS) == loads
    assert "quarantine" not in before
    # Once the API answers again, the next run starts where the last good
    # one ended (less the lag): the failed run moved no cursor.
    replay.fault = None
    replay.reset_log()
    assert run().rows == {"products": 20, "users": 10}
    assert row_counts(warehouse) == before
    first = min(startdates(replay.requests_to("/carts")))
    assert first == cursor - dt.timedelta(days=7)


def startdates(targets: list[str]) -> list[dt.datetime]:
    return [_param(target, "startdate") for target in targets]


def enddates(targets: list[str]) -> list[dt.datetime]:
    return [_param(target, "enddate") for target in targets]


def _param(target: str, name: str) -> dt.datetime:
    value = parse_qs(urlsplit(target).query)[name][0]
    return dt.datetime.fromisoformat(value)


def test_empty_carts_windows_are_no_carts(
    warehouse: Path, replay: ReplayServer
) -> None:
    run()
    assert dbt("run").returncode == 0
    before = row_counts(warehouse)
    replay.fault = lambda path, params, number: (
        Reply(body=b"[]") if path == "/carts" else None
    )

    summary = run()
    built = dbt("run")

    assert built.returncode == 0, built.stdout
    assert summary.rows == {"products": 20, "users": 10}
    assert summary.quarantined == 0
    assert row_counts(warehouse) == before
    assert query(warehouse, MART) == EXPECTED
