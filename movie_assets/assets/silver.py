"""Silver: aggregates and joins over bronze, recomputed from bronze on every run."""

import dagster as dg
from pyspark.sql import DataFrame

from movie_assets import schemas as S
from movie_assets.automation import REFRESH
from movie_assets.resources.delta_io_manager import PREVIEW_ROWS_KEY
from movie_assets.transforms import latest_ratings, mean_count, ratings_with_titles

SILVER = {
    "group_name": "silver",
    "kinds": {"delta", "spark"},
    "metadata": {PREVIEW_ROWS_KEY: 10},
    "automation_condition": REFRESH,
}


@dg.asset(**SILVER)
def user_mean_count_silver(ratings_bronze: DataFrame) -> DataFrame:
    """Mean and count of each user's ratings, by mean desc, count desc."""
    return mean_count(latest_ratings(ratings_bronze), S.USER_ID)


@dg.asset(**SILVER)
def movie_mean_count_silver(ratings_bronze: DataFrame) -> DataFrame:
    """Mean and count of each movie's ratings, by mean desc, count desc."""
    return mean_count(latest_ratings(ratings_bronze), S.MOVIE_ID)


@dg.asset(**SILVER)
def user_movie_title_rating(ratings_bronze: DataFrame, movies_bronze: DataFrame) -> DataFrame:
    """Every rating with its movie's title (ratings left-joined to movies)."""
    return ratings_with_titles(latest_ratings(ratings_bronze), movies_bronze)
