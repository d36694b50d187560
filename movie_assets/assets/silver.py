"""Silver: the current rating per user and movie, kept incrementally, and aggregates and joins over it.

The aggregates are rebuilt from `ratings_silver` on each refresh rather than merged: they are ordered tables
(mean desc, count desc), which a MERGE would not keep ordered, a changed movie's mean needs all its ratings
(spread over every userId range of silver), and one aggregation over the current ratings costs 2-4 s at 25M.
`ratings_silver` (the deduplication) and `user_movie_title_rating` (a table as large as the ratings) are merged:
rewriting them is what costs.
"""

import dagster as dg
from pydantic import Field
from pyspark.sql import DataFrame

from movie_assets import keys, ratings, title_join
from movie_assets import schemas as S
from movie_assets.automation import REFRESH
from movie_assets.delta_rs import table_metadata
from movie_assets.delta_tables import TableRef
from movie_assets.progress import spark_progress
from movie_assets.resources.delta_io_manager import PREVIEW_ROWS_KEY
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import DeltaSparkResource
from movie_assets.transforms import mean_count

SILVER = {
    "group_name": "silver",
    "kinds": {"delta", "spark"},
    "metadata": {PREVIEW_ROWS_KEY: 10},
    "automation_condition": REFRESH,
}


class SilverConfig(dg.Config):
    full_refresh: bool = Field(default=False, description="rebuild from all of ratings_bronze instead of merging")


@dg.asset(**SILVER, pool=keys.pool(keys.RATINGS_SILVER))
def ratings_silver(
    context: dg.AssetExecutionContext,
    config: SilverConfig,
    ratings_bronze: TableRef,
    pyspark: DeltaSparkResource,
    lakehouse: Lakehouse,
) -> dg.MaterializeResult:
    """The current rating per (userId, movieId): the later timestamp wins (APPLY CHANGES), merged incrementally."""
    spark, path = pyspark.spark_session, lakehouse.table_path(keys.RATINGS_SILVER)
    step = ratings.plan(spark, path, ratings_bronze, config.full_refresh)
    context.log.info(f"ratings_silver: {step.mode} ({step.reason})")
    merged: dict[str, int] = {}
    with spark_progress(context.log, pyspark.spark_context, f"ratings_silver: {step.mode}"):
        if step.mode == "rebuild":
            ratings.rebuild(spark, ratings_bronze, path)
        elif step.mode == "merge":
            merged = ratings.merge(spark, ratings_bronze, step.since, path)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(path, keys.RATINGS_SILVER, preview_rows=10),
            "refresh": step.mode,
            "refresh_reason": step.reason,
            "ratings_bronze_version": ratings_bronze.version,
            **{f"merge_{k}": dg.MetadataValue.int(v) for k, v in merged.items()},
        }
    )


@dg.asset(**SILVER, pool=keys.pool(keys.USER_MEAN_COUNT_SILVER))
def user_mean_count_silver(ratings_silver: DataFrame) -> DataFrame:
    """Mean and count of each user's current ratings, by mean desc, count desc."""
    return mean_count(ratings_silver, S.USER_ID)


@dg.asset(**SILVER, pool=keys.pool(keys.MOVIE_MEAN_COUNT_SILVER))
def movie_mean_count_silver(ratings_silver: DataFrame) -> DataFrame:
    """Mean and count of each movie's current ratings, by mean desc, count desc."""
    return mean_count(ratings_silver, S.MOVIE_ID)


@dg.asset(**SILVER, pool=keys.pool(keys.USER_MOVIE_TITLE_RATING))
def user_movie_title_rating(
    context: dg.AssetExecutionContext,
    config: SilverConfig,
    ratings_silver: TableRef,
    movies_bronze: TableRef,
    pyspark: DeltaSparkResource,
    lakehouse: Lakehouse,
) -> dg.MaterializeResult:
    """Every current rating with its movie's title (ratings left-joined to movies), merged incrementally."""
    spark, path = pyspark.spark_session, lakehouse.table_path(keys.USER_MOVIE_TITLE_RATING)
    step = title_join.plan(spark, path, ratings_silver, movies_bronze, config.full_refresh)
    context.log.info(f"user_movie_title_rating: {step.mode} ({step.reason})")
    with spark_progress(context.log, pyspark.spark_context, f"user_movie_title_rating: {step.mode}"):
        merged = title_join.refresh(spark, path, ratings_silver, movies_bronze, step)
    return dg.MaterializeResult(
        metadata={
            **table_metadata(path, keys.USER_MOVIE_TITLE_RATING, preview_rows=10),
            "refresh": step.mode,
            "refresh_reason": step.reason,
            **{f"merge_{k}": dg.MetadataValue.int(v) for k, v in merged.items()},
        }
    )
