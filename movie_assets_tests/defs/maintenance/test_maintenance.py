"""maintenance_job: OPTIMIZE compacts, VACUUM removes what no version needs, rows unchanged, retention guarded."""

import os
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from movie_assets.definitions import defs
from movie_assets.defs.maintenance.jobs import MaintenanceSettings, maintain
from movie_assets.lake.delta_tables import table_version, write_table
from movie_assets.tables import keys

pytestmark = pytest.mark.slow


def small_commits(spark: SparkSession, root: Path, n: int = 6) -> str:
    path = str(root / "delta" / keys.RATINGS_BRONZE)
    for i in range(n):
        rows = spark.createDataFrame(
            [(i, 1, 4.0, i, f"ratings_{i}.csv")],
            "userId INT, movieId INT, rating DOUBLE, timestamp INT, source_file STRING",
        )
        write_table(rows, path, replace_where=f"source_file = 'ratings_{i}.csv'")
    return path


def fingerprint(spark: SparkSession, path: str) -> tuple:
    """The table's row count and an order-free XOR of its rows' hashes: equal when the rows are."""
    return tuple(spark.read.format("delta").load(path).selectExpr("count(*)", "bit_xor(xxhash64(*))").first())


def run(resources: dict, **settings: object) -> dg.ExecuteInProcessResult:
    """Two of maintenance_job's ops: an existing table and a missing one."""
    job = defs().resolve_job_def("maintenance_job")
    return job.execute_in_process(
        resources={**resources, "maintenance": MaintenanceSettings(**settings)},
        raise_on_error=False,
        op_selection=["maintain_ratings_bronze", "maintain_similar_movies"],
    )


def test_compaction_and_vacuum(spark: SparkSession, tmp_path: Path, resources: dict) -> None:
    """Six small commits become one file; a file over compact_below_mb is left as it is; VACUUM removes the rest."""
    path = str(tmp_path / "delta" / keys.RATINGS_BRONZE)
    large_rows = spark.range(150_000).selectExpr(
        "CAST(id AS INT) AS userId", "1 AS movieId", "rand(7) AS rating", "0 AS timestamp", "'big.csv' AS source_file"
    )
    large_rows.coalesce(1).write.format("delta").save(path)
    [large] = spark.read.format("delta").load(path).inputFiles()
    assert os.path.getsize(large.removeprefix("file:")) > 2**20  # over 1 MB; each small commit is a few kB
    small_commits(spark, tmp_path)
    rows = fingerprint(spark, path)
    result = run(resources, retention_hours=0, allow_short_retention=True, compact_below_mb=1.0)
    assert result.success
    [event] = [
        e for e in result.all_events if e.event_type_value == "STEP_OUTPUT" and e.step_key == "maintain_ratings_bronze"
    ]
    metadata = {k: v.value for k, v in event.event_specific_data.metadata.items()}
    assert metadata["live_files_before"] == 7 and metadata["files_on_disk_before"] >= 7  # + change data files
    assert metadata["live_files_after"] == 2 and metadata["files_on_disk_after"] == 2
    assert large in spark.read.format("delta").load(path).inputFiles()  # the large file untouched
    assert fingerprint(spark, path) == rows
    skipped = [
        e for e in result.all_events if e.event_type_value == "STEP_OUTPUT" and e.step_key == "maintain_similar_movies"
    ]
    assert skipped[0].event_specific_data.metadata["skipped"].value == "similar_movies is not materialized yet"


def test_short_retention_needs_saying_so(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_table(spark.createDataFrame([(1,)], "id INT"), path)
    with pytest.raises(dg.Failure, match=r"^retention_hours 1 is under Delta's safety minimum of 168: raise it"):
        maintain(spark, path, MaintenanceSettings(retention_hours=1))
    assert table_version(spark, path) == 0  # nothing ran


def test_the_default_keeps_a_week(tmp_path: Path) -> None:
    assert MaintenanceSettings().retention_hours == 168
    with pytest.raises(ValueError):
        MaintenanceSettings(retention_hours=-1)
