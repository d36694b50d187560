"""Runs at once against one data root, with no queue: every run succeeds and every row lands exactly once.

Each run is a real `dagster` CLI process with its own Spark session, as parallel launches from the UI, the API
or the README's command would be; Delta's optimistic concurrency decides, and the losers retry.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from movie_assets import sample_data
from movie_assets.definitions import ASSETS
from movie_assets_tests.conftest import write_csv

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
UPSTREAM = ["ratings_bronze", "movies_bronze", "ratings_silver", "movie_mean_count_silver", "als_item_factors"]


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


def test_concurrent_asks_and_ingestions(spark: SparkSession, tmp_path: Path, resources: dict) -> None:
    sample_data.generate(tmp_path / "landing", 20_000, seed=5)
    assert dg.materialize(ASSETS, resources=resources, selection=UPSTREAM).success
    home = tmp_path / "home"
    home.mkdir()
    asks = [(1, 5), (2, 6), (3, 7), (4, 8), (5, 9), (5, 9)]  # four ids, and the same id twice
    processes = []
    for i, (movie_id, k) in enumerate(asks):
        config = json.dumps({"ops": {"similar_movies": {"config": {"movie_id": movie_id, "k": k}}}})
        log = tmp_path / f"ask_{i}.log"
        processes.append(
            (start(tmp_path, home, log, "job", "execute", "-j", "similar_movies_job", "--config-json", config), log)
        )
    logs = finish(processes)
    assert all("RUN_SUCCESS" in text for text in logs)
    answers = spark.read.format("delta").load(str(tmp_path / "delta/similar_movies"))
    per_id = {r.movie_id: r["count"] for r in answers.groupBy("movie_id").count().collect()}
    assert per_id == {1: 5, 2: 6, 3: 7, 4: 8, 5: 9}
    retried = sum(text.count("a concurrent commit won") for text in logs)
    print(f"{len(asks)} concurrent asks: {retried} commit(s) retried after a conflict; rows per id {per_id}")

    # The same new landing file, ingested by two runs at once: its rows land once.
    write_csv(tmp_path / "landing", "ratings_new.csv", "userId,movieId,rating,timestamp\n9001,1,4.0,1\n9001,2,3.5,2\n")
    before = spark.read.format("delta").load(str(tmp_path / "delta/ratings_bronze")).count()
    processes = [
        (start(tmp_path, home, tmp_path / f"ingest_{i}.log", "asset", "materialize", "--select", "ratings_bronze"),
         tmp_path / f"ingest_{i}.log")
        for i in range(2)
    ]  # fmt: skip
    finish(processes)
    bronze = spark.read.format("delta").load(str(tmp_path / "delta/ratings_bronze"))
    assert bronze.count() == before + 2
    assert bronze.where("source_file = 'ratings_new.csv'").count() == 2
    log = spark.read.format("delta").load(str(tmp_path / "delta/_ingest_log")).where("source_file = 'ratings_new.csv'")
    assert log.count() == 1
