"""Silver: the current rating per user and movie, kept incrementally, and aggregates and joins over it.

Every silver table follows what changed: `ratings_silver` merges the rows bronze gained (`ratings.py`), the two
aggregates move the sums and counts of the ids silver changed (`aggregates.py`), and `user_movie_title_rating`
merges the ratings silver changed (`title_join.py`); each rebuilds when its input lost rows.
"""

import dagster as dg
from pydantic import Field

from movie_assets.defs.automation import REFRESH, AssetArgs
from movie_assets.lake.delta_tables import TableRef
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.own_tables import OwnTables
from movie_assets.resources.progress import spark_progress
from movie_assets.resources.spark import DeltaSparkResource
from movie_assets.tables import aggregates, keys, ratings, title_join
from movie_assets.tables import schemas as S

SILVER = AssetArgs(group_name="silver", kinds={"delta", "spark"}, automation_condition=REFRESH)


def spark(pyspark: DeltaSparkResource) -> ratings.Spark:
    """The run's session, started when first called: merging a small batch may need none."""
    return lambda: pyspark.spark_session


class SilverConfig(dg.Config):
    full_refresh: bool = Field(default=False, description="rebuild from all input rows, not only what changed")


def refreshed(
    context: dg.AssetExecutionContext,
    tables: OwnTables,
    step: ratings.Plan,
    merged: dict[str, int] | None = None,
    **versions: int,
) -> dg.MaterializeResult:
    """What a silver refresh did, logged and as the materialization's metadata: the table, how and why it was
    refreshed, the versions it read, and a MERGE's row counts."""
    key = context.asset_key.to_user_string()
    context.log.info(f"{key}: {step.mode} ({step.reason})")
    counts = {f"merge_{k}": dg.MetadataValue.int(v) for k, v in (merged or {}).items()}
    metadata = {**tables.metadata(key), "refresh": step.mode, "refresh_reason": step.reason, **versions, **counts}
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(**SILVER, pool=keys.pool(keys.RATINGS_SILVER), metadata=S.column_schema(keys.RATINGS_SILVER))
def ratings_silver(
    context: dg.AssetExecutionContext,
    config: SilverConfig,
    ratings_bronze: TableRef,
    pyspark: DeltaSparkResource,
    lakehouse: Lakehouse,
) -> dg.MaterializeResult:
    """The current rating per (userId, movieId): the later timestamp wins (APPLY CHANGES), merged incrementally."""
    tables = lakehouse.own(context)
    with spark_progress(context.log, pyspark.started_context, "ratings_silver"):
        step, merged = tables.refresh(
            keys.RATINGS_SILVER,
            lambda table: ratings.refresh(spark(pyspark), table, ratings_bronze, config.full_refresh),
        )
    return refreshed(context, tables, step, merged, ratings_bronze_version=ratings_bronze.version)


def _mean_count(name: str, key: str, of: str) -> dg.AssetsDefinition:
    doc = f"Mean and count of each {of}'s current ratings, by mean desc, count desc, updated from what silver changed."

    @dg.asset(name=name, description=doc, **SILVER, pool=keys.pool(name), metadata=S.column_schema(name))
    def _asset(
        context: dg.AssetExecutionContext,
        config: SilverConfig,
        ratings_silver: TableRef,
        pyspark: DeltaSparkResource,
        lakehouse: Lakehouse,
    ) -> dg.MaterializeResult:
        tables = lakehouse.own(context)
        with spark_progress(context.log, pyspark.started_context, name):
            step = tables.refresh(
                name,
                lambda table: aggregates.refresh(spark(pyspark), table, ratings_silver, key, config.full_refresh),
            )
        return refreshed(context, tables, step)

    return _asset


user_mean_count_silver = _mean_count(keys.USER_MEAN_COUNT_SILVER, S.USER_ID, "user")
movie_mean_count_silver = _mean_count(keys.MOVIE_MEAN_COUNT_SILVER, S.MOVIE_ID, "movie")


@dg.asset(
    **SILVER, pool=keys.pool(keys.USER_MOVIE_TITLE_RATING), metadata=S.column_schema(keys.USER_MOVIE_TITLE_RATING)
)
def user_movie_title_rating(
    context: dg.AssetExecutionContext,
    config: SilverConfig,
    ratings_silver: TableRef,
    movies_bronze: TableRef,
    pyspark: DeltaSparkResource,
    lakehouse: Lakehouse,
) -> dg.MaterializeResult:
    """Every current rating with its movie's title (ratings left-joined to movies), merged incrementally."""
    tables = lakehouse.own(context)
    with spark_progress(context.log, pyspark.started_context, "user_movie_title_rating"):
        step, merged = tables.refresh(
            keys.USER_MOVIE_TITLE_RATING,
            lambda table: title_join.refresh(spark(pyspark), table, ratings_silver, movies_bronze, config.full_refresh),
        )
    return refreshed(context, tables, step, merged)
