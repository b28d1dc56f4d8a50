"""The record rules on their own: what a response's carts become, line by line."""

from __future__ import annotations

from loader.records import cart_batch, check_entities, parse_quantity

TOO_BIG = 10**20  # valid JSON, beyond the 64-bit columns it would load into


def test_quantities_read_as_whole_numbers_within_64_bits() -> None:
    assert [parse_quantity(v) for v in (3, "3", " -2 ", 2.0)] == [3, 3, -2, 2]
    unusable = (2.5, True, None, "three", 1e30, str(TOO_BIG), 2**63)
    assert [parse_quantity(v) for v in unusable] == [None] * len(unusable)


def test_numbers_beyond_64_bits_are_refused_not_a_crash() -> None:
    cart = {
        "id": 1,
        "userId": 1,
        "date": "2020-01-01T00:00:00.000Z",
        "products": [
            {"productId": 1, "quantity": TOO_BIG},
            {"productId": TOO_BIG, "quantity": 1},
            {"productId": 3, "quantity": 2},
        ],
    }
    huge_cart = {**cart, "id": TOO_BIG, "products": []}

    batch = cart_batch([cart, huge_cart], "/carts")

    assert batch.carts.column("id").to_pylist() == [1]
    assert batch.lines.to_pylist() == [
        {"cart_id": 1, "line_number": 2, "product_id": 3, "quantity": 2}
    ]
    assert [(r.record_id, r.reason) for r in batch.rejected] == [
        ("1", f"cart line with unusable quantity {TOO_BIG}"),
        ("1", "cart line with missing or non-integer productId"),
        (str(TOO_BIG), "missing or non-integer id"),
    ]


def test_a_product_id_beyond_64_bits_is_refused() -> None:
    kept, rejected = check_entities([{"id": TOO_BIG}, {"id": 2}], "/products")

    assert kept == [{"id": 2}]
    assert [(r.record_id, r.reason) for r in rejected] == [
        (str(TOO_BIG), "missing or non-integer id")
    ]
