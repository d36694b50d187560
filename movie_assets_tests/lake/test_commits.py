"""Two refreshes of one table at once: the second to commit read a version the first replaced, so its commit is
refused and it runs again from the new version. The interleaving is forced, not left to timing: the first
refresh reads the table, then the second runs whole (reading that same version and committing), then the first
goes on. Each incrementally maintained table ends with exactly the rows one refresh gives."""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from deltalake import DeltaTable as RsTable
from pyspark.sql import DataFrame, SparkSession

from movie_assets.lake import commits, engine
from movie_assets.lake.commits import Snapshot
from movie_assets.lake.delta_tables import TableRef, table_version, write_table
from movie_assets.recommend.neighbors import neighbors_table, store_neighbors
from movie_assets.recommend.similarity import FactorIndex
from movie_assets.tables import aggregates, ratings, title_join
from movie_assets.tables import schemas as S
from movie_assets.tables.transforms import latest_ratings, mean_count, ratings_with_titles
from movie_assets_tests.conftest import merge_into

pytestmark = pytest.mark.slow  # Delta commits through Spark: not in make test-fast

RATINGS = "userId int, movieId int, rating double, timestamp int, source_file string"
MOVIES = "movieId int, title string, genres string"
FIRST = [(1, 1, 3.0, 100, "a.csv"), (2, 1, 2.0, 100, "a.csv"), (1, 2, 0.5, 100, "a.csv")]
LATER = [(2, 1, 4.5, 200, "b.csv"), (3, 1, 1.0, 200, "b.csv"), (3, 2, 5.0, 200, "b.csv")]
ENGINES = pytest.mark.parametrize("small_batch", [engine.DRIVER_ROWS, 0], ids=["delta-rs", "spark"])


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[], Any]], list[int | None]]]:
    """`interleave(other)`: the next refresh's first read is followed by `other()` (a whole second refresh of the
    same table) before it goes on; returns the versions each read of the table saw, in order."""
    real = Snapshot.read
    seen: list[int | None] = []
    pending: list[Callable[[], Any]] = []

    def read(cls: type[Snapshot], path: str, name: str) -> Snapshot:
        snapshot = real(path, name)
        seen.append(snapshot.version)
        if pending:
            pending.pop()()
        return snapshot

    def interleave(other: Callable[[], Any]) -> list[int | None]:
        seen.clear()
        pending.append(other)
        return seen

    monkeypatch.setattr(Snapshot, "read", classmethod(read))
    monkeypatch.setattr(commits.time, "sleep", lambda seconds: None)
    yield interleave


def same_rows(got: DataFrame, expected: DataFrame) -> None:
    assert got.count() == expected.count()
    assert got.exceptAll(expected).isEmpty() and expected.exceptAll(got).isEmpty()


def silver_with_changes(spark: SparkSession, tmp_path: Path) -> tuple[str, Callable[[], TableRef]]:
    silver = str(tmp_path / "silver")
    write_table(spark.createDataFrame(FIRST, RATINGS), silver)
    return silver, lambda: TableRef("ratings_silver", silver, table_version(spark, silver))


@pytest.mark.parametrize("key", [S.USER_ID, S.MOVIE_ID])
def test_two_aggregate_refreshes_at_once_count_each_change_once(
    spark: SparkSession, tmp_path: Path, reads: Callable, key: str
) -> None:
    silver, ref = silver_with_changes(spark, tmp_path)
    path, name = str(tmp_path / "means"), "mean_count_silver"
    refresh = lambda: commits.refresh(  # noqa: E731
        path, name, lambda table: aggregates.refresh(lambda: spark, table, ref(), key, False)
    )
    assert refresh().mode == "rebuild"
    merge_into(silver, spark.createDataFrame(LATER, RATINGS), [S.USER_ID, S.MOVIE_ID])

    seen = reads(refresh)  # both read v0; the other moves the sums first
    assert refresh().mode == "current"  # run again from v1, which the other wrote: nothing left to move
    assert seen == [0, 0, 1]
    same_rows(spark.read.format("delta").load(path), mean_count(spark.read.format("delta").load(silver), key))
    assert RsTable(path).version() == 1  # one update, not two


def test_two_rebuilds_at_once_through_spark(spark: SparkSession, tmp_path: Path, reads: Callable) -> None:
    """Delta Spark skips the write of the refresh that read an old version; the skip is seen and it runs again."""
    silver, ref = silver_with_changes(spark, tmp_path)
    path = str(tmp_path / "means")
    refresh = lambda: commits.refresh(  # noqa: E731
        path, "means", lambda table: aggregates.refresh(lambda: spark, table, ref(), S.MOVIE_ID, True)
    )
    seen = reads(refresh)
    assert refresh().mode == "rebuild"
    assert seen == [None, None, 0]  # both found no table; the other created it; this one rebuilt it again
    same_rows(spark.read.format("delta").load(path), mean_count(spark.read.format("delta").load(silver), S.MOVIE_ID))


@ENGINES
def test_two_title_refreshes_at_once(
    spark: SparkSession, tmp_path: Path, reads: Callable, monkeypatch: pytest.MonkeyPatch, small_batch: int
) -> None:
    monkeypatch.setattr(engine, "DRIVER_ROWS", small_batch)
    silver, ref = silver_with_changes(spark, tmp_path)
    movies, path = str(tmp_path / "movies"), str(tmp_path / "titled")
    write_table(spark.createDataFrame([(1, "One (2000)", "Drama"), (2, "Two (2001)", "War")], MOVIES), movies)
    titles = TableRef("movies_bronze", movies, 0)
    refresh = lambda: commits.refresh(  # noqa: E731
        path, "user_movie_title_rating", lambda table: title_join.refresh(lambda: spark, table, ref(), titles, False)
    )
    assert refresh()[0].mode == "rebuild"
    merge_into(silver, spark.createDataFrame(LATER, RATINGS), [S.USER_ID, S.MOVIE_ID])
    merge_into(silver, spark.createDataFrame([(3, 2, 2.5, 300, "c.csv")], RATINGS), [S.USER_ID, S.MOVIE_ID])

    seen = reads(refresh)
    assert refresh()[0].mode == "current"
    assert seen == [0, 0, 1]
    expected = ratings_with_titles(spark.read.format("delta").load(silver), spark.read.format("delta").load(movies))
    same_rows(spark.read.format("delta").load(path), expected)


@ENGINES
def test_two_silver_refreshes_at_once(
    spark: SparkSession, tmp_path: Path, reads: Callable, monkeypatch: pytest.MonkeyPatch, small_batch: int
) -> None:
    monkeypatch.setattr(engine, "DRIVER_ROWS", small_batch)
    bronze, silver = str(tmp_path / "bronze"), str(tmp_path / "silver")
    spark.createDataFrame(FIRST, RATINGS).write.format("delta").save(bronze)
    ref = lambda: TableRef("ratings_bronze", bronze, table_version(spark, bronze))  # noqa: E731
    refresh = lambda: commits.refresh(  # noqa: E731
        silver, "ratings_silver", lambda table: ratings.refresh(lambda: spark, table, ref(), False)
    )
    assert refresh()[0].mode == "rebuild"
    spark.createDataFrame([*LATER, (3, 1, 0.5, 150, "b.csv")], RATINGS).write.format("delta").mode("append").save(
        bronze
    )

    seen = reads(refresh)
    assert refresh()[0].mode == "current"
    assert seen == [0, 0, 1]
    same_rows(spark.read.format("delta").load(silver), latest_ratings(spark.read.format("delta").load(bronze)))


def test_two_neighbour_refreshes_at_once(tmp_path: Path, reads: Callable) -> None:
    path = str(tmp_path / "movie_neighbors")
    factors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    neighbors = neighbors_table(FactorIndex.build(np.array([1, 2, 3, 4]), factors), k=2)
    refresh = lambda stamp: commits.refresh(  # noqa: E731
        path, "movie_neighbors", lambda table: store_neighbors(table, neighbors, stamp)
    )
    assert refresh({"als_item_factors_version": 0, "k": 2})
    seen = reads(lambda: refresh({"als_item_factors_version": 1, "k": 2}))
    assert not refresh({"als_item_factors_version": 1, "k": 2})  # the other committed the same neighbours
    assert seen == [0, 0, 1]
    got = pa.table(RsTable(path).to_pyarrow_table()).sort_by([(S.QUERY_MOVIE_ID, "ascending"), (S.RANK, "ascending")])
    assert got.to_pylist() == neighbors.sort_by([(S.QUERY_MOVIE_ID, "ascending"), (S.RANK, "ascending")]).to_pylist()
    assert RsTable(path).version() == 1


def test_a_refresh_that_keeps_losing_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commits.time, "sleep", lambda seconds: None)

    def always_late(table: Snapshot) -> None:
        commits.overwrite(Snapshot.read(table.path, table.name), pa.table({"v": [1]}), {})  # another writer
        commits.overwrite(table, pa.table({"v": [2]}), {})

    with pytest.raises(commits.ConcurrentRefreshError, match=r"^t was changed by other runs 3 times while this"):
        commits.refresh(str(tmp_path / "t"), "t", always_late, attempts=3)
    assert RsTable(str(tmp_path / "t")).to_pyarrow_table().to_pydict() == {"v": [1]}


@pytest.mark.parametrize("engine_name", ["delta-rs", "spark"])
def test_replace_where_names_values_with_quotes_and_backslashes_alike(
    spark: SparkSession, tmp_path: Path, engine_name: str
) -> None:
    """One `where`, rendered for each engine's SQL: the same rows replaced, whatever the names hold."""
    path = str(tmp_path / "t")
    names = ["a'b.csv", "c\\d.csv", "e.csv", "it's\\'.csv"]
    first = pa.table({"source_file": names, "n": [1, 2, 3, 4]})
    commits.replace_where(path, first, {"source_file": names})
    replaced = pa.table({"source_file": ["a'b.csv"], "n": [10]})
    rows = replaced
    if engine_name == "spark":
        rows = spark.createDataFrame(replaced.to_pylist(), "source_file string, n bigint")
    commits.replace_where(path, rows, {"source_file": ["a'b.csv", "c\\d.csv", "it's\\'.csv"]})
    got = sorted(zip(*RsTable(path).to_pyarrow_table().to_pydict().values(), strict=True))
    assert got == [("a'b.csv", 10), ("e.csv", 3)]
