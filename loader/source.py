"""The `fakestore` dlt source: products, users and carts from the Fake Store API.

Carts are read as date windows of `/carts?startdate=…&enddate=…` (start
inclusive, end exclusive), each window one request run in dlt's worker pool
and handed on as soon as it arrives. The cursor kept in the source state is
the end of the range the last successful run asked for: the API filters by
date on the server, so the next run asks again only from that point, less a
lag that takes late or edited carts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import dlt
from dlt.common import json
from dlt.sources.helpers.requests import Client, RequestException

from loader import settings
from loader.records import Rejected, cart_batch, check_entities

logger = logging.getLogger(__name__)

CURSOR_KEY = "requested_until"
# Types pinned for the fields the models read, so that the first record's
# JSON type (an integer price, say) does not decide the column's type.
PRODUCT_COLUMNS = {
    "id": {"data_type": "bigint", "nullable": False},
    "price": {"data_type": "double"},
    "rating__rate": {"data_type": "double"},
    "rating__count": {"data_type": "bigint"},
}
USER_COLUMNS = {"id": {"data_type": "bigint", "nullable": False}}
QUARANTINE_COLUMNS = {
    name: {"data_type": "text", "nullable": True}
    for name in ("endpoint", "record_id", "reason", "payload")
}
# A column keeps its type: a value dlt cannot convert to it (a text price)
# fails the run naming table and column, instead of a variant column that
# the models would never read. New fields still add columns.
SCHEMA_CONTRACT = {"data_type": "freeze"}
# HTTP statuses dlt's client retries before the loader sees them.
RETRIED_STATUSES = frozenset({429, *range(500, 600)})


@dataclass(frozen=True)
class Window:
    """One window's response, kept as bytes until the extract thread reads it.

    Bytes are a fraction of the size of the parsed records, so the windows
    waiting in the pool cost little memory.
    """

    target: str
    status: int
    content: bytes


class ApiError(Exception):
    """The API could not be read; the message names the request and the cause."""


class ConfigError(ValueError):
    """A setting under [sources.fakestore] has a value the loader cannot use."""


def fetch(client: Client, url: str, params: dict[str, str] | None = None) -> Window:
    """GET a URL; raise ApiError naming the request if it got no answer."""
    target = f"{url}?{urlencode(params)}" if params else url
    try:
        response = client.get(url, params=params)
    except RequestException as error:
        raise ApiError(
            f"GET {target} failed after {_attempts()}: {type(error).__name__}: {error}"
        ) from error
    return Window(target, response.status_code, response.content)


def json_list(window: Window) -> list:
    """The JSON array a response holds, or ApiError naming the request."""
    target = window.target
    if window.status >= 400:
        gave_up = (
            f" (gave up after {_attempts()})"
            if window.status in RETRIED_STATUSES
            else ""
        )
        raise ApiError(f"GET {target} answered HTTP {window.status}{gave_up}")
    try:
        body = json.loadb(window.content)
    except ValueError as error:
        start = window.content[:60].decode("utf-8", "replace")
        raise ApiError(
            f"GET {target} answered HTTP {window.status} with a body that is"
            f" not JSON, starting {start!r}"
        ) from error
    if not isinstance(body, list):
        kind = "null" if body is None else type(body).__name__
        raise ApiError(f"GET {target} answered JSON {kind} where a list was expected")
    return body


def fetch_list(client: Client, url: str, params: dict[str, str] | None = None) -> list:
    """GET a JSON array, or raise ApiError naming the request and what failed."""
    return json_list(fetch(client, url, params))


def _attempts() -> str:
    tries = dlt.config.get("runtime.request_max_attempts", int)
    return f"{tries} attempt(s)" if tries else "its retries"


def parse_instant(value: str, setting: str) -> datetime:
    """A config date or timestamp as an aware UTC datetime (no zone means UTC)."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as error:
        raise ConfigError(
            f"sources.fakestore.{setting} must be an ISO date, got {value!r}"
        ) from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def date_windows(
    start: datetime, end: datetime, days: int
) -> list[tuple[datetime, datetime]]:
    """Consecutive [start, end) windows of `days` days; the last one ends at `end`."""
    windows = []
    step = timedelta(days=days)
    while start < end:
        stop = min(start + step, end)
        windows.append((start, stop))
        start = stop
    return windows


def api_time(moment: datetime) -> str:
    """The ISO form the API parses with `new Date(...)`, in UTC."""
    return (
        moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _positive(value: Any, setting: str, minimum: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if number < minimum:
        raise ConfigError(
            f"sources.fakestore.{setting} must be an integer >= {minimum},"
            f" got {value!r}"
        )
    return number


def _quarantined(rejected: list[Rejected]) -> Any:
    rows = [r.as_row() for r in rejected]
    # Its own columns, so that the resource's (a non-null `id`) do not apply.
    hints = dlt.mark.make_hints(
        table_name=settings.QUARANTINE,
        write_disposition="append",
        primary_key=[],
        columns=QUARANTINE_COLUMNS,
    )
    return dlt.mark.with_hints(rows, hints, create_table_variant=True)


@dlt.source(name=settings.PIPELINE_NAME)
def fakestore(
    base_url: str = settings.DEFAULT_BASE_URL,
    start_date: str = settings.DEFAULT_START_DATE,
    window_days: int = settings.DEFAULT_WINDOW_DAYS,
    lag_days: int = settings.DEFAULT_LAG_DAYS,
    max_workers: int = settings.DEFAULT_MAX_WORKERS,
    write_disposition: str = "merge",
    now: datetime | None = None,
) -> Any:
    """Products, users and carts of the Fake Store API at `base_url`.

    `write_disposition` is `merge` for a warehouse and `append` for a lake,
    where staging keeps the newest version of each record. `now` pins the
    end of the cart windows (tests); by default it is the time of the run.
    """
    base_url = base_url.rstrip("/")
    first_start = parse_instant(start_date, "start_date")
    window = _positive(window_days, "window_days", 1)
    lag = timedelta(days=_positive(lag_days, "lag_days", 0))
    _positive(max_workers, "max_workers", 1)
    client = Client(raise_for_status=False)

    def entities(endpoint: str, columns: dict[str, Any]) -> Iterator[Any]:
        records = fetch_list(client, f"{base_url}/{endpoint}")
        if not records:
            # The shop always lists its products and users: an empty answer
            # is an outage, and loading it would hide one.
            raise ApiError(
                f"GET {base_url}/{endpoint} answered an empty list where"
                f" {endpoint} were expected"
            )
        kept, rejected = check_entities(records, f"/{endpoint}")
        if kept:
            # Column hints on the records' own table: on the resource they
            # would also give the quarantine table a non-null `id`.
            hints = dlt.mark.make_hints(table_name=endpoint, columns=columns)
            yield dlt.mark.with_hints(kept, hints, create_table_variant=True)
        if rejected:
            yield _quarantined(rejected)

    @dlt.resource(
        name=settings.PRODUCTS,
        primary_key="id",
        write_disposition=write_disposition,
        schema_contract=SCHEMA_CONTRACT,
        parallelized=True,
        file_format="parquet",
    )
    def products() -> Iterator[Any]:
        yield from entities("products", PRODUCT_COLUMNS)

    @dlt.resource(
        name=settings.USERS,
        primary_key="id",
        write_disposition=write_disposition,
        schema_contract=SCHEMA_CONTRACT,
        parallelized=True,
        file_format="parquet",
    )
    def users() -> Iterator[Any]:
        yield from entities("users", USER_COLUMNS)

    @dlt.defer
    def fetch_window(start: datetime, stop: datetime) -> Window:
        params = {"startdate": api_time(start), "enddate": api_time(stop)}
        return fetch(client, f"{base_url}/carts", params)

    @dlt.resource(
        name=settings.CARTS,
        primary_key="id",
        write_disposition=write_disposition,
        schema_contract=SCHEMA_CONTRACT,
    )
    def carts() -> Iterator[Any]:
        state = dlt.current.resource_state()
        end = now or datetime.now(UTC)
        cursor = state.get(CURSOR_KEY)
        start = parse_instant(cursor, CURSOR_KEY) - lag if cursor else first_start
        if start >= end:
            # Else the cursor would jump to now and skip the history for good.
            raise ConfigError(
                f"sources.fakestore.start_date {start_date!r} is not before the"
                f" end of the run ({api_time(end)}): no cart window to read"
            )
        windows = date_windows(start, end, window)
        logger.info(
            "carts: %d window(s) of up to %d day(s) from %s to %s",
            len(windows),
            window,
            api_time(start),
            api_time(end),
        )
        progress.update(
            total=len(windows),
            done=0,
            logged=time.monotonic(),
            first_load=cursor is None,
            tables_seen=set(),
        )
        for window_start, window_stop in windows:
            yield fetch_window(window_start, window_stop)
        # Kept only if every window loads: a failed extract commits no state.
        state[CURSOR_KEY] = api_time(end)

    # Windows received so far, logged at most every PROGRESS_SECONDS.
    progress: dict[str, Any] = {"total": 0, "done": 0, "logged": 0.0}
    # Made once, not per window: dlt validates hints each time they are made.
    line_hints = dlt.mark.make_hints(
        table_name=settings.CART_LINES,
        write_disposition=write_disposition,
        primary_key=["cart_id", "line_number"],
        merge_key="cart_id",
    )
    # pyarrow's first use imports pandas, which is not safe across threads and
    # takes a while: done here, before the extract step and its pool start.
    cart_batch([], "/carts")

    def split_batch(window: Window) -> Iterator[Any]:
        """A window's tables, each marked for the table it goes to."""
        progress["done"] += 1
        if (
            time.monotonic() - progress["logged"] >= settings.PROGRESS_SECONDS
            or progress["done"] == progress["total"]
        ):
            progress["logged"] = time.monotonic()
            logger.info(
                "carts: %d/%d window(s) read", progress["done"], progress["total"]
            )
        batch = cart_batch(json_list(window), "/carts")
        # A first load makes both tables even when no window held a cart, so
        # that the models find them (empty); later loads skip empty tables.
        must_exist = progress["first_load"] and progress["done"] == progress["total"]
        seen = progress["tables_seen"]
        if batch.carts.num_rows or (must_exist and settings.CARTS not in seen):
            seen.add(settings.CARTS)
            yield dlt.mark.with_table_name(batch.carts, settings.CARTS)
        if batch.lines.num_rows or (must_exist and settings.CART_LINES not in seen):
            seen.add(settings.CART_LINES)
            yield dlt.mark.with_hints(
                batch.lines, line_hints, create_table_variant=True
            )
        if batch.rejected:
            yield _quarantined(batch.rejected)

    return products, users, carts.add_yield_map(split_batch)
