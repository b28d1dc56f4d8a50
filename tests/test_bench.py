"""A small run of the benchmark: its report, and the mart against the naive script.

No timing is asserted: the figures are the benchmark's business. What must
hold at any scale is that the pipeline and the naive script give the same
answer on the same data, and that the report has its parts.
"""

from __future__ import annotations

import collections
import csv
from pathlib import Path

from bench.__main__ import main
from bench.generate import generate
from tests.conftest import query

LINES = 2000


def test_a_small_benchmark_run_reports_and_agrees_with_the_naive_script(
    tmp_path: Path,
) -> None:
    out = tmp_path / "BENCHMARKS.md"
    work = tmp_path / "work"

    results = main(
        [
            f"--scales={LINES}",
            f"--speedup-lines={LINES}",
            "--latency=0.01",
            f"--work={work}",
            f"--out={out}",
        ]
    )

    data = generate(LINES)
    scale = results["scales"][0]
    assert scale["lines"] == data.lines >= LINES
    assert scale["mart_equals_naive"] is True
    # 2023-01-01 to 2025-01-01 in 7-day windows, plus products and users.
    assert results["speedup"][1]["requests"] == 107
    assert results["speedup"][1]["max_in_flight"] == 1
    assert 1 < results["speedup"][8]["max_in_flight"] <= 8
    # The second run asks for cursor - 7 days to cursor + 1 day: two windows.
    increment = scale["increment"]
    assert increment["requests"] == 4
    assert increment["raw_carts"] == increment["expected_carts"]

    # The mart, read here, against the naive CSV and the generated data.
    mart = query(
        work / "warehouse.duckdb",
        "select user_id, cast(latest_cart_date as varchar), top_category,"
        " total_quantity from marts.user_cart_summary order by user_id",
    )
    with (work / f"naive-{LINES}.csv").open(newline="", encoding="utf-8") as file:
        naive = [
            (
                int(row["user_id"]),
                row["latest_cart_date"] or None,
                row["top_category"] or None,
                int(row["total_quantity"]),
            )
            for row in csv.DictReader(file)
        ]
    totals: collections.Counter[int] = collections.Counter()
    for cart in data.carts:
        totals[cart["userId"]] += sum(line["quantity"] for line in cart["products"])
    assert mart == naive
    assert len(mart) == len(data.users)
    assert {user: total for user, _, _, total in mart if total} == dict(totals)

    text = out.read_text("utf-8")
    for heading in (
        "# Benchmarks",
        "## Targets",
        "## Parallel extraction",
        "## Scale: load, build, and the naive script on the same data",
        "## Incremental run",
    ):
        assert f"\n{heading}" in f"\n{text}"
    assert "| 1 | 107 |" in text
    assert "| 8 | 107 |" in text
    assert f"| {data.lines:,} | {len(data.carts):,} | {len(data.users):,} |" in text
    assert "| second (incremental) | 4 |" in text
