"""Airflow DAG `fakestore_elt`: load the Fake Store API daily, then `dbt build`.

Airflow lives in its own environment (`make airflow` makes `.venv-airflow`);
the tasks run the project's own `.venv` binaries by path, so Airflow's
dependencies and dbt's or dlt's never have to agree.

Settings, read when a task runs:
- Airflow Variable `fakestore_warehouse_path` (else env `WAREHOUSE_PATH`,
  else `data/warehouse.duckdb` in the project): the DuckDB warehouse.
- Airflow Variable `fakestore_api_url` (else env
  `SOURCES__FAKESTORE__BASE_URL`, else `.dlt/config.toml`): the API.
- env `ALERT_WEBHOOK_URL` of the Airflow worker: where alerts go. Kept out of
  Variables and templates so that the secret never shows in the UI.
Read when the DAG is parsed: env `FAKESTORE_RETRIES` (2) and
`FAKESTORE_RETRY_DELAY_SECONDS` (300), the first wait before a retry, doubled
at each further one.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

PROJECT_DIR = Path(
    os.environ.get("FAKESTORE_PROJECT_DIR", Path(__file__).resolve().parent.parent)
)
PYTHON = PROJECT_DIR / ".venv" / "bin" / "python"
DEFAULT_WAREHOUSE = os.environ.get(
    "WAREHOUSE_PATH", str(PROJECT_DIR / "data" / "warehouse.duckdb")
)
DEFAULT_API_URL = os.environ.get("SOURCES__FAKESTORE__BASE_URL", "")
RETRIES = int(os.environ.get("FAKESTORE_RETRIES", "2"))
RETRY_DELAY = timedelta(
    seconds=int(os.environ.get("FAKESTORE_RETRY_DELAY_SECONDS", "300"))
)

# Only the last attempt of a task alerts on failure: a retry that succeeds is
# no news, and a failing task posts one alert, not one per attempt.
FAILURE_ALERT_FLAG = (
    "{{ '' if ti.try_number > task.retries else '--no-failure-alert' }}"
)


def variable(name: str, default: str) -> str:
    """A template reading Airflow Variable `name` when the task runs."""
    return f"{{{{ var.value.get({name!r}, {default!r}) }}}}"


TASK_ENV = {
    "WAREHOUSE_PATH": variable("fakestore_warehouse_path", DEFAULT_WAREHOUSE),
    "FAKESTORE_API_URL": variable("fakestore_api_url", DEFAULT_API_URL),
    "DBT_PROFILES_DIR": str(PROJECT_DIR),
    # The alert links to this task's log page in the Airflow UI.
    "ALERT_LOG_URL": "{{ ti.log_url }}",
}
# An empty API URL leaves the loader to `.dlt/config.toml`.
USE_API_URL = (
    'if [ -n "$FAKESTORE_API_URL" ]; then'
    ' export SOURCES__FAKESTORE__BASE_URL="$FAKESTORE_API_URL"; fi; '
)

with DAG(
    dag_id="fakestore_elt",
    description="Fake Store API -> DuckDB raw (dlt) -> dbt build -> marts",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    # A DAG switched on late runs once, for the latest day, not once per day.
    catchup=False,
    # DuckDB allows one writer: never two runs at once.
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=3),
    default_args={
        "owner": "data",
        "retries": RETRIES,
        "retry_delay": RETRY_DELAY,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=1),
        "execution_timeout": timedelta(hours=1),
    },
    tags=["fakestore", "elt"],
    doc_md=__doc__,
) as dag:
    extract_load = BashOperator(
        task_id="extract_load",
        bash_command=(
            f"{USE_API_URL}exec '{PYTHON}' -m loader --destination duckdb"
            f" {FAILURE_ALERT_FLAG}"
        ),
        cwd=str(PROJECT_DIR),
        env=TASK_ENV,
        append_env=True,
    )
    dbt_build = BashOperator(
        task_id="dbt_build",
        bash_command=f"exec '{PYTHON}' -m loader.dbt_build {FAILURE_ALERT_FLAG}",
        cwd=str(PROJECT_DIR),
        env=TASK_ENV,
        append_env=True,
    )

    extract_load >> dbt_build
