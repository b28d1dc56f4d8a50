"""Faults the pipeline survives: the same mart as a clean run, no duplicate,
no loss; or, when it cannot go on, one clear line and an intact warehouse.

The API's faults come from the replay server on 127.0.0.1; the process
faults are real: a loader killed with SIGKILL, a deleted warehouse, two runs
at once, a DuckDB file held open by another process.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from loader.pipeline import LoaderError, run
from tests.conftest import REPO, dbt, query, row_counts, run_loader
from tests.replay_server import ReplayServer, Reply
from tests.test_end_to_end import EXPECTED, MART
from tests.test_loader import RECORDED

DUPLICATES = """
    select 'carts', count(*) - count(distinct id) from raw.carts
    union all
    select 'lines', count(*) - count(distinct (cart_id, line_number))
    from raw.carts__products
    union all
    select 'products', count(*) - count(distinct id) from raw.products
    union all
    select 'users', count(*) - count(distinct id) from raw.users
"""


def assert_clean(warehouse: Path) -> None:
    """Raw and mart as a clean run leaves them: every row once, none lost."""
    built = dbt("run")
    assert built.returncode == 0, built.stdout
    assert row_counts(warehouse) == RECORDED
    assert {n for _, n in query(warehouse, DUPLICATES)} == {0}
    assert query(warehouse, MART) == EXPECTED


class EveryThird:
    """A fault hook: every third request, over all paths, gets `reply`.

    It keeps when each request came, per target, to check the retries.
    """

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.counter = itertools.count(1)
        self.lock = threading.Lock()
        self.seen: dict[str, list[tuple[float, bool]]] = defaultdict(list)

    def __call__(self, path: str, params: dict, number: int) -> Reply | None:
        target = path + "?" + "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        with self.lock:
            faulty = next(self.counter) % 3 == 0
            self.seen[target].append((time.monotonic(), faulty))
        return self.reply if faulty else None

    def faulted(self) -> dict[str, list[tuple[float, bool]]]:
        return {t: s for t, s in self.seen.items() if any(f for _, f in s)}


HTTP_FAULTS = {
    "429 without Retry-After": Reply(status=429, body=b"Too Many Requests"),
    "429 with Retry-After 1": Reply(status=429, headers={"Retry-After": "1"}),
    "429 with Retry-After 0": Reply(status=429, headers={"Retry-After": "0"}),
    "500 without Retry-After": Reply(status=500, body=b"Internal Server Error"),
    "503 with Retry-After 1": Reply(status=503, headers={"Retry-After": "1"}),
    "connection reset": Reply(drop=True),
    "read timeout": Reply(delay=2.0),
}


@pytest.mark.parametrize("name", list(HTTP_FAULTS))
def test_every_third_request_failing_gives_the_clean_mart(
    warehouse: Path,
    replay: ReplayServer,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    fault = EveryThird(HTTP_FAULTS[name])
    replay.fault = fault
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "6")
    # Retry-After is honoured up to this cap; the backoff itself is 0.
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_RETRY_DELAY", "5")
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "1")

    summary = run()

    assert summary.rows == RECORDED
    assert summary.quarantined == 0
    faulted = fault.faulted()
    assert len(faulted) >= 5
    for target, seen in faulted.items():
        # Each failed request was asked again until it got an answer.
        assert not seen[-1][1], target
    if HTTP_FAULTS[name].headers.get("Retry-After") == "1":
        gaps = [
            later[0] - earlier[0]
            for seen in faulted.values()
            for earlier, later in itertools.pairwise(seen)
            if earlier[1]
        ]
        assert min(gaps) >= 0.95, gaps
    assert_clean(warehouse)


def always(path: str, reply: Reply) -> Callable:
    return lambda seen, params, number: reply if seen == path else None


@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        (Reply(status=503, body=b"busy"), "answered HTTP 503 (gave up after 4"),
        (Reply(status=429), "answered HTTP 429 (gave up after 4 attempt(s))"),
        (Reply(drop=True), "failed after 4 attempt(s): ConnectionError"),
        (Reply(delay=1.5), "failed after 4 attempt(s): ReadTimeout"),
    ],
    ids=["503", "429", "reset", "timeout"],
)
def test_retries_back_off_then_give_up_naming_endpoint_and_cause(
    warehouse: Path,
    replay: ReplayServer,
    monkeypatch: pytest.MonkeyPatch,
    reply: Reply,
    cause: str,
) -> None:
    times: list[float] = []

    def hook(path: str, params: dict, number: int) -> Reply | None:
        if path != "/users":
            return None
        times.append(time.monotonic())
        return reply

    replay.fault = hook
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("RUNTIME__REQUEST_BACKOFF_FACTOR", "0.2")
    monkeypatch.setenv("RUNTIME__REQUEST_MAX_RETRY_DELAY", "5")
    monkeypatch.setenv("RUNTIME__REQUEST_TIMEOUT", "0.5")

    with pytest.raises(LoaderError) as failed:
        run()

    assert f"GET {replay.url}/users " in str(failed.value)
    assert cause in str(failed.value)
    # Bounded: exactly the configured attempts, each wait longer than the last.
    assert len(times) == 4
    waits = [b - a for a, b in itertools.pairwise(times)]
    assert waits[0] >= 0.15 and waits[1] >= 0.35 and waits[2] >= 0.75, waits
    assert not warehouse.exists() or "users" not in row_counts(warehouse)


class Gate:
    """A fault hook that holds one carts window until released."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, path: str, params: dict, number: int) -> Reply | None:
        if path == "/carts" and number == 3:
            self.entered.set()
            self.release.wait(60)
        return None


def start_loader(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "loader", *args],
        cwd=REPO,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("earlier_load", [False, True], ids=["first", "later"])
def test_a_loader_killed_mid_load_then_run_again_gives_the_clean_mart(
    warehouse: Path, replay: ReplayServer, earlier_load: bool
) -> None:
    # Killed in a first run, or in a --full-refresh over an earlier load.
    args = []
    if earlier_load:
        assert run_loader().returncode == 0
        replay.reset_log()
        args = ["--full-refresh"]
    gate = Gate()
    replay.fault = gate
    killed = start_loader(*args)
    try:
        assert gate.entered.wait(60), "the loader never reached the carts"
        time.sleep(0.5)  # the other windows arrive and are being written
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(30) == -signal.SIGKILL
    finally:
        gate.release.set()
        killed.kill()
        killed.communicate()
    replay.fault = None

    again = run_loader()

    assert again.returncode == 0, again.stderr
    assert_clean(warehouse)


def test_a_loader_killed_while_writing_the_warehouse_then_run_again(
    warehouse: Path, tmp_path: Path
) -> None:
    normalized = tmp_path / "pipelines" / "fakestore_duckdb" / "load" / "normalized"
    loader = start_loader()
    try:
        # A package in `normalized` is what the load step is writing.
        deadline = time.monotonic() + 120
        while not (normalized.exists() and any(normalized.iterdir())):
            assert loader.poll() is None, "the run ended before its load step"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        loader.send_signal(signal.SIGKILL)
        assert loader.wait(30) == -signal.SIGKILL
    finally:
        loader.kill()
        loader.communicate()
    assert any(normalized.iterdir()), "the load finished before the kill"

    again = run_loader()

    assert again.returncode == 0, again.stderr
    assert not any(normalized.iterdir())
    assert_clean(warehouse)


def test_a_deleted_warehouse_is_reloaded_whole(warehouse: Path) -> None:
    assert run_loader().returncode == 0
    assert dbt("run").returncode == 0
    warehouse.unlink()

    again = run_loader()

    assert again.returncode == 0, again.stderr
    assert "full reload" in again.stderr
    assert_clean(warehouse)


def test_a_run_interrupted_before_dbt_is_finished_by_the_next(
    warehouse: Path,
) -> None:
    # `make run` stopped after the load: the models were never built.
    assert run_loader().returncode == 0

    again = run_loader()

    assert again.returncode == 0, again.stderr
    assert_clean(warehouse)


def test_a_second_run_exits_naming_the_run_that_holds_the_warehouse(
    warehouse: Path, replay: ReplayServer
) -> None:
    gate = Gate()
    replay.fault = gate
    holder = start_loader()
    try:
        assert gate.entered.wait(60), "the first run never reached the carts"

        second = run_loader()
    finally:
        gate.release.set()
        first_out = holder.communicate(timeout=120)

    assert second.returncode == 1
    errors = [line for line in second.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, second.stderr
    assert f"another run holds the warehouse: pid {holder.pid} on host" in errors[0]
    assert socket.gethostname() in errors[0]
    assert f"{warehouse}.lock" in errors[0]
    # The refused run did not open the warehouse, not even for its history.
    assert "run history: not recorded: another run holds" in second.stderr
    assert holder.returncode == 0, first_out[1]
    assert_clean(warehouse)


def test_a_warehouse_open_in_another_program_is_named(warehouse: Path) -> None:
    assert run_loader().returncode == 0
    opener = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]);"
            " print('open', flush=True); time.sleep(60)",
            str(warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert opener.stdout.readline().strip() == "open"

        blocked = run_loader()
    finally:
        opener.kill()
        opener.wait()

    assert blocked.returncode == 1
    assert f"the warehouse {warehouse} is open in another process" in blocked.stderr
    assert f"(PID {opener.pid})" in blocked.stderr
    again = run_loader()
    assert again.returncode == 0, again.stderr
    assert_clean(warehouse)


def recent_cart(store_carts: list[dict], **fields: object) -> list[dict]:
    """The recorded carts plus a new one for user 9, dated yesterday."""
    yesterday = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cart = {
        "id": 99,
        "userId": 9,
        "date": yesterday.isoformat(timespec="milliseconds"),
        "products": [{"productId": 5, "quantity": 2}],
        "__v": 0,
        **fields,
    }
    return [*copy.deepcopy(store_carts), cart]


def test_a_field_changing_type_stops_the_run_naming_table_and_column(
    warehouse: Path, replay: ReplayServer
) -> None:
    run()
    loads = query(warehouse, "select count(*) from raw._dlt_loads")
    recorded = copy.deepcopy(replay.store.products)
    # A new cart arrives in the same run as a product price turned text.
    replay.store.replace_carts(recent_cart(replay.store.carts))
    replay.store.products[0]["price"] = "free"

    with pytest.raises(LoaderError) as failed:
        run()

    assert str(failed.value).startswith(
        "raw.products.price changed type: the API sent text where the column"
        " holds double"
    )
    assert query(warehouse, "select count(*) from raw._dlt_loads") == loads
    assert row_counts(warehouse) == RECORDED
    # Fixed upstream: the next run loads it all, the new cart included.
    replay.store.products = recorded
    assert run().rows["carts"] == 1
    assert query(warehouse, "select user_id from raw.carts where id = 99") == [(9,)]
    built = dbt("run")
    assert built.returncode == 0, built.stdout
    user_9 = query(warehouse, MART.replace("order by", "where user_id = 9 order by"))
    assert user_9[0][2:] == ("jewelery", 2, 1, 2)


def test_an_extra_cart_field_changing_type_stops_the_run(
    warehouse: Path, replay: ReplayServer
) -> None:
    replay.store.replace_carts(recent_cart(replay.store.carts))
    run()
    replay.store.replace_carts(recent_cart(replay.store.carts[:-1], __v="zero"))

    with pytest.raises(LoaderError, match=r"^raw\.carts\.v changed type"):
        run()

    assert query(warehouse, "select v from raw.carts where id = 99") == [(0,)]


def test_a_value_converted_without_loss_is_kept_in_the_column_type(
    warehouse: Path, replay: ReplayServer
) -> None:
    run()
    user = replay.store.users[0]
    user["address"]["geolocation"]["lat"] = -37.5
    replay.store.products[0]["price"] = 110

    run()

    assert query(
        warehouse,
        "select address__geolocation__lat from raw.users where id = ?",
        [user["id"]],
    ) == [("-37.5",)]
    assert query(warehouse, "select price from raw.products where id = 1") == [(110.0,)]
    assert row_counts(warehouse) == RECORDED
