"""Runs at once against one data root, with no queue: every run succeeds and every row lands exactly once.

Each run is a real `dagster` CLI process, as parallel launches from the UI, the API or the README's command would
be: the ingestions with their own Spark session, the asks through delta-rs. Delta's optimistic concurrency
decides, and the losers retry.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from movie_assets_tests.conftest import write_csv

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def start(root: Path, home: Path, log: Path, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "MOVIE_ASSETS_DATA_DIR": str(root),
        "DAGSTER_HOME": str(home),
        "MOVIE_ASSETS_SPARK_MASTER": "local[1]",
        "MOVIE_ASSETS_SPARK_DRIVER_MEMORY": "1g",
    }
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "dagster", *args, "-m", "movie_assets.definitions"],
            env=env,
            cwd=root,
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


def test_concurrent_asks_and_ingestions(
    spark: SparkSession, tmp_path: Path, ml_small_run: tuple[dg.ExecuteInProcessResult, Path]
) -> None:
    """On a copy of the real sample's lakehouse (bronze, silver, factors), with a fresh answers table."""
    shutil.copytree(ml_small_run[1], tmp_path, dirs_exist_ok=True)
    shutil.rmtree(tmp_path / "delta" / "similar_movies", ignore_errors=True)
    home = tmp_path / "home"
    home.mkdir()
    with dg.DagsterInstance.from_config(str(home)):
        pass  # one instance for every run, its storage created once (as `dagster dev` would have)
    write_csv(tmp_path / "landing", "ratings_new.csv", "userId,movieId,rating,timestamp\n9001,1,4.0,1\n9001,2,3.5,2\n")
    before = spark.read.format("delta").load(str(tmp_path / "delta/ratings_bronze")).count()
    asks = [(1, 5), (2, 6), (3, 7), (4, 8), (5, 9), (5, 9)]  # four ids, and the same id twice
    processes = []
    for i, (movie_id, k) in enumerate(asks):
        config = json.dumps({"ops": {"similar_movies": {"config": {"movie_id": movie_id, "k": k}}}})
        command = ["asset", "materialize", "--select", "similar_movies", "--config-json", config]
        processes.append((start(tmp_path, home, tmp_path / f"ask_{i}.log", *command), tmp_path / f"ask_{i}.log"))
    for i in range(2):  # and, at the same time, the same new landing file ingested by two runs
        log = tmp_path / f"ingest_{i}.log"
        processes.append((start(tmp_path, home, log, "asset", "materialize", "--select", "ratings_bronze"), log))
    logs = finish(processes)
    assert all("RUN_SUCCESS" in text for text in logs)
    answers = spark.read.format("delta").load(str(tmp_path / "delta/similar_movies"))
    per_id = {r.movie_id: r["count"] for r in answers.groupBy("movie_id").count().collect()}
    assert per_id == {1: 5, 2: 6, 3: 7, 4: 8, 5: 9}
    bronze = spark.read.format("delta").load(str(tmp_path / "delta/ratings_bronze"))
    assert bronze.count() == before + 2
    assert bronze.where("source_file = 'ratings_new.csv'").count() == 2
    log = spark.read.format("delta").load(str(tmp_path / "delta/_ingest_log")).where("source_file = 'ratings_new.csv'")
    assert log.count() == 1
    retried = sum(text.count("a concurrent commit won") for text in logs)
    print(f"{len(processes)} concurrent runs: {retried} commit(s) retried after a conflict; rows per id {per_id}")
