"""`python -m loader`: one extract-load run, a line per table, exit 1 on failure."""

from __future__ import annotations

import argparse
import logging
import sys

from loader import history, logs, report
from loader.pipeline import DESTINATIONS, LoaderError, RunSummary, run

logger = logging.getLogger("loader")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m loader",
        description="Load the Fake Store API into the warehouse (raw dataset).",
    )
    parser.add_argument(
        "--destination",
        choices=DESTINATIONS,
        default="duckdb",
        help="duckdb: the file at WAREHOUSE_PATH; filesystem: Parquet under LAKE_URL",
    )
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="drop the raw tables and the cursor, then reload everything",
    )
    parser.add_argument(
        "--no-failure-alert",
        action="store_true",
        help="record a failure but post no alert (Airflow: an attempt to be retried)",
    )
    return parser.parse_args(argv)


def log_summary(summary: RunSummary) -> None:
    for table, rows in sorted(summary.rows.items()):
        seconds = summary.table_seconds.get(table, 0.0)
        logger.info("table %s: %d rows in %.2f s", table, rows, seconds)
    logger.info(
        "loaded %d rows into %d table(s) in %.2f s (%s), %d record(s) quarantined%s",
        sum(summary.rows.values()),
        len(summary.rows),
        summary.seconds,
        ", ".join(f"{k} {v:.2f} s" for k, v in summary.step_seconds.items()),
        summary.quarantined,
        ", full reload" if summary.full_reload else "",
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Text by default, JSON lines with LOG_FORMAT=json.
    logs.configure(logging.INFO)
    logger.info("load starts: destination %s", args.destination)
    started_at = history.now()
    try:
        summary = run(args.destination, full_refresh=args.full_refresh)
    except LoaderError as error:
        logger.error("load failed: %s", error)
        report.loader_failed(
            args.destination, started_at, error, alert=not args.no_failure_alert
        )
        return 1
    log_summary(summary)
    report.loader_succeeded(args.destination, started_at, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
