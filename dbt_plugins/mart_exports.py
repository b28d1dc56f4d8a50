"""A dbt-duckdb plugin for the mart exports: a SQL function that makes folders.

DuckDB's `COPY ... TO` writes into an existing folder only, and dbt's Jinja
cannot touch the file system, so the `export_mart` macro calls
`ensure_directory(path)` before it copies. The profile loads this module
through `module_paths` and `plugins`.
"""

from __future__ import annotations

import os

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection


def ensure_directory(path: str) -> str:
    """Create the folder `path` and its parents if missing; return `path`.

    A URL (`s3://bucket/prefix`) is left alone: object stores have no
    folders to create, and a local `s3:` folder would be wrong.
    """
    if "://" not in path:
        os.makedirs(path, exist_ok=True)
    return path


class Plugin(BasePlugin):
    """Registers `ensure_directory` on every connection dbt opens."""

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        conn.create_function(
            "ensure_directory",
            ensure_directory,
            ["VARCHAR"],
            "VARCHAR",
            side_effects=True,
        )
