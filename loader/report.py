"""After a loader run: its row in `ops.loader_runs` and, if it failed, an alert."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from loader import alerts, history, settings
from loader.lock import RunLockedError, exclusive
from loader.pipeline import (
    LoaderError,
    RunSummary,
    lake_url,
    lock_path,
    table_rows,
    warehouse_path,
)

logger = logging.getLogger(__name__)


def loader_succeeded(
    destination: str, started_at: datetime, summary: RunSummary
) -> history.LoaderRun:
    run = history.LoaderRun(
        started_at=started_at,
        finished_at=history.now(),
        status="succeeded",
        destination=destination,
        full_reload=summary.full_reload,
        rows=summary.rows,
        quarantined=summary.quarantined,
        load_ids=summary.load_ids,
    )
    _record(run)
    return run


def loader_failed(
    destination: str, started_at: datetime, error: LoaderError, alert: bool = True
) -> history.LoaderRun:
    """Record the failed run and, unless `alert` is False, post one alert."""
    rows, load_ids = _partial_counts(error.trace)
    run = history.LoaderRun(
        started_at=started_at,
        finished_at=history.now(),
        status="failed",
        destination=destination,
        rows=rows,
        quarantined=rows.get(settings.QUARANTINE, 0),
        load_ids=load_ids,
        # A password written in a URL of the error stays out of the warehouse.
        error=alerts.redact(str(error)),
    )
    recorded = _record(run)
    if alert:
        alerts.send(failure_message(run, recorded))
    else:
        logger.info("no alert for this failure: the run will be retried")
    return run


def _record(run: history.LoaderRun) -> bool:
    """Write the run's history row under the warehouse's run lock.

    A run refused because another holds the warehouse must not open the file
    under that run's feet: its row is skipped with a warning instead.
    """
    try:
        with exclusive(lock_path("duckdb"), "the warehouse"):
            return history.record_loader_run(warehouse_path(), run)
    except RunLockedError as error:
        logger.warning("run history: not recorded: %s", error)
        return False


def failure_message(run: history.LoaderRun, recorded: bool) -> str:
    """The alert for a failed loader run: what, where, counts, log."""
    seconds = (run.finished_at - run.started_at).total_seconds()
    counts = (
        f"{sum(run.rows.values())} row(s) in {len(run.rows)} table(s) normalized"
        f" before the failure, load id(s) {', '.join(run.load_ids) or 'none'}"
    )
    history_note = (
        f"row {run.run_id} in {history.SCHEMA}.{history.LOADER_RUNS}"
        if recorded
        else f"not recorded in {history.SCHEMA}.{history.LOADER_RUNS} (see log)"
    )
    return (
        f":red_circle: Fake Store load failed after {seconds:.1f} s: {run.error}\n"
        f"where: {run.destination} destination at {_destination(run)},"
        f" {alerts.where()}\n"
        f"counts: {counts}\n"
        f"history: {history_note}\n"
        f"log: {alerts.log_link('the output of `python -m loader`')}"
    )


def _destination(run: history.LoaderRun) -> str:
    if run.destination == "duckdb":
        return str(warehouse_path())
    return lake_url()


def _partial_counts(trace: Any) -> tuple[dict[str, int], list[str]]:
    """Rows normalized and load ids of a failed run, from dlt's trace."""
    if trace is None:
        return {}, []
    normalize = getattr(trace, "last_normalize_info", None)
    rows = table_rows(normalize)
    load_ids: list[str] = []
    # Only packages that got as far as normalize: a failed extract's package
    # id never reaches the destination.
    for info in (normalize, getattr(trace, "last_load_info", None)):
        for load_id in getattr(info, "loads_ids", None) or []:
            if load_id not in load_ids:
                load_ids.append(load_id)
    return rows, load_ids
