"""The lakehouse on object storage: an S3-compatible server (s3proxy) on 127.0.0.1 holds the data root, landing
included, and every command runs as a person runs it (`movie-assets`, with MOVIE_ASSETS_DATA_DIR=s3a://...).
The whole graph with no run config, then an incremental landing file, that file replaced, then removed (and its
rows dropped by a full refresh), give the same tables as on a local root;
delta-rs commits to the store conditionally, so a stale writer is refused, never overwrites."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError
from pyarrow import fs

from movie_assets.lake import storage
from movie_assets.tables import keys
from movie_assets_tests.servers import s3_server

pytestmark = [pytest.mark.deploy, pytest.mark.e2e, pytest.mark.slow]
CLI = Path(sys.executable).parent / "movie-assets"
BUCKET, ROOT = "lake", "lake/movies"
SAMPLE_RATINGS = 100_836  # the real sample, whole: enough held-out likes for the first model to pass the gate
TABLES = [
    keys.RATINGS_BRONZE, keys.RATINGS_QUARANTINE, keys.MOVIES_BRONZE, keys.RATINGS_SILVER,
    keys.USER_MEAN_COUNT_SILVER, keys.MOVIE_MEAN_COUNT_SILVER, keys.USER_MOVIE_TITLE_RATING,
]  # fmt: skip
SILVER_REFRESH = " or ".join(f"key:{t}" for t in TABLES if t not in (keys.RATINGS_QUARANTINE, keys.MOVIES_BRONZE))
NEW_RATINGS = "userId,movieId,rating,timestamp\n1,1,1.0,1700000000\n999,1,5.0,1700000000\n"
NEW = "ratings_new.csv"
REPLACED_RATINGS = "userId,movieId,rating,timestamp\n1,1,2.0,1700000001\n999,2,4.0,1700000000\n"


@pytest.fixture(scope="module")
def store() -> Iterator[dict[str, str]]:
    with s3_server(BUCKET) as env:
        yield env


def landing_files(ml_small: Path) -> dict[str, bytes]:
    return {name: (ml_small / name).read_bytes() for name in ("ratings.csv", "movies.csv")}


def landing(env: dict[str, str], root: str) -> tuple[fs.FileSystem, str]:
    """The landing folder of a local root or of a store root (s3a://bucket/prefix), as a pyarrow filesystem."""
    if root.startswith("s3a://"):
        store = fs.S3FileSystem(
            endpoint_override=env["AWS_ENDPOINT_URL"], access_key=env["AWS_ACCESS_KEY_ID"],
            secret_key=env["AWS_SECRET_ACCESS_KEY"], region=env["AWS_REGION"], scheme="http",
        )  # fmt: skip
        return store, f"{root.removeprefix('s3a://')}/landing"
    (Path(root) / "landing").mkdir(parents=True, exist_ok=True)
    return fs.LocalFileSystem(), f"{root}/landing"


def put(env: dict[str, str], root: str, name: str, data: bytes) -> None:
    """A file into landing (a new object, or a replaced one)."""
    filesystem, folder = landing(env, root)
    with filesystem.open_output_stream(f"{folder}/{name}") as out:
        out.write(data)


def remove(env: dict[str, str], root: str, name: str) -> None:
    filesystem, folder = landing(env, root)
    filesystem.delete_file(f"{folder}/{name}")


def start(env: dict[str, str], root: str, home: Path, *args: str) -> subprocess.Popen:
    """`movie-assets ARGS` as a person runs it, on `root`, its output (both streams) to a pipe."""
    home.mkdir(exist_ok=True)
    variables = {
        **os.environ, **env, "MOVIE_ASSETS_DATA_DIR": root, "DAGSTER_HOME": str(home),
        "MOVIE_ASSETS_SPARK_MASTER": "local[2]", "MOVIE_ASSETS_SPARK_DRIVER_MEMORY": "2g",
    }  # fmt: skip
    return subprocess.Popen(
        [str(CLI), *args], env=variables, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def run(env: dict[str, str], root: str, home: Path, *args: str) -> str:
    process = start(env, root, home, *args)
    out, _ = process.communicate(timeout=900)
    assert process.returncode == 0, out[-4000:]
    return out


def rows(env: dict[str, str], root: str, table: str) -> list[tuple]:
    """A table's rows through delta-rs (s3a:// read as s3://, credentials from the AWS variables), in one order,
    without the time of ingestion."""
    data = DeltaTable(f"{storage.native_uri(root)}/delta/{table}", storage_options=env).to_pyarrow_table()
    data = data.drop_columns([c for c in ("ingested_at",) if c in data.column_names])
    return sorted(zip(*data.to_pydict().values(), strict=True), key=repr)


def test_the_graph_on_a_store_equals_it_on_a_local_root(
    store: dict[str, str], ml_small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in store.items():
        monkeypatch.setenv(name, value)  # delta-rs and pyarrow in this process reach the store too
    roots = {"store": f"s3a://{ROOT}", "local": str(tmp_path / "local")}
    for where, root in roots.items():
        for name, data in landing_files(ml_small).items():
            put(store, root, name, data)
        out = run(store, root, tmp_path / f"home_{where}", "materialize")
        assert "Promoted, the first model" in out
    for table in TABLES:
        assert rows(store, roots["store"], table) == rows(store, roots["local"], table), table
    assert len(rows(store, roots["store"], keys.RATINGS_SILVER)) == SAMPLE_RATINGS
    factors = {where: rows(store, root, keys.ALS_ITEM_FACTORS) for where, root in roots.items()}
    assert [f[0] for f in factors["store"]] == [f[0] for f in factors["local"]]  # the same movies have factors
    neighbours = {where: len(rows(store, root, keys.MOVIE_NEIGHBORS)) for where, root in roots.items()}
    assert neighbours["store"] == neighbours["local"] > 0

    def on_both(change: Callable[[str], None], *args: str) -> list[tuple]:
        """`change` to each root's landing, then `movie-assets ARGS` on each: every table equal; the silver rows."""
        for where, root in roots.items():
            change(root)
            run(store, root, tmp_path / f"home_{where}", *args)
        for table in TABLES:
            assert rows(store, roots["store"], table) == rows(store, roots["local"], table), table
        return rows(store, roots["store"], keys.RATINGS_SILVER)

    # An incremental landing file: a changed rating and a new user.
    refresh_silver = ("materialize", "--select", SILVER_REFRESH)
    silver = on_both(lambda root: put(store, root, NEW, NEW_RATINGS.encode()), *refresh_silver)
    assert (1, 1, 1.0, 1700000000, NEW) in silver and len(silver) == SAMPLE_RATINGS + 1
    # The same file replaced: its rows replaced, not added.
    silver = on_both(lambda root: put(store, root, NEW, REPLACED_RATINGS.encode()), *refresh_silver)
    assert (1, 1, 2.0, 1700000001, NEW) in silver and len(silver) == SAMPLE_RATINGS + 1
    assert (999, 2, 4.0, 1700000000, NEW) in silver and not any(r[:2] == (999, 1) for r in silver)
    # Removed, then its rows dropped by a full refresh of bronze.
    full = '{"ops": {"ratings_bronze": {"config": {"full_refresh": true}}}}'
    silver = on_both(lambda root: remove(store, root, NEW), *refresh_silver, "--config-json", full)
    assert len(silver) == SAMPLE_RATINGS and not any(r[-1] == NEW for r in silver)


def test_a_stale_writer_on_the_store_is_refused(store: dict[str, str]) -> None:
    """delta-rs commits to S3 with conditional writes: of two writers that read the same version, the second
    to commit fails (and the seam runs its refresh again) instead of overwriting the first's commit."""
    uri = f"s3://{BUCKET}/conditional"
    write_deltalake(uri, pa.table({"n": [0]}), storage_options=store)
    first, second = DeltaTable(uri, storage_options=store), DeltaTable(uri, storage_options=store)
    write_deltalake(first, pa.table({"n": [1]}), mode="append")
    with pytest.raises(CommitFailedError):
        late = CommitProperties(max_commit_retries=0)
        write_deltalake(second, pa.table({"n": [2]}), mode="append", commit_properties=late)
    assert sorted(DeltaTable(uri, storage_options=store).to_pyarrow_table()["n"].to_pylist()) == [0, 1]
