"""Wires the `fakestore` source to its destination and reports each run.

The destination is the DuckDB warehouse (`WAREHOUSE_PATH`) or the Parquet
lake (`LAKE_URL`). The destination is the memory of the pipeline: when it
holds no pipeline state (deleted, emptied, never loaded), the run reloads
everything instead of trusting the cursor left in the local working folder.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import duckdb
from dlt.common.configuration.exceptions import ConfigValueCannotBeCoercedException
from dlt.common.destination.exceptions import DestinationUndefinedEntity
from dlt.common.exceptions import DltException
from dlt.common.pipeline import LoadInfo
from dlt.common.schema.exceptions import DataValidationError
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.pipeline.pipeline import Pipeline

from loader import settings
from loader.lock import RunLockedError, duckdb_lock_message, exclusive
from loader.source import ApiError, ConfigError, fakestore

logger = logging.getLogger(__name__)

DESTINATIONS = ("duckdb", "filesystem")


class LoaderError(Exception):
    """A run failed; the message is the one line to show the user."""

    # dlt's trace of the failed run (steps, counts, load ids), when it has one.
    trace: Any = None


@dataclass
class RunSummary:
    """What one run loaded."""

    load_ids: list[str]
    rows: dict[str, int]
    seconds: float
    full_reload: bool
    step_seconds: dict[str, float] = field(default_factory=dict)
    table_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def quarantined(self) -> int:
        return self.rows.get(settings.QUARANTINE, 0)


def warehouse_path() -> Path:
    return Path(
        os.environ.get(settings.WAREHOUSE_PATH_ENV, settings.DEFAULT_WAREHOUSE_PATH)
    )


def lake_url() -> str:
    return os.environ.get(settings.LAKE_URL_ENV, settings.DEFAULT_LAKE_URL)


def make_pipeline(destination: str) -> Pipeline:
    """The dlt pipeline for `destination`; its working folder is PIPELINES_DIR."""
    if destination == "duckdb":
        path = warehouse_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        target = dlt.destinations.duckdb(credentials=str(path))
    elif destination == "filesystem":
        target = dlt.destinations.filesystem(bucket_url=lake_url())
    else:
        raise LoaderError(
            f"unknown destination {destination!r}; choose one of"
            f" {', '.join(DESTINATIONS)}"
        )
    pipelines_dir = os.environ.get(
        settings.PIPELINES_DIR_ENV, settings.DEFAULT_PIPELINES_DIR
    )
    return dlt.pipeline(
        pipeline_name=f"{settings.PIPELINE_NAME}_{destination}",
        destination=target,
        dataset_name=settings.DATASET_NAME,
        pipelines_dir=pipelines_dir,
    )


def destination_has_state(pipeline: Pipeline) -> bool:
    """Whether the destination remembers an earlier load of this pipeline."""
    if pipeline.destination.destination_type == "dlt.destinations.filesystem":
        return _lake_has_state(pipeline)
    if not warehouse_path().exists():
        return False
    try:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name("_dlt_pipeline_state")
            rows = client.execute_sql(
                f"select count(*) from {table} where pipeline_name = %s",
                pipeline.pipeline_name,
            )
    except DatabaseUndefinedRelation as error:  # an empty or foreign file
        logger.debug("no pipeline state in the warehouse: %s", error)
        return False
    except Exception as error:  # locked, unreadable: never guess "empty"
        raise LoaderError(
            f"cannot read the pipeline state in the warehouse {warehouse_path()}:"
            f" {_one_line(error)}"
        ) from error
    return bool(rows and rows[0][0])


def _lake_has_state(pipeline: Pipeline) -> bool:
    """Whether the lake holds a state file of this pipeline.

    Read with the filesystem client itself: dlt's SQL client over a bucket
    needs DuckDB's httpfs extension, which an offline machine cannot fetch,
    and a wrong "no" here would make the run drop the lake's history.
    """
    try:
        with pipeline.destination_client() as client:
            state = client.get_stored_state(pipeline.pipeline_name)
    except DestinationUndefinedEntity as error:  # no state folder yet
        logger.debug("no pipeline state in the lake: %s", error)
        return False
    except Exception as error:  # unreachable, denied: never guess "empty"
        raise LoaderError(
            f"cannot read the pipeline state in the lake at {lake_url()}:"
            f" {_one_line(error)}"
        ) from error
    return state is not None


def configure_workers() -> None:
    """Size dlt's extract pool from `sources.fakestore.max_workers`."""
    try:
        workers = dlt.config.get("sources.fakestore.max_workers", int)
    except ConfigValueCannotBeCoercedException as error:
        raise LoaderError(
            "sources.fakestore.max_workers must be an integer >= 1,"
            f" got {error.field_value!r}"
        ) from error
    workers = workers or settings.DEFAULT_MAX_WORKERS
    dlt.config["extract.workers"] = workers
    # The pool takes at most this many pending windows: memory stays bounded.
    dlt.config["extract.max_parallel_items"] = 2 * workers


def pipelines_dir() -> str:
    return os.environ.get(settings.PIPELINES_DIR_ENV, settings.DEFAULT_PIPELINES_DIR)


def lock_path(destination: str) -> Path:
    """The run lock: next to the warehouse, or in PIPELINES_DIR for the lake."""
    if destination == "duckdb":
        path = warehouse_path()
        return path.with_name(path.name + ".lock")
    return Path(pipelines_dir()) / f"{settings.PIPELINE_NAME}_{destination}.lock"


def run(
    destination: str = "duckdb",
    full_refresh: bool = False,
    **source_options: Any,
) -> RunSummary:
    """Extract, normalize and load once; raise LoaderError with one clear line.

    One run at a time: a second run exits at once, naming the one that holds
    the lock, before it touches the destination or the working folder.
    """
    what = "the warehouse" if destination == "duckdb" else "the lake pipeline"
    try:
        with exclusive(lock_path(destination), what):
            if destination == "duckdb":
                _check_warehouse_is_free(warehouse_path())
            return _run_locked(destination, full_refresh, **source_options)
    except RunLockedError as error:
        raise LoaderError(str(error)) from error


def _check_warehouse_is_free(path: Path) -> None:
    """Fail with a clear line when another program has the DuckDB file open."""
    if not path.exists():
        return
    try:
        duckdb.connect(str(path)).close()
    except duckdb.Error as error:
        message = duckdb_lock_message(path, error)
        message = message or f"cannot open the warehouse {path}: {error}"
        raise LoaderError(message) from error


def _run_locked(
    destination: str, full_refresh: bool, **source_options: Any
) -> RunSummary:
    started = time.monotonic()
    pipeline = make_pipeline(destination)
    configure_workers()
    full_reload = full_refresh or not destination_has_state(pipeline)
    if full_reload:
        why = (
            "--full-refresh"
            if full_refresh
            else "the destination holds no earlier load"
        )
        logger.info("full reload: %s", why)
    write_disposition = "merge" if destination == "duckdb" else "append"
    # Parquet for every lake table: dlt would write the dict-built ones
    # (products, users) as JSON lines otherwise.
    file_format = settings.LAKE_FILE_FORMAT if destination == "filesystem" else None
    try:
        source = fakestore(write_disposition=write_disposition, **source_options)
        info = pipeline.run(
            source,
            refresh="drop_sources" if full_reload else None,
            loader_file_format=file_format,
        )
    except Exception as error:
        failure = LoaderError(_one_line(error))
        failure.trace = pipeline.last_trace
        if _in_chain(error, DataValidationError):
            # Its package would fail the same way on every later run: drop it
            # with the local state, so the next run resumes from the
            # destination's state and reads the same windows again.
            pipeline.drop()
        raise failure from error
    return _summary(pipeline, info, time.monotonic() - started, full_reload)


def _one_line(error: BaseException) -> str:
    """The most specific message in an exception chain."""
    seen = error
    while True:
        if isinstance(seen, (ApiError, ConfigError, LoaderError)):
            return str(seen)
        if isinstance(seen, DataValidationError):
            return _contract_message(seen)
        locked = duckdb_lock_message(warehouse_path(), seen)
        if locked:
            return locked
        parent = seen.__cause__ or seen.__context__
        # dlt's wrappers say where it failed; the first other error says why.
        if parent is None or not isinstance(seen, DltException):
            break
        seen = parent
    step = getattr(error, "step", None)
    where = f"dlt step {step} failed: " if step else ""
    cause = f"{type(seen).__name__}: {seen}".strip().splitlines()[0]
    return where + cause


def _in_chain(error: BaseException | None, kind: type) -> bool:
    while error is not None:
        if isinstance(error, kind):
            return True
        error = error.__cause__ or error.__context__
    return False


def _contract_message(error: DataValidationError) -> str:
    """Which raw column changed type, from dlt's schema contract error."""
    column = error.column_name or "?"
    base, _, variant = column.partition("__v_")
    columns = (error.table_schema or {}).get("columns", {})
    held = columns.get(base, {}).get("data_type")
    sent = f"{variant} " if variant else "a value of another type "
    holds = f" {held}" if held else " another type"
    return (
        f"{settings.DATASET_NAME}.{error.table_name}.{base} changed type: the API"
        f" sent {sent}where the column holds{holds}; the schema contract freezes"
        " column types, so nothing was loaded (README: Bad input and faults)"
    )


def table_rows(normalize_info: Any) -> dict[str, int]:
    """Rows per table of a normalize step, dlt's own tables left out."""
    if normalize_info is None:
        return {}
    return {
        table: count
        for table, count in normalize_info.row_counts.items()
        if not table.startswith("_dlt_")
    }


def _summary(
    pipeline: Pipeline, info: LoadInfo, seconds: float, full_reload: bool
) -> RunSummary:
    trace = pipeline.last_trace
    steps = {
        step.step: (step.finished_at - step.started_at).total_seconds()
        for step in trace.steps
        if step.finished_at and step.started_at
    }
    # Seconds per table: the load jobs that wrote it, from dlt's job metrics.
    table_seconds: dict[str, float] = {}
    for metrics in info.metrics.values():
        for job in metrics[-1].get("job_metrics", {}).values():
            if job.started_at and job.finished_at:
                spent = (job.finished_at - job.started_at).total_seconds()
                table_seconds[job.table_name] = (
                    table_seconds.get(job.table_name, 0) + spent
                )
    return RunSummary(
        load_ids=list(info.loads_ids),
        rows=table_rows(trace.last_normalize_info),
        seconds=seconds,
        full_reload=full_reload,
        step_seconds=steps,
        table_seconds=table_seconds,
    )
