"""Silver transforms on tiny DataFrames: exact rows."""

from pyspark.sql import SparkSession

from movie_assets.tables import schemas as S
from movie_assets.tables.transforms import latest_ratings, mean_count, ratings_with_titles

RATINGS = [(1, 10, 4.0, 1), (1, 11, 2.0, 2), (2, 10, 5.0, 3), (3, 12, 3.0, 4), (3, 10, 3.0, 5)]


def test_mean_count_per_user_ordered(spark: SparkSession) -> None:
    df = spark.createDataFrame(RATINGS, S.RATINGS_CSV_SCHEMA)
    assert [tuple(r) for r in mean_count(df, S.USER_ID).collect()] == [(2, 5.0, 1), (1, 3.0, 2), (3, 3.0, 2)]


def test_mean_count_per_movie_ordered(spark: SparkSession) -> None:
    df = spark.createDataFrame(RATINGS, S.RATINGS_CSV_SCHEMA)
    assert [tuple(r) for r in mean_count(df, S.MOVIE_ID).collect()] == [(10, 4.0, 3), (12, 3.0, 1), (11, 2.0, 1)]


def test_ratings_left_joined_to_titles(spark: SparkSession) -> None:
    ratings = spark.createDataFrame(RATINGS, S.RATINGS_CSV_SCHEMA)
    movies = spark.createDataFrame(
        [(10, "American President, The (1995)", "Comedy"), (11, "Amélie (2001)", "Romance")], S.MOVIES_CSV_SCHEMA
    )
    rows = ratings_with_titles(ratings, movies).orderBy(S.USER_ID, S.MOVIE_ID).collect()
    assert [tuple(r) for r in rows] == [
        (1, 10, "American President, The (1995)", 4.0),
        (1, 11, "Amélie (2001)", 2.0),
        (2, 10, "American President, The (1995)", 5.0),
        (3, 10, "American President, The (1995)", 3.0),
        (3, 12, None, 3.0),
    ]


def test_the_later_timestamp_wins(spark: SparkSession) -> None:
    rows = [
        (1, 10, 2.0, 100, "ratings.csv"),
        (1, 10, 4.5, 200, "ratings_2.csv"),  # later: wins
        (1, 11, 3.0, 300, "ratings_2.csv"),  # later, in the earlier-named file... by timestamp it still wins
        (1, 11, 1.0, 150, "ratings_3.csv"),
        (2, 10, 5.0, 50, "ratings.csv"),
    ]
    df = spark.createDataFrame(rows, "userId INT, movieId INT, rating DOUBLE, timestamp INT, source_file STRING")
    got = sorted(tuple(r) for r in latest_ratings(df).collect())
    assert got == [
        (1, 10, 4.5, 200, "ratings_2.csv"),
        (1, 11, 3.0, 300, "ratings_2.csv"),
        (2, 10, 5.0, 50, "ratings.csv"),
    ]
    assert [tuple(r) for r in mean_count(latest_ratings(df), S.USER_ID).collect()] == [(2, 5.0, 1), (1, 3.75, 2)]


def test_ties_go_to_the_later_file_then_the_higher_rating(spark: SparkSession) -> None:
    rows = [
        (1, 10, 2.0, 100, "ratings_b.csv"),  # same timestamp, later file name: wins
        (1, 10, 4.5, 100, "ratings_a.csv"),
        (1, 11, 0.5, 7, "ratings_a.csv"),  # same timestamp and file: the higher rating wins
        (1, 11, 5.0, 7, "ratings_a.csv"),
        (2, 12, 3.5, 2_147_483_647, "ratings_a.csv"),  # the largest timestamp an int holds
        (2, 12, 4.0, 0, "ratings_c.csv"),
    ]
    df = spark.createDataFrame(rows, "userId INT, movieId INT, rating DOUBLE, timestamp INT, source_file STRING")
    got = sorted(tuple(r) for r in latest_ratings(df).collect())
    assert got == [
        (1, 10, 2.0, 100, "ratings_b.csv"),
        (1, 11, 5.0, 7, "ratings_a.csv"),
        (2, 12, 3.5, 2_147_483_647, "ratings_a.csv"),
    ]


def test_a_rebuild_shuffles_once_by_userid_ranges(spark: SparkSession) -> None:
    """The window reuses the range shuffle: each partition holds whole userId ranges, deduplicated in place."""
    rows = [(u, m, 1.0 + m % 9 / 2, m, "ratings.csv") for u in range(1, 41) for m in range(1, 6)]
    rows += [(u, 1, 5.0, 100, "ratings_2.csv") for u in range(1, 41)]  # a later rating of movie 1 by every user
    df = spark.createDataFrame(rows, "userId INT, movieId INT, rating DOUBLE, timestamp INT, source_file STRING")
    latest = latest_ratings(df, user_ranges=4)
    plan = latest._jdf.queryExecution().executedPlan().toString()
    assert plan.count("Exchange") == 1 and "rangepartitioning(userId" in plan, plan
    parts = latest.rdd.glom().map(lambda part: sorted({row.userId for row in part})).collect()
    assert sorted(u for part in parts for u in part) == list(range(1, 41))  # each user in one partition
    assert all(part == list(range(part[0], part[-1] + 1)) for part in parts if part)  # of consecutive userIds
    assert latest.count() == 200 and latest.where("movieId = 1 AND rating = 5.0").count() == 40
