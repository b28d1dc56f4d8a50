"""Secrets stay out of the warehouse, the lake, the logs and git."""

from __future__ import annotations

import gzip
import secrets
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.alert_receiver import AlertReceiver
from tests.conftest import REPO, run_loader
from tests.replay_server import ReplayServer, Reply
from tests.test_loader import passwords

CREDENTIAL_FILES = (".dlt/secrets.toml", ".env")


def test_gitignore_covers_the_credential_files() -> None:
    lines = (REPO / ".gitignore").read_text("utf-8").splitlines()

    for name in CREDENTIAL_FILES:
        assert name in lines


@pytest.mark.skipif(
    not (REPO / ".git").exists() or not shutil.which("git"),
    reason="not a git checkout",
)
def test_no_credential_file_is_tracked_and_git_ignores_them() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *CREDENTIAL_FILES],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.splitlines()

    assert not [f for f in tracked if Path(f).name in {"secrets.toml", ".env"}]
    assert sorted(ignored) == sorted(CREDENTIAL_FILES)


def lake_text(lake: Path) -> str:
    """Every file of the lake as text: Parquet values, JSON lines unzipped."""
    texts = []
    with duckdb.connect() as connection:
        for file in sorted(f for f in lake.rglob("*") if f.is_file()):
            if file.suffix == ".parquet":
                sql = "select * from read_parquet(?)"
                rows = connection.execute(sql, [str(file)]).fetchall()
                texts.append(str(rows))
            elif file.suffix == ".gz":
                texts.append(gzip.decompress(file.read_bytes()).decode("utf-8"))
            else:
                texts.append(file.read_text("utf-8"))
    return "\n".join(texts)


def test_no_secret_reaches_the_lake_the_logs_or_the_working_folder(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Object-store keys come from the environment (or .dlt/secrets.toml) only.
    key = "sk-" + secrets.token_hex(16)
    monkeypatch.setenv(
        "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY", key
    )
    monkeypatch.setenv("RUNTIME__LOG_LEVEL", "INFO")

    loaded = run_loader("--destination", "filesystem")

    assert loaded.returncode == 0, loaded.stderr
    logged = loaded.stdout + loaded.stderr
    stored = lake_text(tmp_path / "lake")
    working = b"".join(
        f.read_bytes() for f in (tmp_path / "pipelines").rglob("*") if f.is_file()
    )
    assert "johnd" in stored  # the lake holds the users, without passwords
    for secret in [key, *passwords()]:
        assert secret not in logged
        assert secret not in stored
        assert secret.encode() not in working


def test_a_failure_alert_and_log_hold_no_secret(
    warehouse: Path,
    replay: ReplayServer,
    alerts: AlertReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "sk-" + secrets.token_hex(16)
    monkeypatch.setenv(
        "DESTINATION__FILESYSTEM__CREDENTIALS__AWS_SECRET_ACCESS_KEY", key
    )
    replay.fault = lambda path, params, number: (
        Reply(status=503) if path == "/users" else None
    )

    failed = run_loader()

    assert failed.returncode == 1
    [alert] = alerts.texts
    assert "/users answered HTTP 503 (gave up after 3 attempt(s))" in alert
    for text in (alert, failed.stdout + failed.stderr):
        assert key not in text
        assert alerts.url not in text
        assert not [p for p in passwords() if p in text]
