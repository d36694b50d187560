"""Serving: the movies most like a chosen one, asked by run config, and every movie's neighbours for lookups.

Both rank the same factors under the same rule (`als_models.answer.rule()`: who may answer, how factor length
counts), so an answer looked up in `movie_neighbors` equals the one ranked from the factors. Both read and
write through delta-rs: an answer starts no Spark session.
"""

import time
from typing import Any

import dagster as dg
from deltalake import DeltaTable
from pydantic import Field

from movie_assets.defs.automation import REFRESH, AssetArgs
from movie_assets.defs.ml.assets import ML
from movie_assets.lake.delta_rs import open_table
from movie_assets.lake.delta_tables import MissingTableError, markdown_table
from movie_assets.recommend.neighbors import (
    SimilarMoviesError,
    answer_movies,
    built_from,
    neighbors_table,
    read_index,
    store_neighbors,
    stored_answers,
)
from movie_assets.resources.als_models import AlsModels
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.tables import keys
from movie_assets.tables import schemas as S

# delta-rs and numpy: no Spark
SERVING = AssetArgs(group_name=ML["group_name"], kinds={"delta", "python"}, automation_condition=REFRESH)
MAX_ID = 2**31 - 1  # movieId is a 32-bit int
MAX_K = 1000
ANSWER_COLUMNS = [S.RANK, S.SIMILAR_MOVIE_ID, S.TITLE, S.GENRES, S.SIMILARITY, S.COUNT, S.MEAN]


class SimilarMoviesConfig(dg.Config):
    """Which movie to find neighbours for, and how many; without a movie id, every stored answer is refreshed."""

    movie_id: int | None = Field(
        default=None, description="a movieId from movies.csv, e.g. 1 (Toy Story); empty: re-answer every stored id"
    )
    k: int = Field(default=10, description=f"how many similar movies (1..{MAX_K})")


def check_config(config: SimilarMoviesConfig) -> None:
    """One sentence naming the bad value and what to do, before any Spark work."""
    if config.movie_id is not None and not 1 <= config.movie_id <= MAX_ID:
        raise dg.Failure(f"movie_id {config.movie_id} is not a movie id: pick a movieId from movies.csv (1..{MAX_ID}).")
    if not 1 <= config.k <= MAX_K:
        raise dg.Failure(f"k {config.k} is out of range: choose 1..{MAX_K}.")


@dg.asset(
    **SERVING,
    pool=keys.pool(keys.SIMILAR_MOVIES),
    metadata=S.column_schema(keys.SIMILAR_MOVIES),
)
def similar_movies(
    context: dg.AssetExecutionContext,
    config: SimilarMoviesConfig,
    als_item_factors: DeltaTable,
    movie_neighbors: DeltaTable | None,
    movies_bronze: DeltaTable,
    movie_mean_count_silver: DeltaTable,
    als_models: AlsModels,
    lakehouse: Lakehouse,
) -> dg.MaterializeResult:
    """The k movies most like `movie_id` by similarity of the factors; without one, every stored answer again."""
    check_config(config)
    path = lakehouse.own(context).path(keys.SIMILAR_MOVIES)
    if config.movie_id is not None:
        asked = {config.movie_id: config.k}
    else:
        try:
            asked = stored_answers(open_table(path, keys.SIMILAR_MOVIES))
        except MissingTableError:
            asked = {}
    if not asked:
        context.log.info("no movie_id given and no stored answers to refresh: nothing to do")
        return dg.MaterializeResult(metadata={"answers": 0})
    try:
        result = answer_movies(
            path, als_item_factors, movie_neighbors, movies_bronze, movie_mean_count_silver, asked,
            als_models.answer.rule(),
            single=config.movie_id is not None,
        )  # fmt: skip
    except SimilarMoviesError as err:
        raise dg.Failure(str(err)) from None
    for skipped in result.skipped:
        context.log.warning(skipped)
    metadata: dict[str, Any] = {
        "answers": len(result.answers),
        "looked_up_in_movie_neighbors": result.looked_up,
        "answers_from": als_models.answers_from,
    }
    if config.movie_id is not None:
        [(title, rows)] = result.answers.values()
        table = markdown_table(rows, ANSWER_COLUMNS)
        context.log.info(f"movies most like {config.movie_id} ({title}):\n{table}")
        metadata |= {"movie_id": config.movie_id, "movie_title": title, "k": config.k}
        metadata["similar_movies"] = dg.MetadataValue.md(table)
    else:
        shown = sorted(result.answers)[:50]
        metadata["movie_ids"] = dg.MetadataValue.md(", ".join(map(str, shown)) + (" …" if len(asked) > 50 else ""))
    return dg.MaterializeResult(metadata=metadata)


class MovieNeighborsConfig(dg.Config):
    """How many neighbours to store for every movie."""

    k: int = Field(default=50, ge=1, le=MAX_K, description=f"neighbours per movie (1..{MAX_K})")


@dg.asset(
    **SERVING,
    pool=keys.pool(keys.MOVIE_NEIGHBORS),
    metadata=S.column_schema(keys.MOVIE_NEIGHBORS),
)
def movie_neighbors(
    context: dg.AssetExecutionContext,
    config: MovieNeighborsConfig,
    als_item_factors: DeltaTable,
    als_models: AlsModels,
    lakehouse: Lakehouse,
) -> dg.MaterializeResult:
    """The k nearest neighbours of every movie by similarity of the factors, so an answer is a lookup."""
    rule, tables = als_models.answer.rule(), lakehouse.own(context)
    stamp = {**built_from(als_item_factors, rule), "k": config.k}
    index = read_index(als_item_factors, rule)
    started = time.perf_counter()
    neighbors = neighbors_table(index, config.k)
    seconds = time.perf_counter() - started
    context.log.info(f"top-{config.k} neighbours of {len(index.ids):,} movies computed in {seconds:.1f} s")
    wrote = tables.refresh(keys.MOVIE_NEIGHBORS, lambda table: store_neighbors(table, neighbors, stamp))
    if not wrote:
        context.log.info("movie_neighbors already holds these neighbours: another run committed them first")
    metadata = tables.metadata(keys.MOVIE_NEIGHBORS)
    return dg.MaterializeResult(
        metadata={**metadata, **stamp, "movies": len(index.ids), "compute_seconds": round(seconds, 2)}
    )


similar_movies_job = dg.define_asset_job(
    "similar_movies_job",
    selection=[keys.SIMILAR_MOVIES],
    description="Answer one question: the movies most like `movie_id` (factors must already exist).",
    config={"ops": {keys.SIMILAR_MOVIES: {"config": {"movie_id": 1, "k": 10}}}},  # the Launchpad's example
)
