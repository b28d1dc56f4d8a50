"""`python -m loader.dbt_build`: `dbt build`, then its history and alerts.

Runs `dbt build` (extra arguments are passed on), then reads the
`run_results.json` that dbt writes even when nodes fail or warn, records one
row per node in `ops.dbt_node_results` and posts an alert when a node warned,
failed or errored. It reads the results after dbt has exited, so dbt has
released the warehouse (DuckDB's one writer), and a crash of dbt itself
still ends in an alert. Exits with dbt's exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from loader import alerts, history, logs
from loader.pipeline import warehouse_path

logger = logging.getLogger("loader.dbt_build")

DBT_FLAGS = ["--warn-error-options", '{"error": ["Deprecations"]}']
# An exposure has nothing to run: dbt reports it as no-op.
OK = ("success", "pass", "no-op")
PROBLEMS = ("warn", "fail", "error", "runtime error")
# Nodes named in an alert; the rest are counted, and all are in ops.
ALERT_NODES = 5


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(
        prog="python -m loader.dbt_build",
        description="dbt build, then record node results in ops and alert.",
    )
    parser.add_argument(
        "--no-failure-alert",
        action="store_true",
        help="post no alert when dbt fails (Airflow: an attempt to be retried);"
        " warnings are still posted",
    )
    return parser.parse_known_args(argv)


def target_dir() -> Path:
    return Path(os.environ.get("DBT_TARGET_PATH", "target"))


def dbt_log_file() -> Path:
    return Path(os.environ.get("DBT_LOG_PATH", "logs")).resolve() / "dbt.log"


def fresh_results(started: float) -> history.DbtInvocation | None:
    """This build's run results; None when dbt wrote none (it failed early)."""
    path = target_dir() / "run_results.json"
    try:
        if path.stat().st_mtime < started:
            return None
        return history.read_run_results(path)
    except (OSError, ValueError, KeyError) as error:
        logger.warning("no usable dbt run results at %s: %s", path, error)
        return None


def summary_line(invocation: history.DbtInvocation | None, code: int) -> str:
    if invocation is None:
        return f"dbt build: no node ran; exit code {code}"
    return (
        f"dbt build: {len(invocation.nodes)} node(s): {invocation.count(*OK)} ok,"
        f" {invocation.count('warn')} warn, {invocation.count('fail')} fail,"
        f" {invocation.count('error', 'runtime error')} error,"
        f" {invocation.count('skipped')} skipped; exit code {code}"
    )


def alert_message(
    invocation: history.DbtInvocation | None, code: int, recorded: bool
) -> str:
    """What went wrong, where, the counts, and where to read more."""
    if code != 0:
        headline = f":red_circle: Fake Store dbt build failed (exit code {code})"
    else:
        warned = invocation.count("warn") if invocation else 0
        headline = f":warning: Fake Store dbt build passed with {warned} warning(s)"
    lines = [
        headline,
        f"where: warehouse {warehouse_path()}, {alerts.where()}",
        "counts: " + summary_line(invocation, code).split(": ", 1)[1],
    ]
    if invocation is not None:
        problems = [node for node in invocation.nodes if node.status in PROBLEMS]
        for node in problems[:ALERT_NODES]:
            failures = f" ({node.failures} failing row(s))" if node.failures else ""
            message = node.message.splitlines()[0] if node.message else ""
            lines.append(
                f"- {node.status} {node.resource_type} {node.name}{failures}: {message}"
            )
        if len(problems) > ALERT_NODES:
            lines.append(f"- and {len(problems) - ALERT_NODES} more")
        table = f"{history.SCHEMA}.{history.DBT_NODE_RESULTS}"
        lines.append(
            f"history: invocation {invocation.invocation_id} in {table}"
            if recorded
            else f"history: not recorded in {table} (see log)"
        )
    lines.append(f"log: {alerts.log_link(str(dbt_log_file()))}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args, dbt_args = parse_args(argv)
    logs.configure(logging.INFO)
    dbt = Path(sys.executable).parent / "dbt"
    command = [str(dbt), "build", *dbt_args, *DBT_FLAGS]
    if logs.is_json():
        command += ["--log-format", "json"]
    logger.info("dbt build starts")
    # Whole seconds: some file systems keep modification times that coarse.
    started = int(time.time())
    code = subprocess.run(command, check=False).returncode
    invocation = fresh_results(started)
    recorded = invocation is not None and history.record_dbt_invocation(
        warehouse_path(), invocation
    )
    line = summary_line(invocation, code)
    if code == 0:
        logger.info(line)
    else:
        logger.error(line)
    warned = invocation is not None and invocation.count(*PROBLEMS) > 0
    if code != 0 and args.no_failure_alert:
        logger.info("no alert for this failure: the build will be retried")
    elif code != 0 or warned:
        alerts.send(alert_message(invocation, code, recorded))
    return code


if __name__ == "__main__":
    sys.exit(main())
