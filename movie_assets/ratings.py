"""The ratings that silver, ALS and the checks read: one per (user, movie), computed once per run."""

import dagster as dg
from pyspark.sql import DataFrame

from movie_assets.delta_tables import MissingTableError, read_table, table_version
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import DeltaSparkResource
from movie_assets.transforms import latest_ratings

BRONZE = "ratings_bronze"


def current_ratings(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> DataFrame:
    """latest_ratings(ratings_bronze) at its current version, persisted once and shared by the run's steps."""
    spark, path = pyspark.spark_session, lakehouse.table_path(BRONZE)
    try:
        bronze = read_table(spark, path, BRONZE)
    except MissingTableError as err:
        raise dg.Failure(str(err)) from None
    return pyspark.cached(("current_ratings", path, table_version(spark, path)), lambda: latest_ratings(bronze))
