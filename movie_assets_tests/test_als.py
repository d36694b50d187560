"""What ALS reads: implicit ALS with `dislike_below` reads ratings below it as dislikes; explicit ALS as given."""

from pyspark.sql import SparkSession

from movie_assets import als
from movie_assets import schemas as S

ROWS = [(1, 10, 5.0, 0), (1, 11, 2.5, 0), (2, 10, 0.5, 0)]


def read(spark: SparkSession, params: als.AlsParams) -> list[tuple[int, int, float]]:
    ratings = spark.createDataFrame(ROWS, S.RATINGS_CSV_SCHEMA)
    return sorted(tuple(r) for r in als.training_rows(ratings, params).collect())


def test_implicit_reads_ratings_below_the_line_as_dislikes(spark: SparkSession) -> None:
    params = als.AlsParams(implicit_prefs=True, dislike_below=2.5)
    assert read(spark, params) == [(1, 10, 2.5), (1, 11, 0.0), (2, 10, -2.0)]


def test_explicit_and_default_implicit_read_the_ratings_as_given(spark: SparkSession) -> None:
    given = [(1, 10, 5.0), (1, 11, 2.5), (2, 10, 0.5)]
    assert read(spark, als.AlsParams(implicit_prefs=False, dislike_below=2.5)) == given
    assert read(spark, als.AlsParams(implicit_prefs=True)) == given
