"""The one place that assembles the graph: every layer's definitions from the defs folder, and the resources."""

from pathlib import Path

import dagster as dg

from movie_assets.defs.maintenance.jobs import MaintenanceSettings
from movie_assets.resources.als_models import AlsModels
from movie_assets.resources.delta_io_manager import DeltaTableIOManager
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import delta_spark_resource
from movie_assets.resources.thresholds import QualityThresholds


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


def graph() -> dg.Definitions:
    """Assets, checks, jobs, schedules and sensors of every layer (movie_assets/defs/<layer>/), without resources."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


@dg.definitions
def defs() -> dg.Definitions:
    """The graph with its resources. Every step of a run shares one Spark session: the in-process executor runs all
    steps in the run's process."""
    return dg.Definitions.merge(graph(), dg.Definitions(resources=build_resources(), executor=dg.in_process_executor))
