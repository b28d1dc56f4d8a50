"""The Airflow DAG: it loads, its tasks and their order, and whole runs of it.

Airflow lives in `.venv-airflow` (`make airflow`); these tests drive it as a
user would, through its own interpreter and `airflow dags test`, with an
SQLite metadata database in a temporary AIRFLOW_HOME.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alert_receiver import AlertReceiver
from tests.conftest import REPO, query
from tests.replay_server import ReplayServer, Reply
from tests.test_end_to_end import EXPECTED, MART

AIRFLOW_BIN = REPO / ".venv-airflow" / "bin"
DAG_ID = "fakestore_elt"

INSPECT_DAG = """
import json
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder="orchestration")
dag = bag.get_dag("fakestore_elt")
print(json.dumps({
    "import_errors": {str(k): str(v) for k, v in bag.import_errors.items()},
    "dag_ids": sorted(bag.dag_ids),
    "schedule": str(dag.schedule),
    "catchup": dag.catchup,
    "max_active_runs": dag.max_active_runs,
    "tasks": {
        t.task_id: {
            "downstream": sorted(t.downstream_task_ids),
            "retries": t.retries,
            "retry_exponential_backoff": t.retry_exponential_backoff,
            "retry_delay": t.retry_delay.total_seconds(),
            "bash_command": t.bash_command,
        }
        for t in dag.tasks
    },
}))
"""


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An AIRFLOW_HOME with a migrated SQLite metadata database."""
    assert (AIRFLOW_BIN / "airflow").exists(), "run `make airflow` first"
    home = tmp_path_factory.mktemp("airflow")
    migrated = subprocess.run(
        [str(AIRFLOW_BIN / "airflow"), "db", "migrate"],
        env=airflow_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    yield home


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "orchestration"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        **extra,
    }


def dags_test(
    home: Path, warehouse: Path, api_url: str, day: str, **extra: str
) -> subprocess.CompletedProcess:
    """One run of the DAG, in process, as `airflow dags test` makes it."""
    env = airflow_env(
        home,
        AIRFLOW_VAR_FAKESTORE_API_URL=api_url,
        AIRFLOW_VAR_FAKESTORE_WAREHOUSE_PATH=str(warehouse),
        **extra,
    )
    # The Variables, not the loader's own settings, must point the tasks.
    env.pop("SOURCES__FAKESTORE__BASE_URL", None)
    env.pop("WAREHOUSE_PATH", None)
    return subprocess.run(
        [str(AIRFLOW_BIN / "airflow"), "dags", "test", DAG_ID, day],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_the_dag_loads_with_its_tasks_in_order(airflow_home: Path) -> None:
    inspected = subprocess.run(
        [str(AIRFLOW_BIN / "python"), "-c", INSPECT_DAG],
        cwd=REPO,
        env=airflow_env(airflow_home),
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert inspected.returncode == 0, inspected.stderr
    dag = json.loads(inspected.stdout.strip().splitlines()[-1])
    assert dag["import_errors"] == {}
    assert dag["dag_ids"] == [DAG_ID]
    assert (dag["schedule"], dag["catchup"], dag["max_active_runs"]) == (
        "@daily",
        False,
        1,
    )
    tasks = dag["tasks"]
    assert {name: task["downstream"] for name, task in tasks.items()} == {
        "extract_load": ["dbt_build"],
        "dbt_build": [],
    }
    for task in tasks.values():
        assert (
            task["retries"],
            task["retry_exponential_backoff"],
            task["retry_delay"],
        ) == (2, 2.0, 300.0)
    assert (
        "/.venv/bin/python' -m loader --destination duckdb"
        in (tasks["extract_load"]["bash_command"])
    )
    assert "-m loader.dbt_build" in tasks["dbt_build"]["bash_command"]


def test_a_dag_run_builds_the_mart_and_posts_no_alert(
    airflow_home: Path, warehouse: Path, replay: ReplayServer, alerts: AlertReceiver
) -> None:
    result = dags_test(airflow_home, warehouse, replay.url, "2026-12-01")

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert query(warehouse, MART) == EXPECTED
    [(status, rows, dag_run_id, try_number)] = query(
        warehouse,
        "select status, rows_loaded, dag_run_id, try_number from ops.loader_runs",
    )
    assert (status, rows, try_number) == ("succeeded", 51, 1)
    assert dag_run_id.startswith("manual__")
    assert query(
        warehouse,
        "select count(*),"
        " count(*) filter (where status in ('success', 'pass', 'no-op')),"
        " count(distinct dag_run_id), any_value(dag_run_id)"
        " from ops.dbt_node_results",
    ) == [(40, 40, 1, dag_run_id)]
    assert replay.requests_to("/products")
    assert alerts.texts == []


def test_a_dag_run_with_the_api_down_records_each_try_and_alerts_once(
    airflow_home: Path, warehouse: Path, replay: ReplayServer, alerts: AlertReceiver
) -> None:
    replay.fault = lambda path, query, number: Reply(status=503, body=b"down")

    # One retry, one second later: the retry path without the daily wait.
    result = dags_test(
        airflow_home,
        warehouse,
        replay.url,
        "2026-12-02",
        FAKESTORE_RETRIES="1",
        FAKESTORE_RETRY_DELAY_SECONDS="1",
    )

    assert result.returncode != 0
    rows = query(
        warehouse,
        "select status, error, try_number from ops.loader_runs order by started_at",
    )
    assert [(status, tried) for status, _, tried in rows] == [
        ("failed", 1),
        ("failed", 2),
    ]
    assert all("answered HTTP 503" in error for _, error, _ in rows)
    # dbt never ran: its upstream failed.
    assert query(warehouse, "select count(*) from ops.dbt_node_results") == [(0,)]
    [text] = alerts.texts
    assert "Fake Store load failed" in text
    assert "answered HTTP 503" in text
    assert f"Airflow {DAG_ID}.extract_load run manual__" in text
    assert "log: http" in text and "extract_load" in text
    assert "s3cr3t" not in text
