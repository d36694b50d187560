"""The mean and count tables moved by silver's change feed: exact rows, the rebuild's means bit for bit."""

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from movie_assets.lake import commits, engine
from movie_assets.lake.delta_tables import TableRef, table_version, write_table
from movie_assets.tables import aggregates
from movie_assets.tables import schemas as S
from movie_assets.tables.transforms import mean_count
from movie_assets_tests.conftest import merge_into

pytestmark = pytest.mark.slow  # Delta commits through Spark: not in make test-fast

RATINGS = "userId int, movieId int, rating double, timestamp int, source_file string"


def test_means_move_with_what_silver_changed_and_equal_a_rebuild(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    silver, path = str(tmp_path / "silver"), str(tmp_path / "movie_means")
    first = [(1, 1, 3.0, 100, "a.csv"), (2, 1, 2.0, 100, "a.csv"), (3, 1, 2.0, 100, "a.csv"), (1, 2, 0.5, 100, "a.csv")]
    write_table(spark.createDataFrame(first, RATINGS), silver)

    def refresh() -> str:
        ratings = TableRef("ratings_silver", silver, table_version(spark, silver))
        refresh = lambda table: aggregates.refresh(lambda: spark, table, ratings, S.MOVIE_ID, False)  # noqa: E731
        return commits.refresh(path, "movie_mean_count_silver", refresh).mode

    rows = lambda: [tuple(r) for r in spark.read.format("delta").load(path).collect()]  # noqa: E731
    assert refresh() == "rebuild"
    assert rows() == [(1, 7 / 3, 3), (2, 0.5, 1)]
    assert refresh() == "current"

    # (2, 1) is updated, (4, 1), (5, 1) and (1, 3) inserted; then (1, 2) updated in a second commit
    on = [S.USER_ID, S.MOVIE_ID]
    changed = [(2, 1, 4.5, 200, "b.csv"), (4, 1, 1.0, 200, "b.csv"), (5, 1, 1.0, 200, "b.csv")]
    changed.append((1, 3, 5.0, 200, "b.csv"))
    merge_into(silver, spark.createDataFrame(changed, RATINGS), on)
    merge_into(silver, spark.createDataFrame([(1, 2, 4.0, 300, "c.csv")], RATINGS), on)
    assert refresh() == "update"
    assert rows() == [(3, 5.0, 1), (2, 4.0, 1), (1, 11.5 / 5, 5)]  # ordered by mean desc, count desc
    rebuilt = mean_count(spark.read.format("delta").load(silver), S.MOVIE_ID)
    assert [tuple(r) for r in rebuilt.collect()] == rows()  # the same doubles, not only close ones

    # more changed ratings than the driver takes (here, any): rebuilt from every rating, in one pass
    monkeypatch.setattr(engine, "DRIVER_ROWS", 0)
    merge_into(silver, spark.createDataFrame([(6, 2, 3.0, 500, "e.csv")], RATINGS), on)
    assert refresh() == "rebuild"
    assert rows() == [(3, 5.0, 1), (2, 3.5, 2), (1, 11.5 / 5, 5)]

    # silver rebuilt (its rows replaced): the means are rebuilt from every rating
    write_table(spark.createDataFrame([(9, 1, 1.5, 400, "d.csv")], RATINGS), silver)
    assert refresh() == "rebuild"
    assert rows() == [(1, 1.5, 1)]
