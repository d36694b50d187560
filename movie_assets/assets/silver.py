"""Silver: aggregates and joins over the current ratings (latest per user and movie), recomputed from bronze.

The ratings come from `current_ratings`, computed once per run and shared with ALS and the checks.
"""

import dagster as dg
from pyspark.sql import DataFrame

from movie_assets import schemas as S
from movie_assets.automation import REFRESH
from movie_assets.ratings import current_ratings
from movie_assets.resources.delta_io_manager import PREVIEW_ROWS_KEY
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import DeltaSparkResource
from movie_assets.transforms import mean_count, ratings_with_titles

SILVER = {
    "group_name": "silver",
    "kinds": {"delta", "spark"},
    "metadata": {PREVIEW_ROWS_KEY: 10},
    "automation_condition": REFRESH,
}


@dg.asset(**SILVER, deps=["ratings_bronze"])
def user_mean_count_silver(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> DataFrame:
    """Mean and count of each user's ratings, by mean desc, count desc."""
    return mean_count(current_ratings(pyspark, lakehouse), S.USER_ID)


@dg.asset(**SILVER, deps=["ratings_bronze"])
def movie_mean_count_silver(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> DataFrame:
    """Mean and count of each movie's ratings, by mean desc, count desc."""
    return mean_count(current_ratings(pyspark, lakehouse), S.MOVIE_ID)


@dg.asset(**SILVER, deps=["ratings_bronze"])
def user_movie_title_rating(pyspark: DeltaSparkResource, lakehouse: Lakehouse, movies_bronze: DataFrame) -> DataFrame:
    """Every rating with its movie's title (ratings left-joined to movies)."""
    return ratings_with_titles(current_ratings(pyspark, lakehouse), movies_bronze)
