"""The naive baseline, in the style of the commonly published solution.

One request after another (products, all carts, users), everything in pandas
memory, a CSV out. It answers the same question as `marts.user_cart_summary`
with the same rules (positive quantities, known products for the category,
ties to the alphabetically first category, UTC days), so the benchmark can
check that both give the same answer on the same data.

Usage: python -m bench.naive BASE_URL OUT.csv
"""

from __future__ import annotations

import sys

import pandas as pd
import requests


def main(base_url: str, out: str) -> None:
    products = pd.DataFrame(requests.get(f"{base_url}/products", timeout=600).json())
    carts = requests.get(f"{base_url}/carts", timeout=600).json()
    users = pd.DataFrame(requests.get(f"{base_url}/users", timeout=600).json())

    lines = pd.json_normalize(
        carts, record_path="products", meta=["id", "userId", "date"]
    )
    lines = lines[lines["quantity"] > 0]
    lines["date"] = pd.to_datetime(lines["date"], utc=True).dt.date

    activity = lines.groupby("userId").agg(
        latest_cart_date=("date", "max"),
        cart_count=("id", "nunique"),
        total_quantity=("quantity", "sum"),
    )
    known = lines.merge(
        products[["id", "category"]].rename(columns={"id": "productId"}),
        on="productId",
    )
    by_category = known.groupby(["userId", "category"])["quantity"].sum().reset_index()
    by_category = by_category.sort_values(
        ["userId", "quantity", "category"], ascending=[True, False, True]
    )
    top = by_category.drop_duplicates("userId").set_index("userId")
    top = top.rename(
        columns={"category": "top_category", "quantity": "top_category_quantity"}
    )

    all_users = sorted(set(users["id"]) | set(lines["userId"]))
    summary = (
        pd.DataFrame(index=pd.Index(all_users, name="user_id")).join(activity).join(top)
    )
    summary["cart_count"] = summary["cart_count"].fillna(0).astype(int)
    summary["total_quantity"] = summary["total_quantity"].fillna(0).astype(int)
    summary["top_category_quantity"] = summary["top_category_quantity"].astype("Int64")
    summary = summary[
        [
            "latest_cart_date",
            "top_category",
            "top_category_quantity",
            "cart_count",
            "total_quantity",
        ]
    ]
    summary.to_csv(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
