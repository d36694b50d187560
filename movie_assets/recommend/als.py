"""Spark ML ALS: fitting, item factors and held-out evaluation, as plain functions."""

import math
from dataclasses import dataclass, replace

from pyspark.ml.evaluation import RegressionEvaluator
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from movie_assets.tables import schemas as S

PREDICTION = "prediction"
WEAKEST_LIKE = 0.01  # the confidence above 1 of a rating that must stay a like


@dataclass(frozen=True)
class AlsParams:
    """What Spark's ALS is given: a configuration's settings (`AlsConfig.params()`, where their defaults live)."""

    rank: int
    max_iter: int
    reg_param: float
    seed: int
    implicit_prefs: bool
    alpha: float
    dislike_below: float  # implicit only: ratings below it are dislikes (preference 0)
    nonnegative: bool
    blocks: int  # user and item blocks; 0: by the data and the parallelism (`sized`)
    cold_start_strategy: str = "drop"
    checkpoint_interval: int = 0  # 0: by the number of iterations (`sized`)


ROWS_PER_BLOCK = 10_000_000  # a block's ratings and its solver's memory grow with the data: more blocks beyond
CHECKPOINT_EVERY = 10  # iterations between checkpoints of the factors, when a fit runs longer than that


def sized(params: AlsParams, rows: int, parallelism: int) -> AlsParams:
    """The settings that follow the data, where left at 0: one user and one item block per task slot, more when a
    block would hold more than ROWS_PER_BLOCK ratings; the factors checkpointed every CHECKPOINT_EVERY iterations
    only when the fit runs longer (a checkpoint truncates a lineage that would otherwise overflow the stack, and
    writes every factor to disk: at 10 iterations or fewer it costs a write and saves nothing)."""
    blocks = params.blocks or max(parallelism, math.ceil(rows / ROWS_PER_BLOCK))
    interval = params.checkpoint_interval or (CHECKPOINT_EVERY if params.max_iter > CHECKPOINT_EVERY else -1)
    return replace(params, blocks=blocks, checkpoint_interval=interval)


def estimator(params: AlsParams, default_blocks: int) -> ALS:
    blocks = params.blocks or default_blocks
    interval = params.checkpoint_interval or CHECKPOINT_EVERY
    return ALS(
        userCol=S.USER_ID,
        itemCol=S.MOVIE_ID,
        ratingCol=S.RATING,
        rank=params.rank,
        maxIter=params.max_iter,
        regParam=params.reg_param,
        seed=params.seed,
        implicitPrefs=params.implicit_prefs,
        alpha=params.alpha,
        nonnegative=params.nonnegative,
        coldStartStrategy=params.cold_start_strategy,
        checkpointInterval=interval,
        numUserBlocks=blocks,
        numItemBlocks=blocks,
    )


def training_rows(ratings: DataFrame, params: AlsParams) -> DataFrame:
    """(userId, movieId, rating) as the estimator reads them.

    Implicit ALS reads a rating r as confidence 1 + alpha * |r| in preference 1 if r > 0, else 0. With
    `dislike_below` d, it reads r - d: a rating below d is a confident dislike instead of a weak like. Spark
    regularizes each user and movie by its number of preferences 1, so one with no rating above d would have no
    regularization (its equations can be singular): its ratings stay weak likes, r - d raised to WEAKEST_LIKE.
    """
    rows = ratings.select(S.USER_ID, S.MOVIE_ID, S.RATING)
    d = params.dislike_below
    if not (params.implicit_prefs and d):
        return rows
    for key in (S.USER_ID, S.MOVIE_ID):  # whether each user, then each movie, has a rating above d
        rows = rows.join(F.broadcast(rows.groupBy(key).agg((F.max(S.RATING) > d).alias(f"_{key}"))), key)
    shifted = F.col(S.RATING) - F.lit(d)
    rating = F.when(F.col(f"_{S.USER_ID}") & F.col(f"_{S.MOVIE_ID}"), shifted).otherwise(
        F.greatest(shifted, F.lit(WEAKEST_LIKE))
    )
    return rows.select(S.USER_ID, S.MOVIE_ID, rating.alias(S.RATING))


def fit(ratings: DataFrame, params: AlsParams) -> ALSModel:
    """Fits with the settings sized to `ratings` (count them once: persist them first when they are computed)."""
    parallelism = ratings.sparkSession.sparkContext.defaultParallelism
    sized_params = sized(params, ratings.count(), parallelism)
    return estimator(sized_params, parallelism).fit(training_rows(ratings, sized_params))


def item_factors(model: ALSModel, ratings: DataFrame) -> DataFrame:
    """(movieId int, features array<float>, count long): one row per rated movie, with its number of ratings."""
    counts = ratings.groupBy(S.MOVIE_ID).agg(F.count("*").alias(S.COUNT))
    factors = model.itemFactors.select(
        F.col("id").cast("int").alias(S.MOVIE_ID), F.col("features").cast("array<float>").alias(S.FEATURES)
    )
    return factors.join(counts, S.MOVIE_ID).select(S.MOVIE_ID, S.FEATURES, S.COUNT)


@dataclass(frozen=True)
class Evaluation:
    rmse: float
    mae: float
    train_rows: int
    test_rows: int
    scored_rows: int
    model: ALSModel  # fitted on the training rows


def evaluate(ratings: DataFrame, params: AlsParams, test_fraction: float = 0.2) -> Evaluation:
    """Fit on a seeded split and score the held-out part; unseen users or movies are dropped (cold start).

    The split hashes (userId, movieId, seed), so it does not depend on partitioning: randomSplit over a
    recomputed, shuffled input can put a rating on both sides.
    """
    bucket = (F.abs(F.xxhash64(S.USER_ID, S.MOVIE_ID, F.lit(params.seed))) % 10_000) / 10_000
    rows = ratings.select(S.USER_ID, S.MOVIE_ID, S.RATING)
    train, test = rows.where(bucket >= test_fraction), rows.where(bucket < test_fraction)
    train = train.cache()
    model = fit(train, AlsParams(**{**params.__dict__, "cold_start_strategy": "drop"}))
    predictions = model.transform(test).cache()
    metric = lambda name: RegressionEvaluator(  # noqa: E731
        metricName=name, labelCol=S.RATING, predictionCol=PREDICTION
    ).evaluate(predictions)
    result = Evaluation(metric("rmse"), metric("mae"), train.count(), test.count(), predictions.count(), model)
    train.unpersist()
    predictions.unpersist()
    return result
