"""Run history in `ops`, alerts to a webhook, log formats: the loader and dbt step."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loader import settings
from loader.alerts import send as send_alert
from loader.pipeline import run
from tests.alert_receiver import SECRET_PATH, AlertReceiver
from tests.conftest import REPO, query, run_loader
from tests.replay_server import ReplayServer, Reply

RECORDED = {"products": 20, "users": 10, "carts": 7, "carts__products": 14}
LOADER_RUNS = """
    select status, rows_loaded, rows_per_table, quarantined, load_ids, error,
        finished_at >= started_at, seconds >= 0
    from ops.loader_runs
    order by started_at
"""


def api_down(replay: ReplayServer) -> None:
    replay.fault = lambda path, query, number: Reply(status=503, body=b"down")


def run_dbt_build(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`python -m loader.dbt_build` as the DAG's task runs it."""
    return subprocess.run(
        [sys.executable, "-m", "loader.dbt_build", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET_PATH not in text
        assert "s3cr3t" not in text


def test_a_load_records_its_run_and_posts_no_alert(
    warehouse: Path, alerts: AlertReceiver
) -> None:
    result = run_loader()

    assert result.returncode == 0, result.stderr
    [row] = query(warehouse, LOADER_RUNS)
    status, rows, per_table, quarantined, load_ids, error, ordered, timed = row
    assert (status, rows, json.loads(per_table), quarantined, error) == (
        "succeeded",
        51,
        RECORDED,
        0,
        None,
    )
    assert ordered and timed
    assert load_ids == [
        load_id for (load_id,) in query(warehouse, "select load_id from raw._dlt_loads")
    ]
    assert alerts.texts == []
    assert "recorded in ops.loader_runs" in result.stderr


def test_a_failed_load_records_the_error_and_posts_one_alert(
    warehouse: Path, replay: ReplayServer, alerts: AlertReceiver
) -> None:
    assert run_loader().returncode == 0
    api_down(replay)

    result = run_loader()

    assert result.returncode == 1
    rows = query(warehouse, LOADER_RUNS)
    assert [r[0] for r in rows] == ["succeeded", "failed"]
    status, loaded, per_table, _, load_ids, error, ordered, _ = rows[1]
    assert "answered HTTP 503" in error
    assert (loaded, json.loads(per_table), load_ids, ordered) == (0, {}, [], True)
    [text] = alerts.texts
    assert "Fake Store load failed" in text
    assert error in text
    assert str(warehouse) in text
    assert "ops.loader_runs" in text
    assert "log: " in text
    assert_no_secret(text, result.stderr)
    assert "alert sent" in result.stderr


def test_a_failure_to_be_retried_is_recorded_without_alert(
    warehouse: Path, replay: ReplayServer, alerts: AlertReceiver
) -> None:
    api_down(replay)

    result = run_loader("--no-failure-alert")

    assert result.returncode == 1
    assert [r[0] for r in query(warehouse, LOADER_RUNS)] == ["failed"]
    assert alerts.texts == []


def test_an_unreachable_webhook_never_fails_the_run(
    warehouse: Path, replay: ReplayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A port that was free a moment ago: nothing listens there now.
    with AlertReceiver() as gone:
        url = gone.url
    monkeypatch.setenv("ALERT_WEBHOOK_URL", url)

    loaded = run_loader()
    api_down(replay)
    failed = run_loader()

    assert loaded.returncode == 0, loaded.stderr
    assert failed.returncode == 1
    assert "alert not delivered: webhook unreachable" in failed.stderr
    assert [r[0] for r in query(warehouse, LOADER_RUNS)] == ["succeeded", "failed"]
    assert_no_secret(failed.stderr)


def test_without_a_webhook_url_no_alert_is_attempted(
    warehouse: Path, replay: ReplayServer
) -> None:
    api_down(replay)

    result = run_loader(env={"ALERT_WEBHOOK_URL": ""})

    assert result.returncode == 1
    assert "alert" not in result.stderr.lower()


def test_dbt_build_records_every_node_and_posts_no_alert_when_clean(
    warehouse: Path, alerts: AlertReceiver
) -> None:
    assert run_loader().returncode == 0

    built = run_dbt_build(env={"LOG_FORMAT": "json"})

    assert built.returncode == 0, built.stdout + built.stderr
    # dbt's lines and ours alike are JSON objects.
    lines = (built.stdout + built.stderr).splitlines()
    messages = [json.loads(line).get("message") for line in lines]
    counts = dict(
        query(
            warehouse,
            "select resource_type || ':' || status, count(*)"
            " from ops.dbt_node_results group by all",
        )
    )
    assert counts == {
        "model:success": 6,
        "test:pass": 24,
        "unit_test:pass": 8,
        "exposure:no-op": 1,
        # The on-run-start hook that registers the lake on Spark.
        "operation:success": 1,
    }
    assert query(
        warehouse,
        "select count(distinct invocation_id), count(*) filter (where"
        " completed_at >= started_at and execution_seconds >= 0"
        " and resource_type <> 'unit_test')"
        " from ops.dbt_node_results",
    ) == [(1, 32)]
    assert (
        "dbt build: 40 node(s): 40 ok, 0 warn, 0 fail, 0 error, 0 skipped;"
        " exit code 0" in messages
    )
    assert alerts.texts == []


def test_a_dbt_test_warning_posts_one_alert(
    warehouse: Path, replay: ReplayServer, alerts: AlertReceiver
) -> None:
    # A cart line whose product /products does not know: the relationships
    # test of the cart items warns.
    store = replay.store
    unknown = {
        "id": 99,
        "userId": 2,
        "date": "2020-02-15T00:00:00.000Z",
        "products": [{"productId": 999, "quantity": 3}],
        "__v": 0,
    }
    store.replace_carts([*store.carts, unknown])
    assert run_loader().returncode == 0

    built = run_dbt_build()

    assert built.returncode == 0, built.stdout
    [text] = alerts.texts
    assert "passed with 1 warning(s)" in text
    assert "warn test relationships_stg_fakestore__cart_items_product_id" in text
    assert "(1 failing row(s))" in text
    assert "ops.dbt_node_results" in text
    assert "dbt.log" in text
    [(name, failures)] = query(
        warehouse,
        "select node_name, failures from ops.dbt_node_results where status = 'warn'",
    )
    assert name.startswith("relationships_stg_fakestore__cart_items_product_id")
    assert failures == 1
    assert_no_secret(text, built.stdout, built.stderr)


def test_a_failed_dbt_build_records_its_errors_and_alerts_once(
    warehouse: Path, alerts: AlertReceiver
) -> None:
    # Nothing loaded: the staging models have no raw tables to read.
    retried = run_dbt_build("--no-failure-alert")
    assert retried.returncode != 0
    assert alerts.texts == []

    built = run_dbt_build()

    assert built.returncode != 0
    [text] = alerts.texts
    assert "dbt build failed (exit code 1)" in text
    assert "- error model stg_fakestore__" in text
    assert query(
        warehouse,
        "select count(distinct invocation_id), count(*) filter (where status = 'error')"
        " from ops.dbt_node_results",
    ) == [(2, 8)]


def test_json_logs_are_one_object_per_line(warehouse: Path) -> None:
    result = run_loader(env={"LOG_FORMAT": "json"})

    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    messages = [e["message"] for e in entries if "message" in e]
    assert "table carts: 7 rows" in " ".join(messages)
    assert {e["level"] for e in entries if "level" in e} <= {"INFO", "WARNING"}


def test_text_logs_by_default(warehouse: Path) -> None:
    result = run_loader()

    assert result.returncode == 0
    assert " INFO loader: load starts: destination duckdb" in result.stderr
    assert not result.stderr.lstrip().startswith("{")


@pytest.mark.parametrize(("every", "lines"), [(0.0, 59), (1e9, 1)])
def test_carts_progress_is_logged_at_most_every_few_seconds(
    warehouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    every: float,
    lines: int,
) -> None:
    monkeypatch.setattr(settings, "PROGRESS_SECONDS", every)
    caplog.set_level(logging.INFO, logger="loader.source")

    # 2020-01-01 to 2020-12-20 (354 days) in 6-day windows: 59 of them.
    run(window_days=6, now=datetime(2020, 12, 20, tzinfo=UTC))

    progress = [m for m in caplog.messages if "window(s) read" in m]
    assert len(progress) == lines
    assert progress[-1] == "carts: 59/59 window(s) read"


def test_an_alert_keeps_secrets_out(
    alerts: AlertReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    sent = send_alert(
        f"load failed: GET https://etl:hunter2@api.example/carts; hook {alerts.url}"
    )

    assert sent
    [text] = alerts.texts
    assert "hunter2" not in text and "https://***@api.example/carts" in text
    assert alerts.url not in text and "<webhook>" in text
    assert_no_secret(text, caplog.text)


def test_a_webhook_answering_an_error_is_a_warning(
    alerts: AlertReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The receiver answers 404 off its secret path.
    monkeypatch.setenv("ALERT_WEBHOOK_URL", alerts.url.replace(SECRET_PATH, "/x"))

    assert not send_alert("something failed")

    assert alerts.texts == []
    assert "alert not delivered: webhook answered HTTP 404" in caplog.text
