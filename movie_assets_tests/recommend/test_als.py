"""What ALS reads: implicit ALS with `dislike_below` reads ratings below it as dislikes, but a user or movie with
nothing above it keeps weak likes (else Spark's ALS leaves it unregularized); explicit ALS reads them as given."""

from dataclasses import replace

from pyspark.sql import SparkSession

from movie_assets.recommend import als
from movie_assets.resources.als_models import AlsConfig
from movie_assets.tables import schemas as S

ROWS = [(1, 10, 5.0, 0), (1, 11, 2.5, 0), (2, 10, 0.5, 0), (1, 12, 3.0, 0), (3, 12, 1.0, 0), (3, 10, 4.0, 0)]


def read(spark: SparkSession, params: als.AlsParams) -> list[tuple[int, int, float]]:
    ratings = spark.createDataFrame(ROWS, S.RATINGS_CSV_SCHEMA)
    return sorted(tuple(r) for r in als.training_rows(ratings, params).collect())


def test_implicit_reads_ratings_below_the_line_as_dislikes(spark: SparkSession) -> None:
    params = AlsConfig(implicit_prefs=True, dislike_below=2.5).params()
    # User 2 and movie 11 have no rating above 2.5: their ratings stay likes, at the least confidence.
    assert read(spark, params) == [
        (1, 10, 2.5),
        (1, 11, 0.01),
        (1, 12, 0.5),
        (2, 10, 0.01),
        (3, 10, 1.5),
        (3, 12, -1.5),
    ]


def test_a_tiny_set_of_dislikes_fits(spark: SparkSession) -> None:
    """Three movies, rank 8: the Gramian is singular, so every user and movie needs its regularization."""
    ratings = spark.createDataFrame(ROWS, S.RATINGS_CSV_SCHEMA)
    model = als.fit(ratings, AlsConfig(rank=8, implicit_prefs=True, dislike_below=2.5).params())
    assert model.itemFactors.count() == 3 and model.userFactors.count() == 3


def test_explicit_and_default_implicit_read_the_ratings_as_given(spark: SparkSession) -> None:
    given = [(1, 10, 5.0), (1, 11, 2.5), (1, 12, 3.0), (2, 10, 0.5), (3, 10, 4.0), (3, 12, 1.0)]
    assert read(spark, AlsConfig(implicit_prefs=False, dislike_below=2.5).params()) == given
    assert read(spark, AlsConfig(implicit_prefs=True).params()) == given


def test_blocks_and_checkpoints_follow_the_data() -> None:
    """One block per task slot until a block would hold more than ROWS_PER_BLOCK ratings; checkpoints only for
    fits longer than CHECKPOINT_EVERY iterations; what a configuration sets stays."""
    short, long = AlsConfig(max_iter=5).params(), AlsConfig(max_iter=25).params()
    assert (als.sized(short, 100_836, 2).blocks, als.sized(short, 100_836, 2).checkpoint_interval) == (2, -1)
    assert als.sized(short, 20_000_000, 2).blocks == 2 and als.sized(short, 24_990_590, 2).blocks == 3
    assert als.sized(short, 24_990_590, 64).blocks == 64
    assert als.sized(long, 100, 2).checkpoint_interval == als.CHECKPOINT_EVERY == 10
    assert als.sized(AlsConfig(max_iter=10).params(), 100, 2).checkpoint_interval == -1
    pinned = replace(AlsConfig(blocks=7).params(), checkpoint_interval=3)
    assert als.sized(pinned, 10**9, 2) == pinned


def test_a_fit_uses_the_sized_settings(spark: SparkSession) -> None:
    ratings = spark.createDataFrame(ROWS, S.RATINGS_CSV_SCHEMA)
    model = als.fit(ratings, AlsConfig(rank=2, max_iter=2).params())
    parallelism = spark.sparkContext.defaultParallelism
    assert model.userFactors.rdd.getNumPartitions() == parallelism  # one partition per user block
