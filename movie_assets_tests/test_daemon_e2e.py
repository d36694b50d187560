"""The real daemon: `dagster dev` on 127.0.0.1 picks up landing files and refreshes everything downstream."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient
from pyspark.sql import SparkSession

from movie_assets.delta_tables import table_version

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]
NEW_RATINGS = [(9001, 1, 4.0, 1700000000), (9001, 260, 5.0, 1700000001), (9001, 296, 3.5, 1700000002)]
NEW_RATINGS += [(9002, 1, 2.0, 1700000003), (9002, 318, 4.5, 1700000004)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for(what: str, condition: Callable[[], bool], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n--- dagster dev log ---\n{tail}")
        time.sleep(2)


@pytest.fixture(scope="module")
def server(ml_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int, Path]]:
    root = tmp_path_factory.mktemp("daemon")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    (root / "landing").mkdir()
    for name in ("ratings.csv", "movies.csv"):
        shutil.copy(ml_small / name, root / "landing" / name)
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "MOVIE_ASSETS_DATA_DIR": str(root),
        "MOVIE_ASSETS_SENSOR_INTERVAL": "5",
        "MOVIE_ASSETS_SPARK_SHUFFLE_PARTITIONS": "4",
    }
    log = root / "dagster_dev.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster",
                "dev",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-m",
                "movie_assets.definitions",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the webserver, daemon, code server and runs
        )
    try:
        yield root, port, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        time.sleep(1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything of the group still alive


def test_landing_to_factors_with_no_click(server: tuple[Path, int, Path], spark: SparkSession) -> None:
    root, port, log = server
    table = lambda name: str(root / "delta" / name)  # noqa: E731
    count = lambda name: spark.read.format("delta").load(table(name)).count()  # noqa: E731
    # Another process writes these tables: look at the files (this process's Delta log cache would not notice).
    committed = lambda name: any((root / "delta" / name / "_delta_log").glob("*.json"))  # noqa: E731
    wait_for(
        "bronze, silver and factors",
        lambda: committed("user_movie_title_rating") and committed("als_item_factors"),
        600,
        log,
    )
    assert count("ratings_bronze") == count("user_movie_title_rating") == 100_836

    wait_for("the webserver", lambda: server_up(port), 120, log)
    client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=60)
    run_id = client.submit_job_execution(
        "similar_movies_job", run_config={"ops": {"similar_movies": {"config": {"movie_id": 1, "k": 5}}}}
    )
    wait_for("the answer for movie 1", lambda: client.get_run_status(run_id).value == "SUCCESS", 300, log)
    answers_version = table_version(spark, table("similar_movies"))
    factors_version = table_version(spark, table("als_item_factors"))

    lines = "".join(f"{u},{m},{r},{t}\n" for u, m, r, t in NEW_RATINGS)
    staged = root / "landing" / ".ratings_new.csv.partial"
    staged.write_text("userId,movieId,rating,timestamp\n" + lines)
    staged.rename(root / "landing" / "ratings_new.csv")
    wait_for(
        "the new ratings in bronze and silver, new factors and a recomputed answer",
        lambda: (
            count("ratings_bronze") == 100_836 + len(NEW_RATINGS)
            and count("user_movie_title_rating") == 100_836 + len(NEW_RATINGS)
            and table_version(spark, table("als_item_factors")) > factors_version
            and table_version(spark, table("similar_movies")) > answers_version
        ),
        600,
        log,
    )
    assert count("similar_movies") == 5

    versions = {
        n: table_version(spark, table(n))
        for n in ("ratings_bronze", "user_mean_count_silver", "movie_mean_count_silver")
    }
    shutil.copy(root / "landing" / "ratings_new.csv", root / "landing" / "ratings_new.csv.copy")
    os.replace(
        root / "landing" / "ratings_new.csv.copy", root / "landing" / "ratings_new.csv"
    )  # same content, new mtime
    time.sleep(30)  # several sensor ticks
    assert {n: table_version(spark, table(n)) for n in versions} == versions
    assert count("ratings_bronze") == 100_836 + len(NEW_RATINGS)
