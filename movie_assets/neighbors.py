"""Answering "which movies are most like movie X?" from the stored ALS factors, and storing the answer."""

from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from movie_assets import schemas as S
from movie_assets.delta_tables import MissingTableError, read_table, table_metadata, write_table
from movie_assets.frames import local_frame
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.similarity import FactorIndex


class SimilarMoviesError(ValueError):
    """A question that cannot be answered; the message says why and what to do."""


@dataclass(frozen=True)
class Answer:
    title: str
    rows: list[dict[str, Any]]
    table_metadata: dict[str, Any]
    export_path: str


def load_index(factors: DataFrame) -> FactorIndex:
    """The factors table as a FactorIndex, collected through Arrow (59k movies: about 2.4 MB)."""
    table = factors.select(S.MOVIE_ID, S.FEATURES).toArrow()
    ids = table.column(S.MOVIE_ID).to_numpy()
    features = table.column(S.FEATURES).combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return FactorIndex.build(ids, features.reshape(len(ids), -1))


def neighbors_frame(spark: SparkSession, index: FactorIndex, k: int) -> DataFrame:
    """The k nearest neighbours of every movie (movie_id, rank, similar_movie_id, similarity)."""
    found = index.all_most_similar(k)
    columns = {
        S.QUERY_MOVIE_ID: found.movie_id.astype(np.int32),
        S.RANK: found.rank.astype(np.int32),
        S.SIMILAR_MOVIE_ID: found.similar_movie_id.astype(np.int32),
        S.SIMILARITY: found.similarity,
    }
    return local_frame(spark, columns, S.MOVIE_NEIGHBORS_SCHEMA)


def similar_movies_for(spark: SparkSession, lakehouse: Lakehouse, movie_id: int, k: int) -> Answer:
    """Rank, store (replacing only this movie id's rows, in one commit) and export the answer."""
    factors_path = lakehouse.table_path("als_item_factors")
    try:
        factors = read_table(spark, factors_path, "als_item_factors")
        movies = read_table(spark, lakehouse.table_path("movies_bronze"), "movies_bronze")
    except MissingTableError as err:
        raise SimilarMoviesError(str(err)) from None
    movie = movies.where(F.col(S.MOVIE_ID) == movie_id).select(S.TITLE).first()
    if movie is None:
        raise SimilarMoviesError(f"movie_id {movie_id} is not in movies_bronze: pick a movieId from movies.csv.")
    index = load_index(factors)
    if index.position(movie_id) is None:
        raise SimilarMoviesError(
            f"movie_id {movie_id} ({movie[S.TITLE]}) has no ALS factors because it has no ratings: "
            "pick a movie that has been rated."
        )
    ranked = index.most_similar(movie_id, k)
    titles = {
        r[S.MOVIE_ID]: (r[S.TITLE], r[S.GENRES])
        for r in movies.where(F.col(S.MOVIE_ID).isin([m for m, _ in ranked])).collect()
    }
    rows = [
        {
            S.QUERY_MOVIE_ID: movie_id,
            S.RANK: rank,
            S.SIMILAR_MOVIE_ID: similar,
            S.TITLE: titles.get(similar, (None, None))[0],
            S.GENRES: titles.get(similar, (None, None))[1],
            S.SIMILARITY: similarity,
        }
        for rank, (similar, similarity) in enumerate(ranked, start=1)
    ]
    answer = local_frame(spark, rows, S.SIMILAR_MOVIES_SCHEMA).coalesce(1)
    path = lakehouse.table_path("similar_movies")
    write_table(answer, path, replace_where=f"{S.QUERY_MOVIE_ID} = {int(movie_id)}")
    export = lakehouse.results_path("similar_movies", f"{S.QUERY_MOVIE_ID}={movie_id}")
    answer.write.mode("overwrite").parquet(export)
    return Answer(movie[S.TITLE], rows, table_metadata(spark, path), export)
