"""ratings_silver's layout: a rebuild writes files of disjoint userId ranges, and a MERGE reads only the files
whose range its new rows fall in (tables written here, exact rows)."""

from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable as RsTable
from pyspark.sql import SparkSession

from movie_assets.lake import commits, engine
from movie_assets.lake.commits import Snapshot
from movie_assets.lake.delta_tables import TableRef
from movie_assets.tables import ratings
from movie_assets.tables.transforms import latest_ratings

pytestmark = pytest.mark.slow  # Delta commits through Spark: not in make test-fast

BRONZE = "userId int, movieId int, rating double, timestamp int, source_file string"


def user_ranges(path: str) -> list[tuple[str, int, int, int]]:
    """(file, lowest userId, highest userId, rows) of each live file, by lowest userId, from the log's stats."""
    files = pa.table(RsTable(path).get_add_actions(flatten=True)).to_pylist()
    return sorted(((f["path"], f["min.userId"], f["max.userId"], f["num_records"]) for f in files), key=lambda f: f[1])


@pytest.mark.parametrize("small_batch", [engine.DRIVER_ROWS, 0], ids=["delta-rs", "spark"])
def test_rebuild_writes_disjoint_user_ranges_and_merge_reads_only_the_new_rows_range(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_batch: int
) -> None:
    """Both MERGE engines: delta-rs for a batch up to DRIVER_ROWS rows, Spark beyond."""
    monkeypatch.setattr(engine, "DRIVER_ROWS", small_batch)
    bronze, silver = str(tmp_path / "bronze"), str(tmp_path / "silver")
    first = [(u, m, 3.0, 100, "a.csv") for u in range(1, 41) for m in (1, 2)]
    spark.createDataFrame(first, BRONZE).write.format("delta").save(bronze)
    ratings.rebuild(spark, TableRef("ratings_bronze", bronze, 0), Snapshot.read(silver, "ratings_silver"))

    files = user_ranges(silver)
    assert len(files) == spark.sparkContext.defaultParallelism == 2  # 80 ratings: one file per task
    assert files[0][2] < files[1][1]  # the files' userId ranges do not overlap
    assert sum(f[3] for f in files) == 80 and (files[0][1], files[1][2]) == (1, 40)

    # New rows from the upper file's users only (one update, one insert) and a new user: with the lower file
    # gone from disk, the MERGE still succeeds, so it never opened that file.
    later = [(files[1][1], 1, 5.0, 200, "b.csv"), (files[1][2], 9, 4.0, 200, "b.csv"), (100, 1, 0.5, 50, "b.csv")]
    spark.createDataFrame(later, BRONZE).write.format("delta").mode("append").save(bronze)
    lower = Path(silver) / files[0][0]
    lower.rename(lower.with_suffix(".away"))
    grown, asked = TableRef("ratings_bronze", bronze, 1), []

    def session() -> SparkSession:
        asked.append("spark")
        return spark

    refresh = lambda table: ratings.refresh(session, table, grown, False)  # noqa: E731
    step, merged = commits.refresh(silver, "ratings_silver", refresh)
    assert (step.mode, step.changes is None) == ("merge", small_batch == 0)  # delta-rs reads a small feed
    assert bool(asked) == (small_batch == 0)  # a small batch of distinct pairs is merged without Spark
    lower.with_suffix(".away").rename(lower)

    assert merged == {
        "numSourceRows": 3,
        "numTargetRowsInserted": 2,
        "numTargetRowsUpdated": 1,
        "numTargetFilesRemoved": 1,
    }
    got = spark.read.format("delta").load(silver)
    expected = latest_ratings(spark.createDataFrame(first + later, BRONZE))
    assert got.count() == 82 and got.exceptAll(expected).isEmpty() and expected.exceptAll(got).isEmpty()
