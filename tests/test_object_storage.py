"""The lake on S3-compatible object storage: moto's server on 127.0.0.1.

The loader writes the lake to a bucket when LAKE_URL is `s3://...`, with
credentials and endpoint from dlt's environment variables; dbt's `lake`
target reads it back through s3fs and builds the mart of the DuckDB mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.conftest import dbt, query, run_loader
from tests.test_end_to_end import EXPECTED, MART

BUCKET = "fakestore-lake"
CREDENTIALS = "DESTINATION__FILESYSTEM__CREDENTIALS__"


@pytest.fixture
def bucket(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Any]:
    """An empty bucket on a local S3 server, and the env that points at it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    keys = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret"}
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=BUCKET)
    for name, value in keys.items():
        monkeypatch.setenv(CREDENTIALS + name, value)
    monkeypatch.setenv(CREDENTIALS + "ENDPOINT_URL", endpoint)
    monkeypatch.setenv("LAKE_URL", f"s3://{BUCKET}/lake")
    monkeypatch.setenv("LAKE_WAREHOUSE_PATH", str(tmp_path / "lake.duckdb"))
    # Whatever a mart writes beside its table stays out of the repository.
    monkeypatch.setenv("MARTS_EXPORT_DIR", str(tmp_path / "exports"))
    try:
        yield client
    finally:
        server.stop()


def keys_under(client: Any, prefix: str) -> list[str]:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_a_lake_on_s3_gives_the_mart_of_the_duckdb_mode(
    warehouse: Path, bucket: Any, tmp_path: Path
) -> None:
    first = run_loader("--destination", "filesystem")
    carts_after_first = keys_under(bucket, "lake/raw/carts/")
    second = run_loader("--destination", "filesystem")
    on_lake = dbt("build", "--target", "lake")
    assert run_loader().returncode == 0
    assert dbt("build").returncode == 0

    assert first.returncode == 0, first.stderr
    assert "full reload" in first.stderr
    # The second run found the state in the bucket: no reload, and the
    # first load's files are still there (the lake keeps its history).
    assert second.returncode == 0, second.stderr
    assert "full reload" not in second.stderr
    assert len(carts_after_first) == 1
    assert carts_after_first[0].endswith(".parquet")
    for table in ("products", "users", "carts", "carts__products"):
        assert keys_under(bucket, f"lake/raw/{table}/"), table
    assert set(carts_after_first) <= set(keys_under(bucket, "lake/raw/carts/"))

    assert on_lake.returncode == 0, on_lake.stdout
    assert "ERROR=0 SKIP=0" in on_lake.stdout
    lake_mart = query(tmp_path / "lake.duckdb", MART)
    assert lake_mart == query(warehouse, MART) == EXPECTED
    # Nothing went to the local lake the warehouse fixture names.
    assert not (tmp_path / "lake").exists()


def test_an_unreachable_bucket_fails_with_one_line_naming_the_lake(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 9 (discard) of 127.0.0.1 in the test machine.
    monkeypatch.setenv("LAKE_URL", f"s3://{BUCKET}/lake")
    monkeypatch.setenv(CREDENTIALS + "AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv(CREDENTIALS + "AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv(CREDENTIALS + "ENDPOINT_URL", "http://127.0.0.1:9")

    loaded = run_loader("--destination", "filesystem")

    assert loaded.returncode == 1
    errors = [line for line in loaded.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1, loaded.stderr
    assert (
        f"cannot read the pipeline state in the lake at s3://{BUCKET}/lake"
        in (errors[0])
    )
    assert "127.0.0.1:9" in errors[0]
