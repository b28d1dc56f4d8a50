"""Property: for random products, users and carts, the mart equals a small
reference computation written here in plain Python, independently of the
SQL.

Each example is a bundle of independent shops (ids shifted apart), served by
the replay server, loaded by the real loader and built by dbt once: the slow
part runs once per example, and each example checks several shops.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from loader.pipeline import run
from tests.conftest import REPO, dbt, query
from tests.replay_server import ReplayServer, Store

# Labels as the API might write them; the mart shows them trimmed of spaces.
CATEGORIES = ["electronics", "men's clothing", "women\u2019s shoes", " \u00e9picerie "]
START = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
WEST = dt.timezone(dt.timedelta(hours=-3))


@dataclass
class Shop:
    products: list[dict[str, Any]]
    users: list[dict[str, Any]]
    # (cart as sent, the instant it stands for)
    carts: list[tuple[dict[str, Any], dt.datetime]]


def date_text(instant: dt.datetime, form: int) -> str:
    """The cart date in one of the forms the API has been seen to use."""
    if form == 0:
        return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if form == 1:
        return instant.isoformat(timespec="seconds").replace("+00:00", "Z")
    if form == 2:
        return instant.astimezone(WEST).isoformat(timespec="milliseconds")
    return instant.replace(tzinfo=None).isoformat(timespec="seconds")


instants = st.builds(
    lambda day, minute: START + dt.timedelta(days=day, minutes=minute),
    st.integers(0, 500),
    # Midnight, late evening (another day west of UTC), a minute to midnight.
    st.sampled_from([0, 21 * 60, 23 * 60 + 59]),
)
quantities = st.one_of(
    st.integers(-1, 3),
    st.integers(-1, 3).map(str),
    st.just(None),  # refused into quarantine, the rest of the cart kept
)
lines = st.fixed_dictionaries(
    # Ids above 5 are absent from /products.
    {"productId": st.integers(1, 7), "quantity": quantities}
)


def product(pid: int, category: str) -> dict[str, Any]:
    """A product with the fields the API sends."""
    return {
        "id": pid,
        "title": f"product {pid}",
        "price": 1.5,
        "description": "generated",
        "category": category,
        "image": "https://example.invalid/p.png",
        "rating": {"rate": 4.0, "count": 3},
    }


def user(uid: int) -> dict[str, Any]:
    """A user with the fields the API sends (the password is never kept)."""
    return {
        "id": uid,
        "email": f"user{uid}@example.invalid",
        "username": f"user{uid}",
        "password": f"pw-{uid}",
        "name": {"firstname": "first", "lastname": "last"},
        "address": {"city": "town", "street": "road", "number": uid},
        "phone": "0",
    }


@st.composite
def shops(draw: st.DrawFn) -> Shop:
    product_ids = draw(st.sets(st.integers(1, 5), min_size=1))
    products = [
        product(pid, draw(st.sampled_from(CATEGORIES))) for pid in sorted(product_ids)
    ]
    # Users 1-4 may be listed; carts may name users 1-5 (5 is never listed).
    user_ids = draw(st.sets(st.integers(1, 4), min_size=1))
    users = [user(uid) for uid in sorted(user_ids)]
    carts = []
    for cart_id in range(1, draw(st.integers(0, 6)) + 1):
        instant = draw(instants)
        cart = {
            "id": cart_id,
            "userId": draw(st.integers(1, 5)),
            "date": date_text(instant, draw(st.integers(0, 3))),
            "products": draw(st.lists(lines, min_size=1, max_size=4)),
        }
        carts.append((cart, instant))
    return Shop(products, users, carts)


def shifted(shop: Shop, offset: int) -> Shop:
    """The same shop with every id moved by `offset`, to share a warehouse."""
    return Shop(
        [{**p, "id": p["id"] + offset} for p in shop.products],
        [{**u, "id": u["id"] + offset} for u in shop.users],
        [
            (
                {
                    **cart,
                    "id": cart["id"] + offset,
                    "userId": cart["userId"] + offset,
                    "products": [
                        {**line, "productId": line["productId"] + offset}
                        for line in cart["products"]
                    ],
                },
                instant,
            )
            for cart, instant in shop.carts
        ],
    )


def reference(shop: Shop) -> dict[int, tuple]:
    """The mart's rules, restated: one row per user listed or with a cart."""
    category = {p["id"]: p["category"].strip(" ") for p in shop.products}
    rows = {}
    owners = {u["id"] for u in shop.users} | {c["userId"] for c, _ in shop.carts}
    for user in owners:
        counted = [
            (cart["id"], instant.date(), line["productId"], int(line["quantity"]))
            for cart, instant in shop.carts
            if cart["userId"] == user
            for line in cart["products"]
            if line["quantity"] is not None and int(line["quantity"]) > 0
        ]
        per_category: Counter[str] = Counter()
        for _, _, product, units in counted:
            if product in category:
                per_category[category[product]] += units
        # Most units first; a tie goes to the label that sorts first.
        top, top_units = min(
            per_category.items(),
            key=lambda item: (-item[1], item[0]),
            default=(None, None),
        )
        rows[user] = (
            max((day for _, day, _, _ in counted), default=None),
            top,
            top_units,
            len({cart for cart, _, _, _ in counted}),
            sum(units for _, _, _, units in counted),
        )
    return rows


def load_and_build(bundle: list[Shop]) -> dict[int, tuple]:
    """Serve the shops, run the loader and dbt, and read the mart."""
    store = Store(
        [p for shop in bundle for p in shop.products],
        [u for shop in bundle for u in shop.users],
        [cart for shop in bundle for cart, _ in shop.carts],
    )
    with tempfile.TemporaryDirectory() as tmp, ReplayServer(store) as server:
        env = {
            "WAREHOUSE_PATH": str(Path(tmp) / "warehouse.duckdb"),
            "PIPELINES_DIR": str(Path(tmp) / "pipelines"),
            "SOURCES__FAKESTORE__BASE_URL": server.url,
            "SOURCES__FAKESTORE__WINDOW_DAYS": "400",
            "DBT_TARGET_PATH": str(Path(tmp) / "target"),
            "DBT_LOG_PATH": str(Path(tmp) / "logs"),
            "DBT_PROFILES_DIR": str(REPO),
        }
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            run()
            built = dbt("run", env={"TZ": "America/Sao_Paulo"})
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        assert built.returncode == 0, built.stdout
        rows = query(
            Path(env["WAREHOUSE_PATH"]),
            "select user_id, latest_cart_date, top_category, top_category_quantity,"
            " cart_count, total_quantity from marts.user_cart_summary",
        )
    return {row[0]: tuple(row[1:]) for row in rows}


HAND_PICKED = Shop(
    products=[
        product(1, "men's clothing"),
        product(2, " electronics "),
    ],
    # User 2 has no cart.
    users=[user(1), user(2)],
    carts=[
        (
            {
                "id": 1,
                "userId": 1,
                "date": "2020-03-01T22:30:00.000-03:00",
                "products": [
                    {"productId": 1, "quantity": 1},
                    {"productId": 1, "quantity": "1"},
                    {"productId": 2, "quantity": 2},
                    {"productId": 7, "quantity": 5},
                    {"productId": 2, "quantity": -4},
                ],
            },
            dt.datetime(2020, 3, 2, 1, 30, tzinfo=dt.UTC),
        ),
    ],
)


@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(bundle=st.lists(shops(), min_size=1, max_size=3))
@example(bundle=[HAND_PICKED])
def test_the_mart_matches_a_reference_computation(bundle: list[Shop]) -> None:
    # At least one cart, or the first load creates no carts table to build on.
    if not any(shop.carts for shop in bundle):
        bundle = [*bundle, HAND_PICKED]
    bundle = [shifted(shop, 100 * number) for number, shop in enumerate(bundle)]
    expected = {}
    for shop in bundle:
        expected.update(reference(shop))

    assert load_and_build(bundle) == expected
