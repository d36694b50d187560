"""`make demo`: land the real MovieLens sample if landing is empty, materialize every asset, show what came out.

Data: ml-latest-small, shipped in samples/ (offline). MOVIE_ASSETS_SAMPLE=synthetic generates data instead
(size MOVIE_ASSETS_SAMPLE_RATINGS, default 100,000); ml-25m downloads the full release from GroupLens.
"""

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from movie_assets.app import cli
from movie_assets.definitions import defs
from movie_assets.resources.lakehouse import SETTLE_ENV, Lakehouse
from movie_assets.scripts import download, sample_data
from movie_assets.tables import ingest, keys
from movie_assets.tables import schemas as S

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "ml-latest-small"
MIN_RATINGS_FOR_TOP = 50
TOY_STORY = 1


def land_sample(landing: Path) -> str:
    """Put data into landing/ unless ratings and movies files are already there."""
    if ingest.list_landing(str(landing), ingest.RATINGS) and ingest.list_landing(str(landing), ingest.MOVIES):
        return f"using the files already in {landing}"
    choice = os.environ.get("MOVIE_ASSETS_SAMPLE", "ml-latest-small")
    if choice in download.RELEASES and choice != "ml-latest-small":
        download.download(download.RELEASES[choice], landing)
        return f"downloaded {choice} into {landing}"
    if choice == "synthetic":
        counts = sample_data.generate(landing, int(os.environ.get("MOVIE_ASSETS_SAMPLE_RATINGS", "100000")))
        return f"generated {counts['ratings']:,} synthetic ratings of {counts['movies']:,} movies in {landing}"
    landing.mkdir(parents=True, exist_ok=True)
    for name in ("ratings.csv", "movies.csv"):
        shutil.copy(SAMPLE / name, landing / name)
    return f"copied MovieLens ml-latest-small (100,836 ratings, 9,742 movies) into {landing}"


def best_rated(spark: SparkSession, lakehouse: Lakehouse, limit: int = 10) -> list[str]:
    read = lambda name: spark.read.format("delta").load(lakehouse.table_path(name))  # noqa: E731
    rows = (
        read(keys.MOVIE_MEAN_COUNT_SILVER)
        .where(F.col(S.COUNT) >= MIN_RATINGS_FOR_TOP)
        .join(read(keys.MOVIES_BRONZE), S.MOVIE_ID)
        .orderBy(F.desc(S.MEAN), F.desc(S.COUNT), S.MOVIE_ID)
        .limit(limit)
        .collect()
    )
    return [f"  {r[S.MEAN]:.3f}  ({r[S.COUNT]:>5} ratings)  {r[S.TITLE]}" for r in rows]


def main() -> int:
    definitions = defs()
    resources: Mapping[str, Any] = definitions.resources or {}
    lakehouse: Lakehouse = resources["lakehouse"]
    # The demo writes whole files into landing itself, just before it ingests them: no settle time to wait out.
    os.environ.setdefault(SETTLE_ENV, "0")
    try:
        print(land_sample(Path(lakehouse.landing)))
    except (download.DownloadError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    instance = cli.instance()
    print("materializing every asset (about two minutes on 2 cores)...")
    everything = dg.AssetSelection.all() - dg.AssetSelection.assets(keys.SIMILAR_MOVIES, keys.SIMILARITY_TUNING)
    result = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config=cli.QUIET,
        asset_selection=list(everything.resolve(definitions.resolve_asset_graph())),
    )
    if not result.success:
        return cli.report_failure(result)
    print("\n".join(cli.step_lines(result)))
    print(f"\nBest-rated movies with at least {MIN_RATINGS_FOR_TOP} ratings:")
    print("\n".join(best_rated(resources["pyspark"].spark_session, lakehouse)))
    evaluation = result.asset_materializations_for_node(keys.SIMILARITY_EVALUATION)[0].metadata
    print("\nAnswer quality on held-out likes (similarity_evaluation):")
    print(evaluation["quality"].value)

    answer = definitions.resolve_job_def("similar_movies_job").execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={**cli.QUIET, "ops": {keys.SIMILAR_MOVIES: {"config": {"movie_id": TOY_STORY, "k": 10}}}},
    )
    if not answer.success:
        return cli.report_failure(answer)
    metadata = answer.asset_materializations_for_node(keys.SIMILAR_MOVIES)[0].metadata
    print(f"\nMovies most like {metadata['movie_title'].value}, by similarity of implicit ALS factors:")
    print(metadata["similar_movies"].value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
