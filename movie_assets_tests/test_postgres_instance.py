"""A team's instance: `dagster dev` (webserver and daemon) on PostgreSQL with the run queue, the pools and run
monitoring of deploy/dagster-postgres.yaml. Twenty asks and two ingestions submitted at once through the GraphQL
API all succeed, never more than two runs at a time, every row exactly once."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient
from deltalake import DeltaTable

from movie_assets.app.picker import graphql
from movie_assets.definitions import build_resources
from movie_assets_tests.conftest import TEST_SPARK, write_csv
from movie_assets_tests.graph import ASSETS
from movie_assets_tests.ml_small import land
from movie_assets_tests.servers import answers, free_port, postgres_server, stop_group

pytestmark = [pytest.mark.deploy, pytest.mark.e2e, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]
BUILT = ["ratings_bronze", "movies_bronze", "ratings_silver", "movie_mean_count_silver", "als_item_factors"]
ASKED = [1, 2, 3, 6, 10, 32, 47, 50, 110, 150, 260, 296, 318, 356, 480, 527, 589, 593, 608, 2571]
RUNS_QUERY = """
query ($ids: [String!]) {
  runsOrError(filter: {runIds: $ids}) { ... on Runs { results { runId status startTime endTime } } }
}
"""


@pytest.fixture(scope="module")
def instance_env() -> Iterator[dict[str, str]]:
    with postgres_server() as env:
        yield env


@pytest.fixture(scope="module")
def server(
    ml_small: Path, tmp_path_factory: pytest.TempPathFactory, instance_env: dict[str, str]
) -> Iterator[tuple[Path, int, Path]]:
    """The sample built through the factors on the PostgreSQL instance, then `dagster dev` on that instance."""
    root = tmp_path_factory.mktemp("postgres_instance")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster-postgres.yaml", home / "dagster.yaml")
    land(ml_small, root / "landing")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in instance_env.items():
            patch.setenv(name, value)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            resources = build_resources(str(root), **TEST_SPARK)
            assert dg.materialize(ASSETS, resources=resources, selection=BUILT, instance=instance).success
    port, log = free_port(), root / "dagster_dev.log"
    env = {
        **os.environ,
        **instance_env,
        "DAGSTER_HOME": str(home),
        "MOVIE_ASSETS_DATA_DIR": str(root),
        "MOVIE_ASSETS_SENSOR_INTERVAL": "3600",  # only the runs the test submits ingest
        "MOVIE_ASSETS_SPARK_SHUFFLE_PARTITIONS": "2",
    }
    command = [sys.executable, "-m", "dagster", "dev", "-h", "127.0.0.1", "-p", str(port)]
    with open(log, "w") as out:
        process = subprocess.Popen(
            [*command, "-m", "movie_assets.definitions"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while not answers(f"http://127.0.0.1:{port}/server_info"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        yield root, port, log
    finally:
        stop_group(process, signal.SIGTERM, timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def most_at_once(runs: list[dict]) -> int:
    """The most runs that were STARTED at the same moment, from their start and end times."""
    edges = sorted([(r["startTime"], 1) for r in runs] + [(r["endTime"], -1) for r in runs])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_twenty_asks_and_two_ingestions_at_once(server: tuple[Path, int, Path]) -> None:
    root, port, log = server
    client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=60)
    write_csv(root / "landing", "ratings_new.csv", "userId,movieId,rating,timestamp\n9001,1,4.0,1\n9001,2,3.5,2\n")
    submitted = [
        client.submit_job_execution("similar_movies_job", run_config={"ops": {"similar_movies": {"config": {
            "movie_id": movie_id, "k": 5}}}})
        for movie_id in ASKED
    ]  # fmt: skip
    bronze = ["ratings_bronze", "ratings_quarantine"]
    submitted += [client.submit_job_execution("__ASSET_JOB", asset_selection=bronze) for _ in range(2)]

    deadline = time.monotonic() + 900
    finished = {"SUCCESS", "FAILURE", "CANCELED"}
    while {client.get_run_status(run_id).value for run_id in submitted} - finished:
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(2)
    runs = graphql(f"http://127.0.0.1:{port}", RUNS_QUERY, ids=submitted)["runsOrError"]["results"]
    assert sorted(r["status"] for r in runs) == ["SUCCESS"] * 22, log.read_text()[-3000:]
    assert most_at_once(runs) <= 2  # the queue's max_concurrent_runs

    answers_table = DeltaTable(str(root / "delta" / "similar_movies")).to_pyarrow_table(columns=["movie_id", "rank"])
    per_id = answers_table.group_by("movie_id").aggregate([("rank", "count")]).to_pydict()
    assert dict(zip(per_id["movie_id"], per_id["rank_count"], strict=True)) == dict.fromkeys(ASKED, 5)
    ratings = DeltaTable(str(root / "delta" / "ratings_bronze")).to_pyarrow_table(columns=["source_file"])
    assert ratings.column("source_file").to_pylist().count("ratings_new.csv") == 2  # ingested twice, landed once
    assert ratings.num_rows == 100_836 + 2
