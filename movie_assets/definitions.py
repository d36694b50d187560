"""The one place that assembles assets, checks, resources, sensors and jobs."""

import dagster as dg

from movie_assets.assets import bronze, evaluation, landing, ml, serving, silver
from movie_assets.checks import CHECKS
from movie_assets.maintenance import MaintenanceSettings, maintenance_job, maintenance_schedule
from movie_assets.resources.als_models import AlsModels
from movie_assets.resources.delta_io_manager import DeltaTableIOManager
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import delta_spark_resource
from movie_assets.resources.thresholds import QualityThresholds
from movie_assets.sensors import SENSORS


def build_resources(
    data_dir: str | None = None,
    master: str | None = None,
    driver_memory: str | None = None,
    shuffle_partitions: int | None = None,
) -> dict[str, object]:
    """The resources of every run: the data root, one lazy Delta-enabled Spark session, the Delta IO manager."""
    lakehouse = Lakehouse(data_dir=data_dir)
    pyspark = delta_spark_resource(master, driver_memory, shuffle_partitions)
    return {
        "lakehouse": lakehouse,
        "pyspark": pyspark,
        "io_manager": DeltaTableIOManager(lakehouse=lakehouse, pyspark=pyspark),
        "thresholds": QualityThresholds(),
        "als_models": AlsModels(),
        "maintenance": MaintenanceSettings(),
    }


ASSETS: list[dg.AssetsDefinition | dg.AssetSpec] = [
    landing.ratings_csv,
    landing.movies_csv,
    bronze.ratings_bronze,
    bronze.movies_bronze,
    silver.ratings_silver,
    silver.user_mean_count_silver,
    silver.movie_mean_count_silver,
    silver.user_movie_title_rating,
    ml.als_item_factors,
    ml.als_evaluation,
    evaluation.similarity_evaluation,
    evaluation.similarity_tuning,
    serving.movie_neighbors,
    serving.similar_movies,
]

# Every step of a run shares one Spark session: the in-process executor runs all steps in the run's process.
defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    resources=build_resources(),
    jobs=[serving.similar_movies_job, maintenance_job],
    schedules=[maintenance_schedule],
    sensors=SENSORS,
    executor=dg.in_process_executor,
)
