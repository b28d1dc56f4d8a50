"""Run history in the warehouse's `ops` schema, for charting pipeline health.

- `ops.loader_runs`: one row per run of `python -m loader`, failed or not.
- `ops.dbt_node_results`: one row per node (model, test, unit test) of each
  `dbt build`, read from dbt's `run_results.json`.

Rows are written after dlt or dbt has finished with the file: DuckDB allows
one writer, so history never competes with the load it describes. A history
row that cannot be written (the file is locked by someone else) is a warning,
never the reason a run fails.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

logger = logging.getLogger(__name__)

SCHEMA = "ops"
LOADER_RUNS = "loader_runs"
DBT_NODE_RESULTS = "dbt_node_results"

_DDL = {
    LOADER_RUNS: """
        run_id varchar primary key,
        started_at timestamp not null,
        finished_at timestamp not null,
        seconds double not null,
        status varchar not null,
        destination varchar not null,
        full_reload boolean,
        rows_loaded bigint not null,
        rows_per_table json not null,
        quarantined bigint not null,
        load_ids varchar[] not null,
        error varchar,
        dag_run_id varchar,
        try_number integer
    """,
    DBT_NODE_RESULTS: """
        invocation_id varchar not null,
        built_at timestamp not null,
        unique_id varchar not null,
        resource_type varchar not null,
        node_name varchar not null,
        status varchar not null,
        started_at timestamp,
        completed_at timestamp,
        execution_seconds double,
        failures bigint,
        message varchar,
        dag_run_id varchar,
        try_number integer,
        primary key (invocation_id, unique_id)
    """,
}


@dataclass
class LoaderRun:
    """What one loader run did, for its row in `ops.loader_runs`."""

    started_at: datetime
    finished_at: datetime
    status: str
    destination: str
    full_reload: bool | None = None
    rows: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    load_ids: list[str] = field(default_factory=list)
    error: str | None = None
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class NodeResult:
    """One node of a dbt invocation, for its row in `ops.dbt_node_results`."""

    unique_id: str
    status: str
    started_at: datetime | None
    completed_at: datetime | None
    execution_seconds: float | None
    failures: int | None
    message: str | None

    @property
    def resource_type(self) -> str:
        return self.unique_id.split(".", 1)[0]

    @property
    def name(self) -> str:
        parts = self.unique_id.split(".")
        # Data tests end with a hash: test.<project>.<name>.<hash>.
        if self.resource_type == "test" and len(parts) >= 4:
            return parts[2]
        return parts[-1]


@dataclass
class DbtInvocation:
    """A dbt run_results.json: the invocation and the result of each node."""

    invocation_id: str
    built_at: datetime
    nodes: list[NodeResult]

    def count(self, *statuses: str) -> int:
        return sum(1 for node in self.nodes if node.status in statuses)


def now() -> datetime:
    return datetime.now(UTC)


def _naive_utc(moment: datetime | None) -> datetime | None:
    """UTC without zone, the warehouse's convention for `_at` columns."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def airflow_context() -> tuple[str | None, int | None]:
    """The DAG run id and try number that Airflow exports to its tasks."""
    try_number = os.environ.get("AIRFLOW_CTX_TRY_NUMBER", "")
    return (
        os.environ.get("AIRFLOW_CTX_DAG_RUN_ID") or None,
        int(try_number) if try_number.isdigit() else None,
    )


def read_run_results(path: Path) -> DbtInvocation:
    """Parse dbt's `run_results.json`; raises OSError or ValueError if unusable."""
    document = json.loads(path.read_text("utf-8"))
    metadata = document["metadata"]
    nodes = []
    for result in document["results"]:
        execute = next(
            (t for t in result.get("timing", []) if t.get("name") == "execute"), {}
        )
        nodes.append(
            NodeResult(
                unique_id=result["unique_id"],
                status=str(result["status"]),
                started_at=_parse_time(execute.get("started_at")),
                completed_at=_parse_time(execute.get("completed_at")),
                execution_seconds=result.get("execution_time"),
                failures=result.get("failures"),
                message=result.get("message"),
            )
        )
    return DbtInvocation(
        invocation_id=metadata["invocation_id"],
        built_at=_parse_time(metadata["generated_at"]) or now(),
        nodes=nodes,
    )


def _connect(warehouse: Path) -> duckdb.DuckDBPyConnection:
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    connection = duckdb.connect(str(warehouse))
    connection.execute(f"create schema if not exists {SCHEMA}")
    for table, columns in _DDL.items():
        connection.execute(f"create table if not exists {SCHEMA}.{table} ({columns})")
    return connection


def record_loader_run(warehouse: Path, run: LoaderRun) -> bool:
    """Append the run's row to `ops.loader_runs`; False (and a warning) if not."""
    dag_run_id, try_number = airflow_context()
    row = [
        run.run_id,
        _naive_utc(run.started_at),
        _naive_utc(run.finished_at),
        (run.finished_at - run.started_at).total_seconds(),
        run.status,
        run.destination,
        run.full_reload,
        sum(run.rows.values()),
        json.dumps(dict(sorted(run.rows.items()))),
        run.quarantined,
        run.load_ids,
        run.error,
        dag_run_id,
        try_number,
    ]
    try:
        with _connect(warehouse) as connection:
            connection.execute(
                f"insert into {SCHEMA}.{LOADER_RUNS}"
                f" values ({', '.join('?' * len(row))})",
                row,
            )
    except duckdb.Error as error:
        logger.warning(
            "run history: could not write %s.%s: %s", SCHEMA, LOADER_RUNS, error
        )
        return False
    logger.info(
        "run history: %s run %s recorded in %s.%s",
        run.status,
        run.run_id,
        SCHEMA,
        LOADER_RUNS,
    )
    return True


def record_dbt_invocation(warehouse: Path, invocation: DbtInvocation) -> bool:
    """Write one row per node to `ops.dbt_node_results`; False if not written.

    Recording the same invocation again replaces its rows.
    """
    dag_run_id, try_number = airflow_context()
    rows = [
        [
            invocation.invocation_id,
            _naive_utc(invocation.built_at),
            node.unique_id,
            node.resource_type,
            node.name,
            node.status,
            _naive_utc(node.started_at),
            _naive_utc(node.completed_at),
            node.execution_seconds,
            node.failures,
            node.message,
            dag_run_id,
            try_number,
        ]
        for node in invocation.nodes
    ]
    table = f"{SCHEMA}.{DBT_NODE_RESULTS}"
    try:
        with _connect(warehouse) as connection:
            connection.execute("begin")
            connection.execute(
                f"delete from {table} where invocation_id = ?",
                [invocation.invocation_id],
            )
            if rows:
                connection.executemany(
                    f"insert into {table} values ({', '.join('?' * len(rows[0]))})",
                    rows,
                )
            connection.execute("commit")
    except duckdb.Error as error:
        logger.warning("run history: could not write %s: %s", table, error)
        return False
    logger.info(
        "run history: %d node result(s) of dbt invocation %s recorded in %s",
        len(rows),
        invocation.invocation_id,
        table,
    )
    return True
