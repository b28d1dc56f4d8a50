"""Checks each API record and turns a response into loadable rows.

Carts become two Arrow tables (carts and their lines) built column by column,
so a window of a million lines never goes through dlt's row-by-row
normalizer. Records that break a rule the models rely on are not dropped:
they become quarantine rows with the reason and the payload as received.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from dlt.common import json

# The fields the models read; anything else a record carries is kept as an
# extra column (dlt adds it to the schema), never dropped.
CART_FIELDS = ("id", "userId", "date", "products")
LINE_FIELDS = ("productId", "quantity")
SENSITIVE_FIELDS = ("password",)


@dataclass
class Rejected:
    """A record refused into quarantine, with why."""

    endpoint: str
    record_id: str | None
    reason: str
    payload: Any

    def as_row(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "record_id": self.record_id,
            "reason": self.reason,
            "payload": json.dumps(_without_secrets(self.payload)),
        }


@dataclass
class CartBatch:
    """One response's carts, ready to load."""

    carts: pa.Table
    lines: pa.Table
    rejected: list[Rejected] = field(default_factory=list)


def _without_secrets(payload: Any) -> Any:
    if isinstance(payload, dict):
        return {k: v for k, v in payload.items() if k not in SENSITIVE_FIELDS}
    return payload


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _is_int(value: Any) -> bool:
    """A JSON integer that fits the 64-bit columns it is loaded into."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and INT64_MIN <= value <= INT64_MAX
    )


def _record_id(record: Any) -> str | None:
    if isinstance(record, dict) and record.get("id") is not None:
        return str(record["id"])
    return None


def parse_quantity(value: Any) -> int | None:
    """An integer quantity, from a JSON integer or a string of one; else None.

    Out of the 64-bit range counts as unusable, like any other bad value.
    """
    number: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            return None
    return number if number is not None and _is_int(number) else None


class DateParser:
    """Parses cart dates to UTC; a date without a zone is taken as UTC.

    The API's dates repeat a lot (midnights), so results are cached.
    """

    def __init__(self) -> None:
        self._cache: dict[str, datetime] = {}

    def __call__(self, value: Any) -> datetime | None:
        if not isinstance(value, str):
            return None
        parsed = self._cache.get(value)
        if parsed is None:
            try:
                parsed = datetime.fromisoformat(value.strip())
            except ValueError:
                return None
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            parsed = parsed.astimezone(UTC)
            self._cache[value] = parsed
        return parsed


def check_entities(
    records: list[Any], endpoint: str
) -> tuple[list[dict[str, Any]], list[Rejected]]:
    """Split products or users into loadable records and rejected ones.

    A record needs an integer `id` (the merge key); of the copies of one id
    in a response, the last is loaded and the earlier ones quarantined;
    sensitive fields are removed before the record goes anywhere.
    """
    kept: list[dict[str, Any]] = []
    rejected: list[Rejected] = []
    last = _last_positions(records)
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            rejected.append(Rejected(endpoint, None, "not a JSON object", record))
        elif not _is_int(record.get("id")):
            reason = "missing or non-integer id"
            rejected.append(Rejected(endpoint, _record_id(record), reason, record))
        elif last[record["id"]] != position:
            reason = _duplicate_reason(record["id"])
            rejected.append(Rejected(endpoint, _record_id(record), reason, record))
        else:
            kept.append(_without_secrets(record))
    return kept, rejected


def _last_positions(records: list[Any]) -> dict[int, int]:
    """Where each integer id occurs last in a response."""
    return {
        record["id"]: position
        for position, record in enumerate(records)
        if isinstance(record, dict) and _is_int(record.get("id"))
    }


def _duplicate_reason(record_id: int) -> str:
    return f"duplicate id {record_id} in one response: its last copy is loaded"


class _Extras:
    """Fields beyond the known ones, kept sparse: most records have none."""

    def __init__(self) -> None:
        self.columns: dict[str, dict[int, Any]] = {}

    def add(self, row: int, record: dict[str, Any], skip: tuple) -> None:
        for key, value in record.items():
            if key not in skip:
                self.columns.setdefault(key, {})[row] = value

    def arrays(self, rows: int) -> tuple[list[pa.Array], list[str]]:
        arrays, names = [], []
        for key, found in self.columns.items():
            values: list[Any] = [None] * rows
            for row, value in found.items():
                values[row] = value
            arrays.append(_extra_array(values))
            names.append(key)
        return arrays, names


def _table(schema: pa.Schema, columns: list[list[Any]], extras: _Extras) -> pa.Table:
    arrays = [
        pa.array(values, type=f.type) for f, values in zip(schema, columns, strict=True)
    ]
    more, names = extras.arrays(len(columns[0]))
    fields = [*schema, *(pa.field(n, a.type) for n, a in zip(names, more, strict=True))]
    return pa.Table.from_arrays(arrays + more, schema=pa.schema(fields))


def _extra_array(values: list[Any]) -> pa.Array:
    """An extra field as Arrow infers it; nested or mixed values as JSON text."""
    if any(isinstance(v, (dict, list)) for v in values):
        return pa.array([None if v is None else json.dumps(v) for v in values])
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else json.dumps(v) for v in values])


# Keys are declared not null, as dlt declares primary keys: the checks above
# guarantee it, and matching schemas spare dlt a merge warning per window.
CARTS_SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64(), nullable=False),
        ("user_id", pa.int64()),
        ("date", pa.timestamp("us", tz="UTC")),
    ]
)
LINES_SCHEMA = pa.schema(
    [
        pa.field("cart_id", pa.int64(), nullable=False),
        pa.field("line_number", pa.int32(), nullable=False),
        ("product_id", pa.int64()),
        ("quantity", pa.int64()),
    ]
)


def cart_batch(records: list[Any], endpoint: str) -> CartBatch:
    """Check a response's carts and build the carts and lines tables.

    Rules (the README lists them): a cart needs an integer id, an integer
    userId, a parseable date and a products list, or it is quarantined
    whole, as is every copy of a cart id but the last one in the response;
    a line needs an integer productId and a quantity that is an
    integer or a string of one, or that line alone is quarantined. Zero and
    negative quantities, unknown products and repeated products are kept:
    the models decide what they count for.
    """
    parse_date = DateParser()
    # One list per column: appending to lists is the cheapest per-row step,
    # and Arrow converts each list in one call.
    ids: list[int] = []
    user_ids: list[int] = []
    dates: list[datetime] = []
    cart_extras = _Extras()
    line_carts: list[int] = []
    line_numbers: list[int] = []
    products: list[int] = []
    quantities: list[int] = []
    line_extras = _Extras()
    rejected: list[Rejected] = []
    last = _last_positions(records)

    for position, record in enumerate(records):
        reason = _cart_problem(record, parse_date)
        if not reason and last[record["id"]] != position:
            reason = _duplicate_reason(record["id"])
        if reason:
            rejected.append(Rejected(endpoint, _record_id(record), reason, record))
            continue
        cart_id = record["id"]
        if len(record) != len(CART_FIELDS):
            cart_extras.add(len(ids), record, CART_FIELDS)
        ids.append(cart_id)
        user_ids.append(record["userId"])
        dates.append(parse_date(record["date"]))
        for number, line in enumerate(record["products"]):
            # The common case, checked cheaply: exact 64-bit ints, no other field.
            if (
                type(line) is dict
                and len(line) == len(LINE_FIELDS)
                and type(line.get("productId")) is int
                and type(line.get("quantity")) is int
                and INT64_MIN <= line["productId"] <= INT64_MAX
                and INT64_MIN <= line["quantity"] <= INT64_MAX
            ):
                quantity = line["quantity"]
            else:
                problem = _line_problem(line)
                if problem:
                    payload = {"cartId": cart_id, "line": line}
                    rejected.append(Rejected(endpoint, str(cart_id), problem, payload))
                    continue
                quantity = parse_quantity(line["quantity"])
                if len(line) != len(LINE_FIELDS):
                    line_extras.add(len(line_carts), line, LINE_FIELDS)
            line_carts.append(cart_id)
            line_numbers.append(number)
            products.append(line["productId"])
            quantities.append(quantity)

    return CartBatch(
        _table(CARTS_SCHEMA, [ids, user_ids, dates], cart_extras),
        _table(
            LINES_SCHEMA, [line_carts, line_numbers, products, quantities], line_extras
        ),
        rejected,
    )


def _cart_problem(record: Any, parse_date: DateParser) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    if not _is_int(record.get("id")):
        return "missing or non-integer id"
    if not _is_int(record.get("userId")):
        return "missing or non-integer userId"
    if record.get("date") is None:
        return "missing date"
    if parse_date(record["date"]) is None:
        return f"malformed date {record['date']!r}"
    if not isinstance(record.get("products"), list):
        return "missing products list"
    return None


def _line_problem(line: Any) -> str | None:
    if not isinstance(line, dict):
        return "cart line is not a JSON object"
    if not _is_int(line.get("productId")):
        return "cart line with missing or non-integer productId"
    if line.get("quantity") is None:
        return "cart line with missing or null quantity"
    if parse_quantity(line["quantity"]) is None:
        return f"cart line with unusable quantity {line['quantity']!r}"
    return None
