"""A team's deployment: a Spark standalone cluster (one master, two one-core workers on 127.0.0.1) with the data
root, landing included, on an S3-compatible server; the driver and every executor reach the store through the
same AWS variables. A full build, an increment and asks at once, as a person runs them (`dagster` CLI runs with
MOVIE_ASSETS_SPARK_MASTER=spark://...), against the real sample's local-mode run."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from movie_assets.lake import storage
from movie_assets.resources.als_models import AlsModels
from movie_assets.tables import keys
from movie_assets.tables import schemas as S
from movie_assets_tests.conftest import TEST_SPARK
from movie_assets_tests.ml_small import SELECTION, brute_force
from movie_assets_tests.servers import HOST, put, rows, s3_server
from movie_assets_tests.spark_cluster import StandaloneCluster, standalone_cluster

pytestmark = [pytest.mark.deploy, pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("ml_small_run")]
APP_NAME = "movie_assets_cluster_test"
ROOT = "s3a://lake/cluster"
NEW = "ratings_new.csv"
NEW_RATINGS = "userId,movieId,rating,timestamp\n1,1,1.0,1700000000\n999,1,5.0,1700000000\n"
ASKS = {1: 10, 2: 7, 3: 5}  # movie id: k
EXACT = [keys.RATINGS_BRONZE, keys.MOVIES_BRONZE, keys.RATINGS_SILVER, keys.USER_MEAN_COUNT_SILVER,
         keys.MOVIE_MEAN_COUNT_SILVER, keys.USER_MOVIE_TITLE_RATING]  # fmt: skip
# The evaluations run locally in the other tests; on two one-core executors they take minutes.
BUILD = ",".join(s for s in SELECTION if s not in {"als_evaluation", "similarity_evaluation"})
SILVER = ",".join([keys.RATINGS_BRONZE, keys.RATINGS_SILVER, keys.USER_MEAN_COUNT_SILVER,
                   keys.MOVIE_MEAN_COUNT_SILVER, keys.USER_MOVIE_TITLE_RATING])  # fmt: skip


@pytest.fixture
def cluster_on_a_store(tmp_path: Path) -> Iterator[tuple[StandaloneCluster, dict[str, str]]]:
    with s3_server("lake") as env, standalone_cluster(tmp_path / "spark", workers=2, cores=1, memory="1g") as cluster:
        yield cluster, env


def start(cluster: StandaloneCluster, env: dict[str, str], home: Path, *args: str) -> subprocess.Popen:
    """`dagster ARGS` as a user runs it against the cluster: master, executors and data root from the environment."""
    variables = {
        **os.environ,
        **env,
        "DAGSTER_HOME": str(home),
        "MOVIE_ASSETS_DATA_DIR": ROOT,
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
    command = [sys.executable, "-m", "dagster", *args, "-m", "movie_assets.definitions"]
    return subprocess.Popen(
        command, env=variables, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def finish(process: subprocess.Popen, cluster: StandaloneCluster) -> None:
    try:
        output, _ = process.communicate(timeout=900)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, output[-6000:] + "\n" + cluster.log_tail()


def materialize(cluster: StandaloneCluster, env: dict[str, str], home: Path, selection: str) -> None:
    finish(start(cluster, env, home, "asset", "materialize", "--select", selection), cluster)


def test_the_graph_on_a_cluster_with_the_root_on_a_store(
    cluster_on_a_store: tuple[StandaloneCluster, dict[str, str]],
    ml_small: Path,
    ml_small_run: tuple[dg.ExecuteInProcessResult, Path],
    spark: SparkSession,
    tmp_path: Path,
) -> None:
    cluster, env = cluster_on_a_store
    local, home = str(ml_small_run[1]), tmp_path / "home"
    home.mkdir()
    with dg.DagsterInstance.from_config(str(home)):
        pass  # one instance for the runs at once, its storage created once
    for name in ("ratings.csv", "movies.csv"):
        put(env, ROOT, name, (ml_small / name).read_bytes())
    assert cluster.state()["aliveworkers"] == 2

    materialize(cluster, env, home, BUILD)
    # The master ran the application on its executors, to the end (it learns of the end within seconds).
    deadline = time.monotonic() + 60
    while not (apps := [a for a in cluster.state()["completedapps"] if a["name"] == APP_NAME]):
        assert time.monotonic() < deadline, cluster.state()
        time.sleep(1)
    assert apps[0]["state"] == "FINISHED" and apps[0]["cores"] >= 1 and apps[0]["duration"] > 0
    # Bronze and silver equal the local-mode run exactly (half-star sums are exact in any order).
    for name in EXACT:
        assert rows(env, ROOT, name) == rows({}, local, name), name
    # Same seed: a factor row for each movie the local run has, and as many neighbour rows.
    factors = {where: [r[0] for r in rows(e, root, keys.ALS_ITEM_FACTORS)] for where, root, e in
               (("cluster", ROOT, env), ("local", local, {}))}  # fmt: skip
    assert factors["cluster"] == factors["local"]
    assert len(rows(env, ROOT, keys.MOVIE_NEIGHBORS)) == len(rows({}, local, keys.MOVIE_NEIGHBORS))

    # An increment: a changed rating and a new user, through bronze and silver.
    put(env, ROOT, NEW, NEW_RATINGS.encode())
    materialize(cluster, env, home, SILVER)
    silver = rows(env, ROOT, keys.RATINGS_SILVER)
    assert len(silver) == len(rows({}, local, keys.RATINGS_SILVER)) + 1
    assert (1, 1, 1.0, 1700000000, NEW) in silver and (999, 1, 5.0, 1700000000, NEW) in silver

    # Asks at once, each its own run: every answer lands, the same movies as the stored factors give locally
    # (as a set: ALS partitioning may change the last bits of the factors, and so the order of near ties).
    asks = []
    for movie_id, k in ASKS.items():
        config = json.dumps({"ops": {keys.SIMILAR_MOVIES: {"config": {"movie_id": movie_id, "k": k}}}})
        command = ("asset", "materialize", "--select", keys.SIMILAR_MOVIES, "--config-json", config)
        asks.append(start(cluster, env, home, *command))
    for process in asks:
        finish(process, cluster)
    answers = DeltaTable(f"{storage.native_uri(ROOT)}/delta/{keys.SIMILAR_MOVIES}", storage_options=env)
    found = answers.to_pyarrow_table().to_pylist()
    rule = AlsModels().answer.rule()
    for movie_id, k in ASKS.items():
        answer = {r[S.SIMILAR_MOVIE_ID]: r[S.SIMILARITY] for r in found if r[S.QUERY_MOVIE_ID] == movie_id}
        want = dict(brute_force(spark, local, movie_id, k, rule))
        assert set(answer) == set(want), movie_id
        assert sorted(answer.values()) == pytest.approx(sorted(want.values()), abs=1e-3)
