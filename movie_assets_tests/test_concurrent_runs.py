"""Runs at once against one data root, with no queue: every run succeeds and every row lands exactly once.

Each run is a real `dagster` CLI process, as parallel launches from the UI, the API or the README's command would
be: the ingestions with their own Spark session, the asks through delta-rs. Delta's optimistic concurrency
decides, and the losers retry. `test_on_a_store.py` runs the same eight on an S3-compatible server holding the
root, landing included, where the server's conditional writes decide between the commits.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from movie_assets.lake import storage
from movie_assets.tables import keys
from movie_assets.tables.ingest_log import LOG_TABLE
from movie_assets_tests.servers import put

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
NEW = "ratings_new.csv"


def lakehouse(ml_small_run: tuple[dg.ExecuteInProcessResult, Path], folder: Path) -> Path:
    """A copy of the real sample's lakehouse (bronze, silver, factors) with no answers table."""
    shutil.copytree(ml_small_run[1], folder)
    shutil.rmtree(folder / "delta" / keys.SIMILAR_MOVIES, ignore_errors=True)
    return folder


def start(root: str, env: dict[str, str], home: Path, log: Path, *args: str) -> subprocess.Popen:
    variables = {
        **os.environ,
        **env,
        "MOVIE_ASSETS_DATA_DIR": root,
        "DAGSTER_HOME": str(home),
        "MOVIE_ASSETS_SPARK_MASTER": "local[1]",
        "MOVIE_ASSETS_SPARK_DRIVER_MEMORY": "1g",
    }
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dagster", *args, "-m", "movie_assets.definitions"],
            env=variables,
            cwd=home,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def finish(processes: list[tuple[subprocess.Popen, Path]]) -> list[str]:
    logs = []
    for process, log in processes:
        process.wait(timeout=600)
        text = log.read_text(errors="replace")
        assert process.returncode == 0, text[-3000:]
        logs.append(text)
    return logs


def table(root: str, env: dict[str, str], name: str) -> dict[str, list]:
    """A table's columns, read through delta-rs (no Spark) from either root."""
    return DeltaTable(f"{storage.native_uri(root)}/delta/{name}", storage_options=env).to_pyarrow_table().to_pydict()


def test_concurrent_asks_and_ingestions(ml_small_run: tuple[dg.ExecuteInProcessResult, Path], tmp_path: Path) -> None:
    eight_runs_at_once(str(lakehouse(ml_small_run, tmp_path / "root")), {}, tmp_path)


def eight_runs_at_once(data_root: str, env: dict[str, str], tmp_path: Path) -> None:
    """Six asks (four ids, one twice) and two ingestions of one new landing file, each its own CLI run, at once on
    `data_root` (reached with the AWS variables `env`): every run succeeds, every answer and row lands once."""
    home = tmp_path / "home"
    home.mkdir()
    with dg.DagsterInstance.from_config(str(home)):
        pass  # one instance for every run, its storage created once (as `dagster dev` would have)
    put(env, data_root, NEW, b"userId,movieId,rating,timestamp\n9001,1,4.0,1\n9001,2,3.5,2\n")
    before = len(table(data_root, env, keys.RATINGS_BRONZE)["userId"])
    asks = [(1, 5), (2, 6), (3, 7), (4, 8), (5, 9), (5, 9)]  # four ids, and the same id twice
    processes = []
    for i, (movie_id, k) in enumerate(asks):
        config = json.dumps({"ops": {"similar_movies": {"config": {"movie_id": movie_id, "k": k}}}})
        log = tmp_path / f"ask_{i}.log"
        command = ["asset", "materialize", "--select", keys.SIMILAR_MOVIES, "--config-json", config]
        processes.append((start(data_root, env, home, log, *command), log))
    for i in range(2):  # and, at the same time, the same new landing file ingested by two runs
        log = tmp_path / f"ingest_{i}.log"
        command = ["asset", "materialize", "--select", keys.RATINGS_BRONZE]
        processes.append((start(data_root, env, home, log, *command), log))
    logs = finish(processes)
    assert all("RUN_SUCCESS" in text for text in logs)
    answers = table(data_root, env, keys.SIMILAR_MOVIES)["movie_id"]
    assert {movie_id: answers.count(movie_id) for movie_id in set(answers)} == {1: 5, 2: 6, 3: 7, 4: 8, 5: 9}
    bronze = table(data_root, env, keys.RATINGS_BRONZE)["source_file"]
    assert len(bronze) == before + 2 and bronze.count(NEW) == 2
    assert table(data_root, env, LOG_TABLE)["source_file"].count(NEW) == 1
    retried = sum(text.count("another writer committed after") + text.count("a concurrent commit won") for text in logs)
    print(f"{len(processes)} concurrent runs on {data_root}: {retried} commit(s) retried after a conflict")
