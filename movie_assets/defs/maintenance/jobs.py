"""Table maintenance, as DLT does every day: Delta's OPTIMIZE (compaction) and VACUUM on every table.

Each table has its own op in `maintenance_job`, in the same concurrency pool as the asset that writes the
table, so maintenance never runs while that table's writer does (with `concurrency.pools.default_limit: 1`,
as deploy/dagster.yaml sets). OPTIMIZE is a Delta commit like any other and retries when it loses a race.
"""

import os
from pathlib import Path
from typing import Any

import dagster as dg
from delta.tables import DeltaTable
from pydantic import Field
from pyspark.sql import SparkSession

from movie_assets.lake.delta_tables import retrying_conflicts, session_conf, table_exists
from movie_assets.lake.storage import is_uri
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import DeltaSparkResource
from movie_assets.tables import keys
from movie_assets.tables.ingest_log import LOG_TABLE

DELTA_MIN_RETENTION_HOURS = 168  # Delta refuses shorter retention unless its safety check is turned off
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
COMPACT_BELOW = "spark.databricks.delta.optimize.minFileSize"  # OPTIMIZE rewrites only files smaller than this


class MaintenanceSettings(dg.ConfigurableResource):
    """How long VACUUM keeps files that no table version needs any more, and which files OPTIMIZE compacts."""

    retention_hours: int = Field(default=DELTA_MIN_RETENTION_HOURS, ge=0, description="VACUUM retention (7 days)")
    allow_short_retention: bool = Field(
        default=False, description="allow a retention under 7 days: only when no run can still read old versions"
    )
    compact_below_mb: float = Field(
        default=4.0,
        ge=0,
        description="OPTIMIZE compacts only files smaller than this (appends, MERGE inserts); larger files, such as "
        "the 6-7 MB userId ranges a ratings_silver rebuild writes, keep their layout",
    )


def storage(spark: SparkSession, path: str) -> dict[str, int]:
    """Live files and bytes (the current version), and for a local table the data files on disk."""
    detail = DeltaTable.forPath(spark, path).detail().select("numFiles", "sizeInBytes").collect()[0]
    found: dict[str, int] = {"live_files": detail["numFiles"], "live_bytes": detail["sizeInBytes"]}
    if not is_uri(path):
        files = [p for p in Path(path).rglob("*.parquet") if "_delta_log" not in p.parts]
        found |= {"files_on_disk": len(files), "bytes_on_disk": sum(os.path.getsize(p) for p in files)}
    return found


def maintain(spark: SparkSession, path: str, settings: MaintenanceSettings) -> dict[str, Any]:
    """OPTIMIZE then VACUUM one table; its storage before and after."""
    hours = settings.retention_hours
    if hours < DELTA_MIN_RETENTION_HOURS and not settings.allow_short_retention:
        raise dg.Failure(
            f"retention_hours {hours} is under Delta's safety minimum of {DELTA_MIN_RETENTION_HOURS}: raise it, "
            "or set allow_short_retention: true when no run can still be reading older table versions."
        )
    before = storage(spark, path)
    table = DeltaTable.forPath(spark, path)
    with session_conf(spark, {COMPACT_BELOW: str(int(settings.compact_below_mb * 2**20))}):
        retrying_conflicts(lambda: table.optimize().executeCompaction(), f"OPTIMIZE {path}")
    with session_conf(spark, {RETENTION_CHECK: "false"} if hours < DELTA_MIN_RETENTION_HOURS else {}):
        table.vacuum(hours)
    after = storage(spark, path)
    return {**{f"{k}_before": v for k, v in before.items()}, **{f"{k}_after": v for k, v in after.items()}}


# Each table, with the asset (step) that writes it: maintenance shares that writer's pool.
WRITERS = {
    keys.RATINGS_BRONZE: keys.RATINGS_BRONZE,
    keys.RATINGS_QUARANTINE: keys.RATINGS_BRONZE,
    LOG_TABLE: keys.RATINGS_BRONZE,
    keys.MOVIES_BRONZE: keys.MOVIES_BRONZE,
    keys.MOVIES_QUARANTINE: keys.MOVIES_BRONZE,
    **{
        name: name
        for name in (
            keys.RATINGS_SILVER,
            keys.USER_MEAN_COUNT_SILVER,
            keys.MOVIE_MEAN_COUNT_SILVER,
            keys.USER_MOVIE_TITLE_RATING,
            keys.ALS_ITEM_FACTORS,
            keys.MOVIE_NEIGHBORS,
            keys.SIMILAR_MOVIES,
        )
    },
}


def _maintain_op(table: str) -> dg.OpDefinition:
    @dg.op(name=f"maintain_{table.strip('_')}", pool=keys.pool(WRITERS[table]))
    def _op(
        context: dg.OpExecutionContext,
        lakehouse: Lakehouse,
        pyspark: DeltaSparkResource,
        maintenance: MaintenanceSettings,
    ) -> dg.Output[None]:
        """OPTIMIZE and VACUUM one table, when it exists."""
        path = lakehouse.table_path(table)
        if not table_exists(pyspark.spark_session, path):
            return dg.Output(None, metadata={"skipped": f"{table} is not materialized yet"})
        found = maintain(pyspark.spark_session, path, maintenance)
        context.log.info(f"{table}: {found}")
        if table != LOG_TABLE:
            context.log_event(dg.AssetObservation(asset_key=table, metadata={"maintenance": found, **found}))
        return dg.Output(None, metadata=found)

    return _op


@dg.job(executor_def=dg.in_process_executor, description="OPTIMIZE and VACUUM every Delta table, one op per table.")
def maintenance_job() -> None:
    for table in WRITERS:
        _maintain_op(table)()


maintenance_schedule = dg.ScheduleDefinition(
    job=maintenance_job, cron_schedule="0 3 * * *", default_status=dg.DefaultScheduleStatus.RUNNING
)
