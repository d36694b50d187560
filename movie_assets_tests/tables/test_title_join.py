"""user_movie_title_rating's plan and refresh on tiny tables written here: exact rows, merge or rebuild."""

from pathlib import Path

import pytest
from deltalake import DeltaTable as RsTable
from pyspark.sql import SparkSession

from movie_assets.lake import commits, engine
from movie_assets.lake.delta_tables import TableRef, table_version, write_table
from movie_assets.tables import title_join
from movie_assets_tests.conftest import merge_into

pytestmark = pytest.mark.slow  # Delta commits through Spark: not in make test-fast

RATINGS = "userId int, movieId int, rating double, timestamp int, source_file string"
MOVIES = "movieId int, title string, genres string"


@pytest.mark.parametrize("small_batch", [engine.DRIVER_ROWS, 0], ids=["delta-rs", "spark"])
def test_titles_merge_what_silver_changed_and_rebuild_on_new_titles(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_batch: int
) -> None:
    """Both MERGE engines: silver's change feed read and merged by delta-rs up to DRIVER_ROWS rows, by Spark beyond."""
    monkeypatch.setattr(engine, "DRIVER_ROWS", small_batch)
    silver, movies, path = str(tmp_path / "silver"), str(tmp_path / "movies"), str(tmp_path / "titled")
    ref = lambda p, name: TableRef(name, p, table_version(spark, p))  # noqa: E731
    write_movies = lambda rows: write_table(spark.createDataFrame(rows, MOVIES), movies)  # noqa: E731
    write_table(spark.createDataFrame([(1, 1, 3.0, 100, "a.csv"), (1, 2, 2.0, 100, "a.csv")], RATINGS), silver)
    write_movies([(1, "One (2000)", "Drama"), (2, "Two (2001)", "Comedy")])

    asked: list[str] = []

    def session() -> SparkSession:
        asked.append("spark")
        return spark

    def refresh() -> tuple[str, dict[str, int]]:
        asked.clear()
        ratings, titles = ref(silver, "ratings_silver"), ref(movies, "movies_bronze")
        step, merged = commits.refresh(
            path, "user_movie_title_rating", lambda table: title_join.refresh(session, table, ratings, titles, False)
        )
        if step.mode == "merge":
            assert (step.changes is None) == (small_batch == 0)  # the engine under test merges
        return step.mode, merged

    rows = lambda: sorted(tuple(r) for r in spark.read.format("delta").load(path).collect())  # noqa: E731
    assert refresh() == ("rebuild", {})
    # silver updates (1, 1) and inserts (2, 3), a movie without a title: only those two rows are merged
    changed = spark.createDataFrame([(1, 1, 4.5, 200, "b.csv"), (2, 3, 1.0, 100, "b.csv")], RATINGS)
    merge_into(silver, changed, ["userId", "movieId"])
    one_each = {"numSourceRows": 2, "numTargetRowsInserted": 1, "numTargetRowsUpdated": 1}
    assert refresh() == ("merge", {**one_each, "numTargetFilesRemoved": 1})  # (1, 1)'s file rewritten
    assert bool(asked) == (small_batch == 0)  # a small batch of distinct pairs is merged without Spark
    assert rows() == [(1, 1, "One (2000)", 4.5), (1, 2, "Two (2001)", 2.0), (2, 3, None, 1.0)]
    assert refresh() == ("current", {})
    # (2, 3) changed twice since: its last change is merged (Spark picks it from the feed, small batch or not)
    for rating, stamp in ((2.0, 300), (3.5, 400)):
        merge_into(silver, spark.createDataFrame([(2, 3, rating, stamp, "c.csv")], RATINGS), ["userId", "movieId"])
    assert refresh()[0] == "merge" and asked
    assert rows() == [(1, 1, "One (2000)", 4.5), (1, 2, "Two (2001)", 2.0), (2, 3, None, 3.5)]

    # movies rewritten with the same titles (bronze rewrites them every run): still a merge
    write_movies([(2, "Two (2001)", "Comedy"), (1, "One (2000)", "Drama|War")])
    merge_into(silver, spark.createDataFrame([(3, 1, 2.0, 100, "d.csv")], RATINGS), ["userId", "movieId"])
    assert refresh()[0] == "merge"
    # new titles: rebuilt, every row with its new title
    write_movies([(1, "Uno (2000)", "Drama"), (2, "Two (2001)", "Comedy")])
    assert title_join.plan(lambda: spark, RsTable(path), ref(silver, "s"), ref(movies, "m"), False).reason == (
        "movies_bronze's titles changed since v1"
    )
    assert refresh()[0] == "rebuild"
    assert rows() == [
        (1, 1, "Uno (2000)", 4.5),
        (1, 2, "Two (2001)", 2.0),
        (2, 3, None, 3.5),
        (3, 1, "Uno (2000)", 2.0),
    ]
