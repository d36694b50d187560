"""Every table write is one Delta transaction: a process killed mid-write leaves the previous version whole."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import Observation, SparkSession
from pyspark.sql import functions as F

from movie_assets.lake.delta_tables import markdown_table, table_version, write_table
from movie_assets.scripts import sample_data
from movie_assets_tests.conftest import write_csv
from movie_assets_tests.graph import ASSETS

pytestmark = pytest.mark.slow


def test_replace_where_touches_only_matching_rows(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_table(spark.createDataFrame([(1, "a"), (2, "b")], "id INT, v STRING"), path)
    write_table(spark.createDataFrame([(2, "c")], "id INT, v STRING"), path, replace_where="id = 2")
    assert sorted(tuple(r) for r in spark.read.format("delta").load(path).collect()) == [(1, "a"), (2, "c")]
    assert table_version(spark, path) == 1


def test_replace_where_into_a_missing_table_fulfils_the_writes_observation(spark: SparkSession, tmp_path: Path) -> None:
    """The empty table is created without a job on the observed rows: the observation counts the write's rows."""
    path = str(tmp_path / "t")
    observation = Observation("rows")
    rows = spark.createDataFrame([(1, "a"), (2, "b"), (2, "c")], "id INT, v STRING")
    write_table(rows.observe(observation, F.count(F.lit(1)).alias("n")), path, replace_where="id >= 1")
    assert observation.get == {"n": 3}
    assert sorted(tuple(r) for r in spark.read.format("delta").load(path).collect()) == [(1, "a"), (2, "b"), (2, "c")]
    assert table_version(spark, path) == 1  # the empty table, then the rows


def test_concurrent_writers_all_commit_once(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Six writers of a table that does not exist yet, two of them for the same id: every write lands once."""
    path = str(tmp_path / "t")
    jobs = [(i, f"writer {i}") for i in (0, 1, 2, 3, 4)] + [(5, "first"), (5, "second")]

    def write(job: tuple[int, str]) -> None:
        frame = spark.createDataFrame([job, job], "id INT, v STRING")
        write_table(frame, path, replace_where=f"id = {job[0]}")

    with caplog.at_level("WARNING", logger="movie_assets.lake.delta_tables"), ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(write, jobs))
    rows = spark.read.format("delta").load(path).groupBy("id").count().collect()
    assert sorted((r.id, r["count"]) for r in rows) == [(0, 2), (1, 2), (2, 2), (3, 2), (4, 2), (5, 2)]
    assert table_version(spark, path) == len(jobs)  # the creation, then one commit per writer
    assert any("a concurrent commit won" in r.message for r in caplog.records)


def data_files(table: Path) -> set[str]:
    return {p.name for p in table.glob("*.parquet")}


def test_sigkill_mid_write_keeps_the_previous_version(spark: SparkSession, tmp_path: Path, resources: dict) -> None:
    write_csv(tmp_path / "landing", "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,10\n2,1,3.5,11\n")
    assert dg.materialize(ASSETS, resources=resources, selection=["ratings_bronze"]).success
    table = tmp_path / "delta" / "ratings_bronze"
    before = sorted(tuple(r)[:4] for r in spark.read.format("delta").load(str(table)).collect())
    assert before == [(1, 1, 4.0, 10), (2, 1, 3.5, 11)]
    files_before = data_files(table)

    # The same file, a million ratings larger: the next write is long enough to be caught in the middle.
    sample_data.generate(tmp_path / "landing", 1_000_000, seed=2)
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.update({"MOVIE_ASSETS_DATA_DIR": str(tmp_path), "MOVIE_ASSETS_SPARK_MASTER": "local[2]"})
    command = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "movie_assets.definitions"]
    log = tmp_path / "materialize.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [*command, "--select", "ratings_bronze"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while not data_files(table) - files_before:
            assert process.poll() is None, "ended before writing:\n" + log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "no data file appeared in time"
            time.sleep(0.02)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert data_files(table) - files_before, "killed before any new data file was written"
    assert table_version(spark, str(table)) == 0  # the new files were never committed
    after = sorted(tuple(r)[:4] for r in spark.read.format("delta").load(str(table)).collect())
    assert after == before

    assert dg.materialize(ASSETS, resources=resources, selection=["ratings_bronze"]).success
    assert table_version(spark, str(table)) == 1
    assert spark.read.format("delta").load(str(table)).count() > len(before)


def test_markdown_preview_cells() -> None:
    rows = [{"movieId": 1, "title": "A | B", "features": [0.5, -1.25], "mean": 3.14159}]
    assert markdown_table(rows, ["movieId", "title", "features", "mean"]).splitlines() == [
        "| movieId | title | features | mean |",
        "|---|---|---|---|",
        "| 1 | A \\| B | [0.5000, -1.2500] | 3.1416 |",
    ]
    long = markdown_table([{"raw_line": "x" * 5_000_000}], ["raw_line"], max_chars=500)
    assert len(long) < 600 and long.endswith("… (5,000,000 characters) |")
