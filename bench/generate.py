"""A seeded generator of Fake Store-shaped data at a chosen scale.

Products spread over the API's four categories with skewed popularity (a few
products take most of the lines), users in proportion to carts, and carts
spread over a date range with 1 to 8 lines each. The same seed and scale give
the same data, so the loader and the naive script read identical responses.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

CATEGORIES = ("electronics", "jewelery", "men's clothing", "women's clothing")
PRODUCTS = 200
CARTS_PER_USER = 20
MEAN_LINES = 4.5  # 1 to 8 lines, uniform
DATA_START = datetime(2023, 1, 1, tzinfo=UTC)
DATA_END = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class Dataset:
    """Generated API data and the range its carts cover."""

    products: list[dict[str, Any]]
    users: list[dict[str, Any]]
    carts: list[dict[str, Any]]
    start: datetime
    end: datetime

    @property
    def lines(self) -> int:
        return sum(len(cart["products"]) for cart in self.carts)


def api_date(moment: datetime) -> str:
    """A cart date as the API writes it: UTC, milliseconds, `Z`."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def make_products(rng: random.Random, count: int = PRODUCTS) -> list[dict[str, Any]]:
    products = []
    for product_id in range(1, count + 1):
        category = rng.choice(CATEGORIES)
        products.append(
            {
                "id": product_id,
                "title": f"{category.title()} item {product_id}",
                "price": round(rng.uniform(1, 1000), 2),
                "description": f"A generated {category} product.",
                "category": category,
                "image": f"https://example.invalid/img/{product_id}.jpg",
                "rating": {
                    "rate": round(rng.uniform(1, 5), 1),
                    "count": rng.randint(0, 700),
                },
            }
        )
    return products


def make_users(rng: random.Random, count: int) -> list[dict[str, Any]]:
    users = []
    for user_id in range(1, count + 1):
        users.append(
            {
                "id": user_id,
                "email": f"user{user_id}@example.invalid",
                "username": f"user{user_id}",
                "password": f"pw-{rng.getrandbits(48):012x}",
                "name": {"firstname": f"first{user_id}", "lastname": f"last{user_id}"},
                "address": {
                    "city": rng.choice(("kilcoole", "cullman", "san antonio")),
                    "street": "generated street",
                    "number": rng.randint(1, 9999),
                    "zipcode": f"{rng.randint(10000, 99999)}",
                    "geolocation": {"lat": "0.0", "long": "0.0"},
                },
                "phone": f"1-570-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
                "__v": 0,
            }
        )
    return users


def make_carts(
    rng: random.Random,
    count: int,
    users: int,
    products: int,
    start: datetime,
    end: datetime,
    first_id: int = 1,
    lines: int | None = None,
) -> list[dict[str, Any]]:
    """`count` carts (more if needed to reach `lines` lines) with ids from
    `first_id`, dated uniformly in [start, end)."""
    # Zipf-like weights: product k is drawn in proportion to 1 / k.
    cumulative = list(itertools.accumulate(1 / k for k in range(1, products + 1)))
    span_ms = int((end - start).total_seconds() * 1000)
    sizes = [rng.randint(1, 8) for _ in range(count)]
    total = sum(sizes)
    while lines is not None and total < lines:
        sizes.append(rng.randint(1, 8))
        total += sizes[-1]
    drawn = iter(rng.choices(range(1, products + 1), cum_weights=cumulative, k=total))
    carts = []
    for offset, size in enumerate(sizes):
        moment = start + timedelta(milliseconds=rng.randrange(span_ms))
        carts.append(
            {
                "id": first_id + offset,
                "userId": rng.randint(1, users),
                "date": api_date(moment),
                "products": [
                    {"productId": next(drawn), "quantity": rng.randint(1, 10)}
                    for _ in range(size)
                ],
                "__v": 0,
            }
        )
    return carts


def generate(lines: int, seed: int = 42) -> Dataset:
    """About `lines` cart lines over DATA_START..DATA_END, from `seed`."""
    rng = random.Random(seed)
    users = max(10, round(lines / MEAN_LINES / CARTS_PER_USER))
    product_list = make_products(rng)
    return Dataset(
        products=product_list,
        users=make_users(rng, users),
        carts=make_carts(
            rng, 0, users, len(product_list), DATA_START, DATA_END, lines=lines
        ),
        start=DATA_START,
        end=DATA_END,
    )


def more_carts(
    data: Dataset, share: float, start: datetime, end: datetime, seed: int = 7
) -> list[dict[str, Any]]:
    """New carts, `share` of the existing count, dated in [start, end)."""
    rng = random.Random(seed)
    count = max(1, round(len(data.carts) * share))
    first_id = max(cart["id"] for cart in data.carts) + 1
    return make_carts(
        rng, count, len(data.users), len(data.products), start, end, first_id
    )
