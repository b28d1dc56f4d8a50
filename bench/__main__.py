"""`python -m bench`: the loader against the naive script, written to BENCHMARKS.md.

Each measurement runs the real commands as subprocesses (`python -m loader`,
`dbt build`, `python -m bench.naive`) against the replay server on 127.0.0.1
serving generated data with a per-request latency; time is wall-clock, memory
is the peak RSS of that process (its VmHWM, polled). Figures are
compared as ratios within one run, so a busy machine moves both sides.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from bench.generate import Dataset, api_date, generate, more_carts
from tests.replay_server import ReplayServer, Reply, Store

logger = logging.getLogger("bench")

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
NOTES = Path(__file__).parent / "NOTES.md"
# The first run ends where the generated data ends; the second a day later.
FIRST_NOW = datetime(2025, 1, 1, tzinfo=UTC)
SECOND_NOW = FIRST_NOW + timedelta(days=1)
START_DATE = "2023-01-01"
MART_SQL = """
    select user_id, latest_cart_date, top_category, top_category_quantity,
        cart_count, total_quantity
    from marts.user_cart_summary
    order by user_id
"""
STEPS = re.compile(r"\(extract ([\d.]+) s, normalize ([\d.]+) s, load ([\d.]+) s")


@dataclass
class Proc:
    """One measured subprocess."""

    seconds: float
    peak_mb: float
    log: str
    steps: dict[str, float] = field(default_factory=dict)


@dataclass
class Settings:
    scales: list[int]
    latency: float
    window_days: int
    lag_days: int
    workers: int
    speedup_lines: int
    work: Path
    out: Path
    report_only: bool = False


class Server:
    """The replay server plus a count of requests in flight at once."""

    def __init__(self, data: Dataset, latency: float) -> None:
        self.latency = latency
        self._lock = threading.Lock()
        self._now = 0
        self.max_in_flight = 0
        store = Store(data.products, data.users, data.carts)
        self.replay = ReplayServer(store, fault=self._hold)

    def _hold(self, path: str, query: dict[str, str], number: int) -> Reply | None:
        # The latency is spent inside the handler, so overlapping holds are
        # requests the client has in flight at the same time.
        with self._lock:
            self._now += 1
            self.max_in_flight = max(self.max_in_flight, self._now)
        time.sleep(self.latency)
        with self._lock:
            self._now -= 1
        return None

    def reset(self) -> None:
        self.replay.reset_log()
        self.max_in_flight = 0

    def __enter__(self) -> Server:
        self.replay.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.replay.__exit__(*exc)


def measure(command: list[str], env: dict[str, str], log: Path) -> Proc:
    """Run `command`, returning wall time, peak RSS and its output.

    The peak is the kernel's high-water mark of the process itself (VmHWM),
    read every 20 ms while it runs: `wait4`'s ru_maxrss would also count
    short-lived helpers it forks (dlt runs `file -b` on the interpreter),
    whose RSS at fork time is the parent's.
    """
    started = time.monotonic()
    peak_kb = 0
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        status = None
        while status is None:
            peak_kb = max(peak_kb, _high_water_kb(process.pid))
            pid, code, _ = os.wait4(process.pid, os.WNOHANG)
            if pid:
                status = code
            else:
                time.sleep(0.02)
    seconds = time.monotonic() - started
    text = log.read_text("utf-8", "replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command)} failed; see {log}:\n{text[-2000:]}")
    proc = Proc(seconds, peak_kb / 1024, text)
    found = STEPS.search(text)
    if found:
        proc.steps = dict(
            zip(
                ("extract", "normalize", "load"),
                map(float, found.groups()),
                strict=True,
            )
        )
    return proc


def _high_water_kb(pid: int) -> int:
    """VmHWM of a running process in kB; 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def loader_env(
    settings: Settings, url: str, now: datetime, workers: int
) -> dict[str, str]:
    work = settings.work
    return {
        "WAREHOUSE_PATH": str(work / "warehouse.duckdb"),
        "PIPELINES_DIR": str(work / "pipelines"),
        "SOURCES__FAKESTORE__BASE_URL": url,
        "SOURCES__FAKESTORE__START_DATE": START_DATE,
        "SOURCES__FAKESTORE__WINDOW_DAYS": str(settings.window_days),
        "SOURCES__FAKESTORE__LAG_DAYS": str(settings.lag_days),
        "SOURCES__FAKESTORE__MAX_WORKERS": str(workers),
        "SOURCES__FAKESTORE__NOW": now.isoformat(),
        "DBT_PROFILES_DIR": str(REPO),
        # One target folder for every build: dbt parses the project once.
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
    }


def fresh_warehouse(settings: Settings) -> None:
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal", "pipelines"):
        target = settings.work / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def run_loader(settings: Settings, env: dict[str, str], tag: str) -> Proc:
    return measure(
        [sys.executable, "-m", "loader"], env, settings.work / f"loader-{tag}.log"
    )


def run_dbt(settings: Settings, env: dict[str, str], tag: str) -> Proc:
    command = [
        str(BIN / "dbt"),
        "build",
        "--warn-error-options",
        '{"error": ["Deprecations"]}',
    ]
    return measure(command, env, settings.work / f"dbt-{tag}.log")


def run_naive(settings: Settings, url: str, tag: str) -> tuple[Proc, Path]:
    out = settings.work / f"naive-{tag}.csv"
    command = [sys.executable, "-m", "bench.naive", url, str(out)]
    return measure(command, {}, settings.work / f"naive-{tag}.log"), out


def mart_rows(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute(MART_SQL).fetchall()
    return [
        (
            user_id,
            day.isoformat() if day else None,
            category,
            top,
            carts,
            total,
        )
        for user_id, day, category, top, carts, total in rows
    ]


def naive_rows(path: Path) -> list[tuple]:
    def number(text: str) -> int | None:
        return int(float(text)) if text else None

    with path.open(newline="", encoding="utf-8") as file:
        return [
            (
                int(row["user_id"]),
                row["latest_cart_date"] or None,
                row["top_category"] or None,
                number(row["top_category_quantity"]),
                int(row["cart_count"]),
                int(row["total_quantity"]),
            )
            for row in csv.DictReader(file)
        ]


def speedup(settings: Settings) -> dict[str, Any]:
    """Extraction with 1 worker and with `workers`, at the configured latency."""
    data = generate(settings.speedup_lines)
    result: dict[str, Any] = {"lines": data.lines, "latency": settings.latency}
    with Server(data, settings.latency) as server:
        for workers in (1, settings.workers):
            fresh_warehouse(settings)
            server.reset()
            env = loader_env(settings, server.replay.url, FIRST_NOW, workers)
            proc = run_loader(settings, env, f"speedup-{workers}")
            requests = len(server.replay.requests)
            result[workers] = {
                "requests": requests,
                "extract": proc.steps["extract"],
                "bound": requests * settings.latency / workers,
                "max_in_flight": server.max_in_flight,
            }
            logger.info("speedup, %d worker(s): %s", workers, result[workers])
    result["ratio"] = result[1]["extract"] / result[settings.workers]["extract"]
    return result


def scale_run(settings: Settings, lines: int, last: bool) -> dict[str, Any]:
    """Load, build and the naive script at one scale; the increment if `last`."""
    data = generate(lines)
    row: dict[str, Any] = {"lines": data.lines, "carts": len(data.carts)}
    tag = str(lines)
    with Server(data, settings.latency) as server:
        fresh_warehouse(settings)
        env = loader_env(settings, server.replay.url, FIRST_NOW, settings.workers)
        loaded = run_loader(settings, env, tag)
        row["requests"] = len(server.replay.requests)
        built = run_dbt(settings, env, tag)
        naive, naive_csv = run_naive(settings, server.replay.url, tag)
        mart = mart_rows(settings.work / "warehouse.duckdb")
        row.update(
            loader_s=loaded.seconds,
            loader_mb=loaded.peak_mb,
            steps=loaded.steps,
            dbt_s=built.seconds,
            dbt_mb=built.peak_mb,
            naive_s=naive.seconds,
            naive_mb=naive.peak_mb,
            users=len(mart),
            mart_equals_naive=mart == naive_rows(naive_csv),
        )
        logger.info("scale %d: %s", lines, row)
        if last:
            row["increment"] = increment(settings, server, data, row)
    return row


def increment(
    settings: Settings, server: Server, data: Dataset, first: dict[str, Any]
) -> dict[str, Any]:
    """1% new carts, dated from inside the lag to after the cursor, then a run."""
    added = more_carts(data, 0.01, FIRST_NOW - timedelta(days=3), SECOND_NOW)
    server.replay.store.replace_carts(data.carts + added)
    server.reset()
    env = loader_env(settings, server.replay.url, SECOND_NOW, settings.workers)
    second = run_loader(settings, env, "increment")
    with duckdb.connect(
        str(settings.work / "warehouse.duckdb"), read_only=True
    ) as connection:
        carts = connection.execute("select count(*) from raw.carts").fetchone()[0]
    result = {
        "new_carts": len(added),
        "new_carts_from": api_date(min(_when(c) for c in added)),
        "new_carts_to": api_date(max(_when(c) for c in added)),
        "requests": len(server.replay.requests),
        "first_requests": first["requests"],
        "loader_s": second.seconds,
        "first_loader_s": first["loader_s"],
        "raw_carts": carts,
        "expected_carts": len(data.carts) + len(added),
    }
    logger.info("increment: %s", result)
    return result


def _when(cart: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(cart["date"].replace("Z", "+00:00"))


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GB RAM"
    except OSError:
        pass
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("dlt", "duckdb", "pyarrow", "pandas", "dbt-core", "dbt-duckdb")
    )
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores, {memory}",
        "system": f"{platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}",
        "versions": versions,
    }


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(
    settings: Settings,
    results: dict[str, Any],
    started: datetime,
    seconds: float,
    loads: tuple[str, str],
) -> str:
    info = machine()
    fast = results["speedup"]
    workers = settings.workers
    scales = results["scales"]
    largest = scales[-1]
    inc = largest["increment"]
    growth = [
        (small, big, big["loader_mb"] / small["loader_mb"])
        for small, big in zip(scales, scales[1:], strict=False)
    ]
    ours = largest["loader_s"] + largest["dbt_s"]
    request_share = inc["requests"] / inc["first_requests"]
    days = (FIRST_NOW - datetime.fromisoformat(START_DATE).replace(tzinfo=UTC)).days
    windows = -(-days // settings.window_days)
    time_share = inc["loader_s"] / inc["first_loader_s"]
    out = [
        "# Benchmarks",
        "",
        f"Generated by `make bench` (`python -m bench`) on {started:%Y-%m-%d %H:%M} UTC"
        f" in {seconds / 60:.1f} min. Do not edit by hand: the notes at the end come"
        " from `bench/NOTES.md`.",
        "",
        f"- Machine: {info['cpu']}; {info['system']}.",
        f"- Versions: {info['versions']}.",
        f"- Load average (1/5/15 min) at start: {loads[0]}; at end: {loads[1]}."
        " The machine is shared: other jobs may have run during the benchmark, which"
        " is why every target is read as a ratio within this one run.",
        f"- Data: seeded generator (`bench/generate.py`), carts spread uniformly over"
        f" {START_DATE} to {FIRST_NOW:%Y-%m-%d} with 1 to 8 lines each, 200 products"
        " in four categories with 1/k popularity, one user per 20 carts.",
        f"- Served by the replay server on 127.0.0.1 with {settings.latency * 1000:.0f}"
        f" ms latency per request. Loader settings: window_days {settings.window_days}"
        f" (so {windows} carts windows), lag_days {settings.lag_days},"
        f" max_workers {workers}, `now`"
        f" pinned to {FIRST_NOW:%Y-%m-%d}.",
        "- Time is wall-clock of the whole command (process start included); memory"
        " is the peak RSS of that process (its `VmHWM`, read every 20 ms).",
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
        f"| extraction with {workers} workers >= 6x faster than with 1"
        f" ({settings.latency * 1000:.0f} ms latency) | {fast['ratio']:.1f}x"
        f" | {verdict(fast['ratio'] >= 6)} |",
    ]
    for small, big, ratio in growth:
        out.append(
            f"| loader peak memory grows <= 1.3x when data grows 10x"
            f" ({small['lines']:,} -> {big['lines']:,} lines)"
            f" | {ratio:.2f}x ({small['loader_mb']:.0f} -> {big['loader_mb']:.0f} MB)"
            f" | {verdict(ratio <= 1.3)} |"
        )
    out += [
        f"| loader peak memory < 0.5 GB at {largest['lines']:,} lines"
        f" | {largest['loader_mb']:.0f} MB | {verdict(largest['loader_mb'] < 512)} |",
        f"| incremental run after 1% new carts: <= 10% of the first run's requests"
        f" | {inc['requests']} / {inc['first_requests']} = {request_share:.1%}"
        f" | {verdict(request_share <= 0.1)} |",
        f"| incremental run after 1% new carts: <= 10% of the first run's time"
        f" | {inc['loader_s']:.1f} s / {inc['first_loader_s']:.1f} s ="
        f" {time_share:.1%} | {verdict(time_share <= 0.1)} |",
        f"| load + dbt build <= naive script's time at {largest['lines']:,} lines"
        f" | {ours:.1f} s vs {largest['naive_s']:.1f} s"
        f" ({ours / largest['naive_s']:.2f}x)"
        f" | {verdict(ours <= largest['naive_s'])} |",
        f"| loader peak memory <= half the naive script's at {largest['lines']:,}"
        f" lines | {largest['loader_mb']:.0f} MB vs {largest['naive_mb']:.0f} MB"
        f" ({largest['loader_mb'] / largest['naive_mb']:.2f}x)"
        f" | {verdict(largest['loader_mb'] <= largest['naive_mb'] / 2)} |",
        "",
        f"## Parallel extraction ({fast['lines']:,} cart lines)",
        "",
        "The extract step's time as the loader logs it, against the bound"
        " N requests x latency / workers (N counts products and users too).",
        "",
        "| max_workers | requests | extract (s) | bound (s) | max in flight at the"
        " server |",
        "|---|---|---|---|---|",
    ]
    for count in (1, workers):
        seen = fast[count]
        out.append(
            f"| {count} | {seen['requests']} | {seen['extract']:.2f}"
            f" | {seen['bound']:.2f} | {seen['max_in_flight']} |"
        )
    out += [
        "",
        f"Speed-up: {fast['ratio']:.1f}x (the bound allows {workers}x).",
        "",
        "## Scale: load, build, and the naive script on the same data",
        "",
        "| cart lines | carts | users | loader requests | loader (s) | extract /"
        " normalize / load (s) | loader peak (MB) | dbt build (s) | dbt peak (MB)"
        " | load + build (s) | naive (s) | naive peak (MB) | mart = naive |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in scales:
        steps = row["steps"]
        out.append(
            f"| {row['lines']:,} | {row['carts']:,} | {row['users']:,}"
            f" | {row['requests']} | {row['loader_s']:.1f}"
            f" | {steps['extract']:.1f} / {steps['normalize']:.1f} /"
            f" {steps['load']:.1f} | {row['loader_mb']:.0f} | {row['dbt_s']:.1f}"
            f" | {row['dbt_mb']:.0f} | {row['loader_s'] + row['dbt_s']:.1f}"
            f" | {row['naive_s']:.1f} | {row['naive_mb']:.0f}"
            f" | {'yes' if row['mart_equals_naive'] else '**no**'} |"
        )
    out += [
        "",
        "`mart = naive`: every row of `marts.user_cart_summary` equals the naive"
        " script's CSV row for that user (date, category, quantities, counts).",
        "",
        f"## Incremental run ({largest['lines']:,} lines, then 1% new carts)",
        "",
        f"{inc['new_carts']:,} new carts dated {inc['new_carts_from']} to"
        f" {inc['new_carts_to']} (inside the lag and after the cursor); the second"
        f" run's `now` is {SECOND_NOW:%Y-%m-%d}.",
        "",
        "| run | requests | loader (s) |",
        "|---|---|---|",
        f"| first (full) | {inc['first_requests']} | {inc['first_loader_s']:.1f} |",
        f"| second (incremental) | {inc['requests']} | {inc['loader_s']:.1f} |",
        f"| ratio | {request_share:.1%} | {time_share:.1%} |",
        "",
        f"Raw carts after the second run: {inc['raw_carts']:,} (expected"
        f" {inc['expected_carts']:,}).",
        "",
    ]
    if NOTES.exists():
        out += [NOTES.read_text("utf-8").strip(), ""]
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scales", default="10000,100000,1000000")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--window-days", type=int, default=7)
    parser.add_argument("--lag-days", type=int, default=7)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--speedup-lines", type=int, default=10000)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "out")
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the report from the last run's results.json (after editing"
        " bench/NOTES.md), measuring nothing",
    )
    args = parser.parse_args(argv)
    return Settings(
        scales=[int(s) for s in args.scales.split(",")],
        latency=args.latency,
        window_days=args.window_days,
        lag_days=args.lag_days,
        workers=args.workers,
        speedup_lines=args.speedup_lines,
        work=args.work,
        out=args.out,
        report_only=args.report_only,
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    settings = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s bench: %(message)s")
    settings.work.mkdir(parents=True, exist_ok=True)
    saved = settings.work / "results.json"
    if settings.report_only:
        run = json.loads(saved.read_text("utf-8"))
    else:
        started = datetime.now(UTC)
        clock = time.monotonic()
        load_before = load_average()
        results: dict[str, Any] = {"speedup": speedup(settings), "scales": []}
        for index, lines in enumerate(settings.scales):
            last = index == len(settings.scales) - 1
            results["scales"].append(scale_run(settings, lines, last))
        run = {
            "results": results,
            "started": started.isoformat(),
            "seconds": time.monotonic() - clock,
            "loads": [load_before, load_average()],
        }
        saved.write_text(json.dumps(run, indent=1), "utf-8")
    results = run["results"]
    # JSON keys are strings: the worker counts become ints again.
    speed = results["speedup"]
    for key in [k for k in speed if isinstance(k, str) and k.isdigit()]:
        speed[int(key)] = speed.pop(key)
    text = report(
        settings,
        results,
        datetime.fromisoformat(run["started"]),
        run["seconds"],
        tuple(run["loads"]),
    )
    settings.out.write_text(text, "utf-8")
    logger.info("wrote %s", settings.out)
    return results


if __name__ == "__main__":
    main()
