"""`make demo`: land data if there is none, materialize every asset, print what came out.

Sample data: MOVIE_ASSETS_SAMPLE=synthetic (default, offline; size MOVIE_ASSETS_SAMPLE_RATINGS, default 100,000)
or MOVIE_ASSETS_SAMPLE=ml-latest-small / ml-25m (downloaded from GroupLens and verified).
"""

import os
import sys
from pathlib import Path

import dagster as dg
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from movie_assets import download, ingest, sample_data
from movie_assets import schemas as S
from movie_assets.definitions import defs
from movie_assets.resources.lakehouse import Lakehouse

MIN_RATINGS_FOR_TOP = 50


def land_sample(landing: Path) -> str:
    """Put data into landing/ unless ratings and movies files are already there."""
    if list(landing.glob(ingest.RATINGS.pattern)) and list(landing.glob(ingest.MOVIES.pattern)):
        return f"using the files already in {landing}"
    choice = os.environ.get("MOVIE_ASSETS_SAMPLE", "synthetic")
    if choice in download.RELEASES:
        download.download(download.RELEASES[choice], landing)
        return f"downloaded {choice} into {landing}"
    counts = sample_data.generate(landing, int(os.environ.get("MOVIE_ASSETS_SAMPLE_RATINGS", "100000")))
    return f"generated {counts['ratings']:,} synthetic ratings of {counts['movies']:,} movies in {landing}"


def best_rated(spark: SparkSession, lakehouse: Lakehouse, limit: int = 10) -> list[tuple[str, float, int]]:
    means = spark.read.format("delta").load(lakehouse.table_path("movie_mean_count_silver"))
    movies = spark.read.format("delta").load(lakehouse.table_path("movies_bronze"))
    rows = (
        means.where(F.col(S.COUNT) >= MIN_RATINGS_FOR_TOP)
        .join(movies, S.MOVIE_ID)
        .orderBy(F.desc(S.MEAN), F.desc(S.COUNT), S.MOVIE_ID)
        .limit(limit)
        .collect()
    )
    return [(r[S.TITLE], r[S.MEAN], r[S.COUNT]) for r in rows]


def main() -> int:
    lakehouse: Lakehouse = defs.resources["lakehouse"]
    try:
        print(land_sample(Path(lakehouse.landing)))
    except (download.DownloadError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                print(f"error in {event.step_key}: {event.step_failure_data.error.message.strip()}", file=sys.stderr)
        return 1
    print("\nTables (rows, Delta version):")
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        print(f"  {event.asset_key.to_user_string():26} {metadata['dagster/row_count'].value:>10,}  "
              f"v{metadata['delta_version'].value}")
    spark = defs.resources["pyspark"].spark_session
    print(f"\nBest-rated movies with at least {MIN_RATINGS_FOR_TOP} ratings:")
    for title, mean, count in best_rated(spark, lakehouse):
        print(f"  {mean:.3f}  ({count:>5} ratings)  {title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
