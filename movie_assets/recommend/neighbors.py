"""Answering "which movies are most like movie X?": a lookup of movie_neighbors when it is current, else a ranking
of the ALS factors; both through delta-rs and Arrow, so an answer starts no JVM.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable
from pyspark.sql import DataFrame

from movie_assets.lake import commits
from movie_assets.lake.commits import Snapshot
from movie_assets.lake.delta_rs import data_version, rows_where
from movie_assets.recommend.similarity import FactorIndex
from movie_assets.tables import keys
from movie_assets.tables import schemas as S

ANSWERS_SCHEMA = S.arrow_schema(keys.SIMILAR_MOVIES)
NEIGHBORS_SCHEMA = S.arrow_schema(keys.MOVIE_NEIGHBORS)


class SimilarMoviesError(ValueError):
    """A question that cannot be answered; the message says why and what to do."""


@dataclass(frozen=True)
class AnswerRule:
    """How answers are ranked from the factors: who may be an answer, and how much a factor's length counts."""

    min_ratings: int  # movies with fewer ratings can ask but are never an answer
    length_weight: float  # 0: cosine; 1: the query's direction times the candidate's (scaled) factor


@dataclass(frozen=True)
class Answers:
    """movie id -> (its title, its answer rows), where the ranking came from, and why any id was not answered."""

    answers: dict[int, tuple[str, list[dict[str, Any]]]]
    looked_up: int = 0
    skipped: list[str] = field(default_factory=list)


def index_from_arrow(factors: pa.Table, rule: AnswerRule) -> FactorIndex:
    """The factors (movieId, features, count) as a FactorIndex (59k movies x rank 16: about 8 MB of float64).

    Movies with fewer than `rule.min_ratings` ratings can ask but are never an answer: their factors rest on
    too little data to point anywhere meaningful.
    """
    ids = factors.column(S.MOVIE_ID).to_numpy()
    features = factors.column(S.FEATURES).combine_chunks().flatten().to_numpy(zero_copy_only=False)
    candidate = factors.column(S.COUNT).to_numpy() >= rule.min_ratings
    return FactorIndex.build(ids, features.reshape(len(ids), -1), candidate, rule.length_weight)


def collect_factors(factors: DataFrame) -> pa.Table:
    """A factors DataFrame (a model fitted in this run) on the driver, through Arrow, as an index reads it."""
    return factors.select(S.MOVIE_ID, S.FEATURES, S.COUNT).toArrow()


def load_index(factors: DataFrame, rule: AnswerRule) -> FactorIndex:
    """A factors DataFrame (a model fitted in this run) as a FactorIndex."""
    return index_from_arrow(collect_factors(factors), rule)


def read_index(factors: DeltaTable, rule: AnswerRule) -> FactorIndex:
    """The als_item_factors table as a FactorIndex."""
    return index_from_arrow(factors.to_pyarrow_table(columns=[S.MOVIE_ID, S.FEATURES, S.COUNT]), rule)


def built_from(factors: DeltaTable, rule: AnswerRule) -> dict[str, float]:
    """What neighbours are ranked from: stored with movie_neighbors, so an answer knows whether a lookup is current."""
    return {"als_item_factors_version": data_version(factors)[0], **asdict(rule)}


def neighbors_table(index: FactorIndex, k: int) -> pa.Table:
    """The k nearest neighbours of every movie (movie_id, rank, similar_movie_id, similarity)."""
    found = index.all_most_similar(k)
    columns = [found.movie_id, found.rank, found.similar_movie_id, found.similarity]
    arrays = [pa.array(c, type=f.type) for c, f in zip(columns, NEIGHBORS_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=NEIGHBORS_SCHEMA)


def store_neighbors(table: Snapshot, neighbors: pa.Table, stamp: dict[str, Any]) -> bool:
    """Replace movie_neighbors (as read) with `neighbors`, unless it holds them already (the same stamp: another
    run of the same factors and rule committed first); whether it wrote."""
    if table.table is not None and all(data_version(table.table)[1].get(k) == v for k, v in stamp.items()):
        return False
    commits.overwrite(table, neighbors, stamp)
    return True


def stored_answers(answers: DeltaTable | None) -> dict[int, int]:
    """movie_id -> k of every stored answer."""
    if answers is None:
        return {}
    table = answers.to_pyarrow_table(columns=[S.QUERY_MOVIE_ID, S.RANK])
    grouped = table.group_by(S.QUERY_MOVIE_ID).aggregate([(S.RANK, "max")]).to_pydict()
    return dict(zip(grouped[S.QUERY_MOVIE_ID], grouped[f"{S.RANK}_max"], strict=True))


def look_up(neighbors: DeltaTable, asked: dict[int, int]) -> dict[int, list[tuple[int, float]]]:
    """The stored neighbours of each asked movie that has at least its k of them, best first."""
    columns = [S.QUERY_MOVIE_ID, S.RANK, S.SIMILAR_MOVIE_ID, S.SIMILARITY]
    rows = rows_where(neighbors, S.QUERY_MOVIE_ID, asked, columns)
    rows = rows.sort_by([(S.QUERY_MOVIE_ID, "ascending"), (S.RANK, "ascending")]).to_pydict()
    found: dict[int, list[tuple[int, float]]] = {}
    for movie_id, rank, similar, similarity in zip(*(rows[c] for c in columns), strict=True):
        if rank <= asked[movie_id]:
            found.setdefault(movie_id, []).append((similar, similarity))
    return {m: ranked for m, ranked in found.items() if len(ranked) == asked[m]}


def rank(
    asked: dict[int, int], factors: DeltaTable, neighbors: DeltaTable | None, rule: AnswerRule
) -> tuple[dict[int, list[tuple[int, float]]], int]:
    """Each asked movie's k neighbours, and how many were looked up in movie_neighbors.

    A lookup needs movie_neighbors built from this factors version under this rule, holding at least
    k neighbours of the movie; every other answer is ranked from the factors, exactly as movie_neighbors would.
    """
    ranked: dict[int, list[tuple[int, float]]] = {}
    if neighbors is not None:
        stamp = data_version(neighbors)[1]
        current = all(stamp.get(key) == value for key, value in built_from(factors, rule).items())
        if current and max(asked.values()) <= stamp.get("k", 0):
            ranked = look_up(neighbors, asked)
    looked_up, missing = len(ranked), [m for m in asked if m not in ranked]
    if missing:
        index = read_index(factors, rule)
        ranked |= {m: index.most_similar(m, asked[m]) for m in missing if index.position(m) is not None}
    return ranked, looked_up


def answer_movies(
    answers_path: str,
    factors: DeltaTable,
    neighbors: DeltaTable | None,
    movies: DeltaTable,
    means: DeltaTable,
    asked: dict[int, int],
    rule: AnswerRule,
    single: bool,
) -> Answers:
    """Answer every asked movie id with its k and replace those ids' rows in the answers table, in one commit.

    With `single` (one asked id), a question that cannot be answered fails; otherwise it is skipped, with the
    reason, and its stale rows are removed.
    """
    ranked, looked_up = rank(asked, factors, neighbors, rule)
    similar = {s for found in ranked.values() for s, _ in found}
    titles = _by_movie(rows_where(movies, S.MOVIE_ID, set(asked) | similar, [S.MOVIE_ID, S.TITLE, S.GENRES]))
    stats = _by_movie(rows_where(means, S.MOVIE_ID, similar, [S.MOVIE_ID, S.COUNT, S.MEAN]))
    answers, skipped = {}, []
    for movie_id in sorted(asked):
        if movie_id not in titles:
            problem = f"movie_id {movie_id} is not in movies_bronze: pick a movieId from movies.csv."
        elif movie_id not in ranked:
            problem = (
                f"movie_id {movie_id} ({titles[movie_id][S.TITLE]}) has no ALS factors because it has no ratings: "
                "pick a movie that has been rated."
            )
        else:
            rows = [
                {
                    S.QUERY_MOVIE_ID: movie_id,
                    S.RANK: position,
                    S.SIMILAR_MOVIE_ID: similar_id,
                    S.TITLE: titles.get(similar_id, {}).get(S.TITLE),
                    S.GENRES: titles.get(similar_id, {}).get(S.GENRES),
                    S.SIMILARITY: similarity,
                    S.COUNT: stats.get(similar_id, {}).get(S.COUNT),
                    S.MEAN: stats.get(similar_id, {}).get(S.MEAN),
                }
                for position, (similar_id, similarity) in enumerate(ranked[movie_id], start=1)
            ]
            answers[movie_id] = (titles[movie_id][S.TITLE], rows)
            continue
        if single:
            raise SimilarMoviesError(problem)
        skipped.append(problem)
    stored = pa.Table.from_pylist([row for _, rows in answers.values() for row in rows], schema=ANSWERS_SCHEMA)
    commits.replace_where(answers_path, stored, {S.QUERY_MOVIE_ID: sorted(asked)})
    return Answers(answers, looked_up, skipped)


def _by_movie(table: pa.Table) -> dict[int, dict[str, Any]]:
    return {row.pop(S.MOVIE_ID): row for row in table.to_pylist()}
