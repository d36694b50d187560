"""The lakehouse on object storage: an S3-compatible server (the Versity S3 Gateway) on 127.0.0.1 holds the
data root, landing included, and every command runs as a person runs it (`movie-assets`, with MOVIE_ASSETS_DATA_DIR=s3a://...).
The whole graph with no run config, then an incremental landing file, that file replaced, then removed (and its
rows dropped by a full refresh), give the same tables as on a local root;
delta-rs commits to the store conditionally, so of writers racing for one version exactly one lands."""

import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from movie_assets.tables import keys
from movie_assets_tests.servers import landing, put, rows, s3_server

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
WRITERS, ROUNDS = 8, 4
ONCE = CommitProperties(max_commit_retries=0)
REPLACED_RATINGS = "userId,movieId,rating,timestamp\n1,1,2.0,1700000001\n999,2,4.0,1700000000\n"


@pytest.fixture(scope="module")
def store() -> Iterator[dict[str, str]]:
    with s3_server(BUCKET) as env:
        yield env


def landing_files(ml_small: Path) -> dict[str, bytes]:
    return {name: (ml_small / name).read_bytes() for name in ("ratings.csv", "movies.csv")}


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


def commit_from(uri: str, version: int, n: int, env: dict[str, str], at: float) -> bool:
    """Append `n` on top of `version` and of no other (the seam's rule), at the moment `at`: whether it landed."""
    table = DeltaTable(uri, version=version, storage_options=env)
    time.sleep(max(0.0, at - time.time()))
    try:
        write_deltalake(table, pa.table({"n": [n]}), mode="append", commit_properties=ONCE)
        return True
    except CommitFailedError:
        return False


def test_racing_writers_on_the_store_commit_one_version_once(store: dict[str, str]) -> None:
    """delta-rs commits to S3 by a conditional write (If-None-Match on the next log entry), which the server
    checks and publishes atomically: of eight processes committing on the same version at the same moment,
    exactly one lands and the others are refused (the seam then runs their refresh again); every landed row is
    in the table. (On s3proxy 2.6.0, which checks and then writes, two of eight rounds had two winners and lost
    a commit.)"""
    with multiprocessing.get_context("spawn").Pool(WRITERS) as pool:  # delta-rs's runtime does not survive fork
        for round_ in range(ROUNDS):
            uri = f"s3://{BUCKET}/race_{round_}"
            write_deltalake(uri, pa.table({"n": [-1]}), storage_options=store)
            at = time.time() + 2  # every writer has read version 0 by then
            landed = pool.starmap(commit_from, [(uri, 0, n, store, at) for n in range(WRITERS)])
            assert sum(landed) == 1, landed
            rows = DeltaTable(uri, storage_options=store).to_pyarrow_table()["n"].to_pylist()
            assert sorted(rows) == [-1, landed.index(True)]
