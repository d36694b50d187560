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


def demo_movie_id(spark: SparkSession, lakehouse: Lakehouse) -> int:
    """Movie 1 (Toy Story) when the data has it, else the most-rated movie."""
    counts = spark.read.format("delta").load(lakehouse.table_path("movie_mean_count_silver"))
    if counts.where(F.col(S.MOVIE_ID) == 1).count():
        return 1
    return counts.orderBy(F.desc(S.COUNT), S.MOVIE_ID).first()[S.MOVIE_ID]


def report_failures(result: dg.ExecuteInProcessResult) -> int:
    for event in result.all_events:
        if event.is_step_failure:
            print(f"error in {event.step_key}: {event.step_failure_data.error.message.strip()}", file=sys.stderr)
    return 1


def main() -> int:
    lakehouse: Lakehouse = defs.resources["lakehouse"]
    try:
        print(land_sample(Path(lakehouse.landing)))
    except (download.DownloadError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    everything_but_answers = dg.AssetSelection.all() - dg.AssetSelection.assets("similar_movies")
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        asset_selection=list(everything_but_answers.resolve(defs.resolve_asset_graph())),
    )
    if not result.success:
        return report_failures(result)
    print("\nTables (rows, Delta version):")
    for event in result.get_asset_materialization_events():
        metadata, name = event.materialization.metadata, event.asset_key.to_user_string()
        if "dagster/row_count" in metadata:
            print(f"  {name:26} {metadata['dagster/row_count'].value:>10,}  v{metadata['delta_version'].value}")
        elif "rmse" in metadata:
            print(f"  {name:26} RMSE {metadata['rmse'].value:.4f}, MAE {metadata['mae'].value:.4f} (held-out 20%)")
    spark = defs.resources["pyspark"].spark_session
    print(f"\nBest-rated movies with at least {MIN_RATINGS_FOR_TOP} ratings:")
    for title, mean, count in best_rated(spark, lakehouse):
        print(f"  {mean:.3f}  ({count:>5} ratings)  {title}")

    movie_id = demo_movie_id(spark, lakehouse)
    answer = defs.resolve_job_def("similar_movies_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"ops": {"similar_movies": {"config": {"movie_id": movie_id, "k": 10}}}},
    )
    if not answer.success:
        return report_failures(answer)
    metadata = answer.asset_materializations_for_node("similar_movies")[0].metadata
    print(f"\nMovies most like {movie_id} ({metadata['movie_title'].value}), by cosine similarity of ALS factors:")
    print(metadata["similar_movies"].value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
