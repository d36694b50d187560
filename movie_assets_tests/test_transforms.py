"""Silver transforms on tiny DataFrames: exact rows."""

from pyspark.sql import SparkSession

from movie_assets import schemas as S
from movie_assets.transforms import mean_count, ratings_with_titles

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
