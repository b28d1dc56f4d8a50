"""Lake mode against DuckDB mode: the same mart, the BI exports, docs, freshness.

Both modes load the replay of the recorded API: the DuckDB mode into the
warehouse file, the lake mode as Parquet under LAKE_URL, which the dbt
target `lake` reads. Every path is a tmp dir given through the environment.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dbt_plugins.mart_exports import ensure_directory
from tests.conftest import REPO, dbt, query, run_loader
from tests.replay_server import ReplayServer, Store
from tests.test_end_to_end import EXPECTED, MART, MART_COLUMNS

RAW_TABLES = ("products", "users", "carts", "carts__products")


def mode_env(root: Path, server: ReplayServer) -> dict[str, dict[str, str]]:
    """Environment of each mode: its own files under `root`, one API."""
    common = {
        "SOURCES__FAKESTORE__BASE_URL": server.url,
        "PIPELINES_DIR": str(root / "pipelines"),
        "WAREHOUSE_PATH": str(root / "warehouse.duckdb"),
        "LAKE_URL": str(root / "lake"),
        "LAKE_WAREHOUSE_PATH": str(root / "lake.duckdb"),
        "DBT_PROFILES_DIR": str(REPO),
        "RUNTIME__REQUEST_BACKOFF_FACTOR": "0",
    }
    return {
        "dev": {
            **common,
            "MARTS_EXPORT_DIR": str(root / "exports" / "dev"),
            "DBT_TARGET_PATH": str(root / "target" / "dev"),
            "DBT_LOG_PATH": str(root / "logs" / "dev"),
        },
        "lake": {
            **common,
            "MARTS_EXPORT_DIR": str(root / "exports" / "lake"),
            "DBT_TARGET_PATH": str(root / "target" / "lake"),
            "DBT_LOG_PATH": str(root / "logs" / "lake"),
        },
    }


def load(target: str, env: dict[str, str]) -> None:
    destination = "filesystem" if target == "lake" else "duckdb"
    result = run_loader("--destination", destination, env=env)
    assert result.returncode == 0, result.stderr


def build(target: str, env: dict[str, str]) -> None:
    result = dbt("build", "--target", target, env=env)
    assert result.returncode == 0, result.stdout
    assert "WARN=0 ERROR=0 SKIP=0" in result.stdout, result.stdout


def mart(target: str, env: dict[str, str]) -> list[tuple]:
    key = "LAKE_WAREHOUSE_PATH" if target == "lake" else "WAREHOUSE_PATH"
    return query(Path(env[key]), MART)


def parquet_rows(path: Path) -> list[tuple]:
    columns = ", ".join(MART_COLUMNS)
    with duckdb.connect() as connection:
        return connection.execute(
            f"select {columns} from read_parquet(?) order by user_id", [str(path)]
        ).fetchall()


def csv_rows(path: Path) -> list[tuple]:
    """The CSV export typed back: empty cells are nulls."""

    def number(text: str) -> int | None:
        return int(text) if text else None

    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        assert reader.fieldnames == MART_COLUMNS
        rows = [
            (
                int(row["user_id"]),
                dt.date.fromisoformat(row["latest_cart_date"])
                if row["latest_cart_date"]
                else None,
                row["top_category"] or None,
                number(row["top_category_quantity"]),
                int(row["cart_count"]),
                int(row["total_quantity"]),
            )
            for row in reader
        ]
    return sorted(rows)


def lake_rows(lake: Path, table: str, where: str = "true") -> int:
    files = str(lake / "raw" / table / "*.parquet")
    with duckdb.connect() as connection:
        return connection.execute(
            f"select count(*) from read_parquet(?, union_by_name=true) where {where}",
            [files],
        ).fetchone()[0]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The recorded data loaded and built once in each mode."""
    root = tmp_path_factory.mktemp("recorded")
    with ReplayServer(Store.from_dir()) as server:
        envs = mode_env(root, server)
        for target, env in envs.items():
            load(target, env)
            build(target, env)
        yield envs


def test_the_lake_holds_only_parquet_and_every_row_has_its_load_id(
    recorded: dict,
) -> None:
    lake = Path(recorded["lake"]["LAKE_URL"]) / "raw"

    for table in RAW_TABLES:
        files = [f.name for f in (lake / table).iterdir()]
        assert files and all(name.endswith(".parquet") for name in files), files
        with duckdb.connect() as connection:
            missing = connection.execute(
                "select count(*) from read_parquet(?) where _dlt_load_id is null",
                [str(lake / table / "*.parquet")],
            ).fetchone()[0]
        assert missing == 0, table


@pytest.mark.parametrize("target", ["dev", "lake"])
def test_the_recorded_data_gives_the_expected_mart(recorded: dict, target) -> None:
    assert mart(target, recorded[target]) == EXPECTED


@pytest.mark.parametrize("target", ["dev", "lake"])
def test_the_exports_hold_the_mart_and_no_temporary_file(
    recorded: dict, target: str
) -> None:
    folder = Path(recorded[target]["MARTS_EXPORT_DIR"])

    assert sorted(p.name for p in folder.iterdir()) == [
        "user_cart_summary.csv",
        "user_cart_summary.parquet",
    ]
    assert parquet_rows(folder / "user_cart_summary.parquet") == EXPECTED
    assert csv_rows(folder / "user_cart_summary.csv") == EXPECTED


@pytest.mark.parametrize("target", ["dev", "lake"])
def test_carts_are_fresh_right_after_a_load(recorded: dict, target: str) -> None:
    result = dbt("source", "freshness", "--target", target, env=recorded[target])

    assert result.returncode == 0, result.stdout
    assert "PASS freshness of fakestore.carts" in result.stdout


@pytest.mark.parametrize(
    ("hours", "returncode", "status"), [(40, 0, "WARN"), (80, 1, "ERROR STALE")]
)
def test_carts_freshness_warns_then_errors_as_the_last_load_ages(
    tmp_path: Path, recorded: dict, hours: int, returncode: int, status: str
) -> None:
    # A copy of the warehouse whose load log says the last load was long ago.
    env = {**recorded["dev"], "WAREHOUSE_PATH": str(tmp_path / "old.duckdb")}
    Path(env["WAREHOUSE_PATH"]).write_bytes(
        Path(recorded["dev"]["WAREHOUSE_PATH"]).read_bytes()
    )
    with duckdb.connect(env["WAREHOUSE_PATH"]) as connection:
        connection.execute(
            "update raw._dlt_loads set inserted_at = now() - to_hours(?)", [hours]
        )

    result = dbt("source", "freshness", env=env)

    assert result.returncode == returncode, result.stdout
    assert f"{status} freshness of fakestore.carts" in result.stdout


@pytest.mark.parametrize("target", ["dev", "lake"])
def test_docs_describe_every_source_model_and_column(
    recorded: dict, target: str
) -> None:
    env = recorded[target]
    result = dbt("docs", "generate", "--target", target, env=env)
    assert result.returncode == 0, result.stdout

    target_dir = Path(env["DBT_TARGET_PATH"])
    manifest = json.loads((target_dir / "manifest.json").read_text())
    catalog = json.loads((target_dir / "catalog.json").read_text())
    documented = {
        **{k: v for k, v in manifest["nodes"].items() if k.startswith("model.")},
        **manifest["sources"],
        **manifest["exposures"],
    }
    undescribed = [key for key, node in documented.items() if not node["description"]]
    for key, node in documented.items():
        declared = node.get("columns", {})
        undescribed += [
            f"{key}.{name}" for name, c in declared.items() if not c["description"]
        ]
        # Columns the database has but the yml does not declare.
        found = {**catalog["nodes"], **catalog["sources"]}.get(key, {})
        undescribed += [
            f"{key}.{name}"
            for name in found.get("columns", {})
            if name.lower() not in {n.lower() for n in declared}
        ]
    assert undescribed == []
    # The catalog saw the built models: the check above is not vacuous.
    assert "model.fakestore.user_cart_summary" in catalog["nodes"]
    assert "source.fakestore.fakestore.carts" in catalog["sources"] or target == "lake"


# Between the two loads, cart 1 (user 1) is edited down to one line of 30
# units of product 9 (electronics), and user 5 makes a first cart.
EDITED_CART = 1
NEW_CART = {
    "id": 8,
    "userId": 5,
    "date": "2020-03-05T00:00:00.000Z",
    "products": [{"productId": 5, "quantity": 3}],
    "__v": 0,
}
# User 1: cart 1 now 30 electronics; cart 2 still 14 men's clothing and 2
# jewelery. User 5: 3 jewelery. Everyone else as recorded.
EXPECTED_AFTER_EDIT = [
    (1, dt.date(2020, 3, 2), "electronics", 30, 2, 46),
    *EXPECTED[1:4],
    (5, dt.date(2020, 3, 5), "jewelery", 3, 1, 3),
    *EXPECTED[5:],
]


def edited_carts(carts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    changed = copy.deepcopy(carts)
    for cart in changed:
        if cart["id"] == EDITED_CART:
            cart["products"] = [{"productId": 9, "quantity": 30}]
    return [*changed, NEW_CART]


def test_an_edit_between_two_loads_gives_the_same_mart_in_both_modes(
    tmp_path: Path,
) -> None:
    store = Store.from_dir()
    with ReplayServer(store) as server:
        envs = mode_env(tmp_path, server)
        for env in envs.values():
            # The second run re-reads back to 2020, where the edit is.
            env["SOURCES__FAKESTORE__LAG_DAYS"] = "3650"
            env["SOURCES__FAKESTORE__WINDOW_DAYS"] = "3650"
        for target, env in envs.items():
            load(target, env)
        store.replace_carts(edited_carts(store.carts))
        for target, env in envs.items():
            load(target, env)
            build(target, env)

    for target, env in envs.items():
        assert mart(target, env) == EXPECTED_AFTER_EDIT, target
        exports = Path(env["MARTS_EXPORT_DIR"])
        assert parquet_rows(exports / "user_cart_summary.parquet") == (
            EXPECTED_AFTER_EDIT
        )
        assert csv_rows(exports / "user_cart_summary.csv") == EXPECTED_AFTER_EDIT
    # The lake keeps both versions of the edited cart and all their lines;
    # the warehouse merged them away.
    lake = Path(envs["lake"]["LAKE_URL"])
    assert lake_rows(lake, "carts", f"id = {EDITED_CART}") == 2
    assert lake_rows(lake, "carts__products", f"cart_id = {EDITED_CART}") == 3 + 1
    assert lake_rows(lake, "carts") == 7 + 8
    warehouse = Path(envs["dev"]["WAREHOUSE_PATH"])
    assert query(warehouse, f"select count(*) from raw.carts where id = {EDITED_CART}")[
        0
    ] == (1,)
    assert query(warehouse, "select count(*) from raw.carts__products") == [(13,)]


def test_each_lake_load_adds_files_and_a_deleted_lake_is_reloaded(
    tmp_path: Path,
) -> None:
    with ReplayServer(Store.from_dir()) as server:
        env = mode_env(tmp_path, server)["lake"]
        lake = Path(env["LAKE_URL"])

        first = run_loader("--destination", "filesystem", env=env)
        files = set(lake.rglob("*.parquet"))
        second = run_loader("--destination", "filesystem", env=env)
        more = set(lake.rglob("*.parquet"))
        products = lake_rows(lake, "products")
        for path in sorted(lake.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        third = run_loader("--destination", "filesystem", env=env)

    assert [r.returncode for r in (first, second, third)] == [0, 0, 0]
    assert "full reload" in first.stderr
    # Products and users are read again each run: new files, old ones kept.
    assert files < more
    assert "full reload" not in second.stderr
    assert products == 20 + 20
    # The lake is the pipeline's memory: once it is gone, all is read again.
    assert "full reload: the destination holds no earlier load" in third.stderr
    assert lake_rows(lake, "carts") == 7


def test_the_export_folder_is_made_locally_and_never_for_a_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    nested = tmp_path / "a" / "b"

    assert ensure_directory(str(nested)) == str(nested)
    assert nested.is_dir()
    assert ensure_directory("s3://bucket/marts") == "s3://bucket/marts"
    assert list(tmp_path.iterdir()) == [tmp_path / "a"]
