"""The silver transforms: plain DataFrame functions, callable without Dagster."""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from movie_assets import schemas as S


def latest_ratings(ratings: DataFrame) -> DataFrame:
    """One rating per (userId, movieId): the one with the latest timestamp (then the later file) wins."""
    order = F.struct(S.TIMESTAMP, S.SOURCE_FILE, S.RATING)
    latest = ratings.groupBy(S.USER_ID, S.MOVIE_ID).agg(F.max(order).alias("_latest"))
    return latest.select(S.USER_ID, S.MOVIE_ID, "_latest.rating", "_latest.timestamp")


def mean_count(ratings: DataFrame, key: str) -> DataFrame:
    """Mean and count of ratings per `key`, ordered by mean desc, count desc (then key, for a stable order)."""
    return (
        ratings.groupBy(key)
        .agg(F.avg(S.RATING).alias(S.MEAN), F.count(S.RATING).alias(S.COUNT))
        .orderBy(F.desc(S.MEAN), F.desc(S.COUNT), F.asc(key))
    )


def ratings_with_titles(ratings: DataFrame, movies: DataFrame) -> DataFrame:
    """Every rating, left-joined to its movie's title (null when the movie is unknown)."""
    titles = movies.select(S.MOVIE_ID, S.TITLE)
    return ratings.join(titles, on=S.MOVIE_ID, how="left").select(S.USER_ID, S.MOVIE_ID, S.TITLE, S.RATING)
