"""One run at a time per destination: a lock file that names the run holding it.

The lock is an advisory `fcntl.flock` on a file next to the warehouse (or in
PIPELINES_DIR for the lake). The kernel releases it when the holder exits,
however it exits, so a killed run never leaves a stale lock behind. DuckDB's
own file lock guards the warehouse against other programs (dbt, a CLI, a BI
tool); `duckdb_lock_message` turns its error into one clear line.
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path


class RunLockedError(Exception):
    """Another run holds the lock; the message names it."""


@contextmanager
def exclusive(lock_path: Path, what: str) -> Iterator[None]:
    """Hold `lock_path` for the block, or raise RunLockedError naming the holder."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "a run that is just starting"
            raise RunLockedError(
                f"another run holds {what}: {holder} (lock file {lock_path});"
                " let it finish, then run again"
            ) from None
        started = datetime.now(UTC).isoformat(timespec="seconds")
        handle.seek(0)
        handle.truncate()
        handle.write(
            f"pid {os.getpid()} on host {socket.gethostname()}, started {started}\n"
        )
        handle.flush()
        # Closing the file at the end of the block releases the lock.
        yield


_DUCKDB_HOLDER = re.compile(r"Conflicting lock is held in (.+?) \(PID (\d+)\)")


def duckdb_lock_message(path: Path, error: BaseException) -> str | None:
    """One line for DuckDB's 'Could not set lock' error, else None."""
    text = str(error)
    if "Could not set lock" not in text:
        return None
    found = _DUCKDB_HOLDER.search(text)
    holder = f"{found.group(1)} (PID {found.group(2)})" if found else "a process"
    return (
        f"the warehouse {path} is open in another process: {holder}, e.g. dbt,"
        " a DuckDB CLI or a BI tool; close it or let it finish, then run again"
    )
