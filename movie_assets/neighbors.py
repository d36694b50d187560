"""Answering "which movies are most like movie X?" from the ALS factors, and storing the answers."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from movie_assets import schemas as S
from movie_assets.delta_tables import table_exists, write_table
from movie_assets.frames import local_frame
from movie_assets.similarity import FactorIndex


class SimilarMoviesError(ValueError):
    """A question that cannot be answered; the message says why and what to do."""


@dataclass(frozen=True)
class Answers:
    """movie id -> (its title, its answer rows), and why any asked id was not answered."""

    answers: dict[int, tuple[str, list[dict[str, Any]]]]
    skipped: list[str] = field(default_factory=list)


def load_index(factors: DataFrame, min_ratings: int) -> FactorIndex:
    """The factors table as a FactorIndex, collected through Arrow (59k movies: about 2.4 MB).

    Movies with fewer than `min_ratings` ratings can ask but are never an answer: their factors rest on too
    little data to point anywhere meaningful.
    """
    table = factors.select(S.MOVIE_ID, S.FEATURES, S.COUNT).toArrow()
    ids = table.column(S.MOVIE_ID).to_numpy()
    features = table.column(S.FEATURES).combine_chunks().flatten().to_numpy(zero_copy_only=False)
    candidate = table.column(S.COUNT).to_numpy() >= min_ratings
    return FactorIndex.build(ids, features.reshape(len(ids), -1), candidate)


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


def stored_answers(spark: SparkSession, path: str) -> dict[int, int]:
    """movie_id -> k of every answer in the similar_movies table at `path`."""
    if not table_exists(spark, path):
        return {}
    rows = spark.read.format("delta").load(path).groupBy(S.QUERY_MOVIE_ID).agg(F.max(S.RANK).alias("k")).collect()
    return {r[S.QUERY_MOVIE_ID]: r["k"] for r in rows}


def _lookup(frame: DataFrame, ids: set[int], columns: list[str]) -> dict[int, tuple]:
    rows = frame.where(F.col(S.MOVIE_ID).isin(sorted(ids))).select(S.MOVIE_ID, *columns).collect()
    return {r[S.MOVIE_ID]: tuple(r[c] for c in columns) for r in rows}


def answer_movies(
    spark: SparkSession,
    path: str,
    index: FactorIndex,
    movies: DataFrame,
    means: DataFrame,
    asked: dict[int, int],
    single: int | None,
) -> Answers:
    """Rank every asked movie id with its k and replace those ids' rows in the table at `path`, in one commit.

    With `single` (one asked id), a question that cannot be answered fails; otherwise it is skipped, with the
    reason, and its stale rows are removed.
    """
    ranked = {m: index.most_similar(m, k) for m, k in asked.items() if index.position(m) is not None}
    titles = _lookup(movies, set(asked) | {s for found in ranked.values() for s, _ in found}, [S.TITLE, S.GENRES])
    stats = _lookup(means, {s for found in ranked.values() for s, _ in found}, [S.COUNT, S.MEAN])
    answers, skipped = {}, []
    for movie_id in sorted(asked):
        if movie_id not in titles:
            problem = f"movie_id {movie_id} is not in movies_bronze: pick a movieId from movies.csv."
        elif movie_id not in ranked:
            problem = (
                f"movie_id {movie_id} ({titles[movie_id][0]}) has no ALS factors because it has no ratings: "
                "pick a movie that has been rated."
            )
        else:
            rows = [
                {
                    S.QUERY_MOVIE_ID: movie_id,
                    S.RANK: rank,
                    S.SIMILAR_MOVIE_ID: similar,
                    S.TITLE: titles.get(similar, (None, None))[0],
                    S.GENRES: titles.get(similar, (None, None))[1],
                    S.SIMILARITY: similarity,
                    S.COUNT: stats.get(similar, (None, None))[0],
                    S.MEAN: stats.get(similar, (None, None))[1],
                }
                for rank, (similar, similarity) in enumerate(ranked[movie_id], start=1)
            ]
            answers[movie_id] = (titles[movie_id][0], rows)
            continue
        if single is not None:
            raise SimilarMoviesError(problem)
        skipped.append(problem)
    stored = [{c: row[c] for c in S.SIMILAR_MOVIES_SCHEMA.names} for _, rows in answers.values() for row in rows]
    frame = local_frame(spark, stored, S.SIMILAR_MOVIES_SCHEMA).coalesce(1)
    write_table(frame, path, replace_where=f"{S.QUERY_MOVIE_ID} IN ({', '.join(str(int(m)) for m in sorted(asked))})")
    return Answers(answers, skipped)
