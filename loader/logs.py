"""Log formats of the command-line entry points: plain text, or JSON lines.

`LOG_FORMAT=json` turns every record into one JSON object per line, for a log
collector; anything else keeps the human-readable line. Only the entry points
(`python -m loader`, `python -m loader.dbt_build`) call `configure`.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime

LOG_FORMAT_ENV = "LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else was passed with `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (key, value) for key, value in vars(record).items() if key not in _STANDARD
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def is_json() -> bool:
    return os.environ.get(LOG_FORMAT_ENV, "").strip().lower() == "json"


def configure(level: int = logging.INFO) -> None:
    """Log to stderr in the format LOG_FORMAT asks for (text by default)."""
    handler = logging.StreamHandler()
    if is_json():
        handler.setFormatter(JsonFormatter())
        # dlt logs through a handler of its own: make it write JSON lines too.
        os.environ.setdefault("RUNTIME__LOG_FORMAT", "JSON")
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
