"""The whole graph on a real Spark standalone cluster (one master, two workers on 127.0.0.1), against local mode."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from movie_assets.resources.als_models import AlsModels
from movie_assets.tables import schemas as S
from movie_assets_tests.conftest import TEST_SPARK
from movie_assets_tests.ml_small import SELECTION, brute_force, land, table
from movie_assets_tests.servers import HOST
from movie_assets_tests.spark_cluster import StandaloneCluster, standalone_cluster

pytestmark = pytest.mark.e2e
APP_NAME = "movie_assets_cluster_test"
MOVIE_ID = 1


def materialize_on(cluster: StandaloneCluster, root: Path, landing: Path, home: Path) -> subprocess.CompletedProcess:
    """What a user runs against a cluster: the CLI, with the master, executors and data root from the environment."""
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "MOVIE_ASSETS_DATA_DIR": root.as_uri(),  # a Hadoop URI (file://), as s3a:// or abfss:// would be
        "MOVIE_ASSETS_LANDING_DIR": str(landing),
        "MOVIE_ASSETS_SPARK_MASTER": cluster.master_url,
        "MOVIE_ASSETS_SPARK_EXECUTOR_MEMORY": "1g",
        "MOVIE_ASSETS_SPARK_EXECUTOR_CORES": "1",
        "MOVIE_ASSETS_SPARK_DRIVER_MEMORY": "1g",
        # The local run's parallelism, so that ALS cuts the same blocks and starts from the same seeded factors.
        "MOVIE_ASSETS_SPARK_SHUFFLE_PARTITIONS": str(TEST_SPARK["shuffle_partitions"]),
        "MOVIE_ASSETS_SPARK_CONF": json.dumps(
            {"spark.app.name": APP_NAME, "spark.driver.host": HOST, "spark.driver.bindAddress": HOST}
        ),
    }
    config = json.dumps({"ops": {"similar_movies": {"config": {"movie_id": MOVIE_ID, "k": 10}}}})
    evaluations = {"als_evaluation", "similarity_evaluation"}  # run locally by the other tests; slow on 1 core
    selection = ",".join([*(s for s in SELECTION if s not in evaluations), "similar_movies"])
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "--select", selection, "-m",
               "movie_assets.definitions", "--config-json", config]  # fmt: skip
    home.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=900)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, process.returncode, output)


def same_rows(spark: SparkSession, root: Path | str, local: Path | str, name: str) -> bool:
    """The same rows, ignoring when they were ingested (exceptAll both ways: duplicates count)."""
    here, there = (table(spark, r, name).drop(S.INGESTED_AT) for r in (root, local))
    return here.count() == there.count() and here.exceptAll(there).isEmpty() and there.exceptAll(here).isEmpty()


def test_the_whole_graph_on_a_standalone_cluster(
    spark: SparkSession, ml_small: Path, ml_small_run: tuple[dg.ExecuteInProcessResult, Path], tmp_path: Path
) -> None:
    local = ml_small_run[1]
    root, landing = tmp_path / "cluster_root", tmp_path / "landing"
    land(ml_small, landing)
    with standalone_cluster(tmp_path / "spark", workers=2, cores=1, memory="1g") as cluster:
        assert cluster.state()["aliveworkers"] == 2
        done = materialize_on(cluster, root, landing, tmp_path / "dagster_home")
        assert done.returncode == 0, done.stdout[-6000:] + "\n" + cluster.log_tail()
        # The master ran the application, on its executors, to the end (it learns of the end within seconds).
        deadline = time.monotonic() + 60
        while not (apps := [a for a in cluster.state()["completedapps"] if a["name"] == APP_NAME]):
            assert time.monotonic() < deadline, cluster.state()
            time.sleep(1)
    assert [a["state"] for a in apps] == ["FINISHED"]
    assert apps[0]["cores"] >= 1 and apps[0]["duration"] > 0

    # Bronze and silver equal the local-mode run exactly (half-star sums are exact in any order).
    for name in ("ratings_bronze", "movies_bronze", "user_mean_count_silver", "movie_mean_count_silver",
                 "user_movie_title_rating"):  # fmt: skip
        assert same_rows(spark, root, local, name), name
    # Same seed: one factor row per rated movie, and the same similar movies (as a set: ALS partitioning
    # may change the last bits of the factors, and so the order of near ties).
    assert table(spark, root, "als_item_factors").count() == table(spark, local, "als_item_factors").count()
    answer = table(spark, root, "similar_movies").where(f"movie_id = {MOVIE_ID}").collect()
    want = brute_force(spark, local, MOVIE_ID, 10, AlsModels().answer.rule())
    assert {r.similar_movie_id for r in answer} == {m for m, _ in want}
    assert sorted(r.similarity for r in answer) == pytest.approx(sorted(s for _, s in want), abs=1e-3)
    assert table(spark, root, "movie_neighbors").count() == table(spark, local, "movie_neighbors").count()
