"""How good are the answers? Held-out likes, the neighbours of a user's own liked movies, and two baselines.

On a seeded split of the current ratings, a share of the users who liked enough movies (rating >= LIKE) have
some of their likes held out. Each test user's most-rated liked training movies are the queries; a query's ten
neighbours hit when one of them is a held-out like of that user. Hit rate@10 and NDCG@10 (Spark ML's
RankingEvaluator) are reported for the factors (fitted on the training part with the configuration that
answers, ranked under the same rule: the factors that answer are fitted there too) next to popularity and
item-kNN baselines on the same split.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dagster as dg
import numpy as np
from pydantic import Field
from pyspark.ml.evaluation import RankingEvaluator
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, IntegerType, StructField, StructType

from movie_assets.lake.frames import local_frame
from movie_assets.recommend import als
from movie_assets.recommend.neighbors import AnswerRule, load_index
from movie_assets.recommend.similarity import FactorIndex
from movie_assets.tables import schemas as S

LIKE = 4.0
K = 10
QUERY, NEIGHBOURS, HELD_OUT, HIT = "query_movie_id", "neighbours", "held_out", "hit"
Ranker = Callable[[np.ndarray, int], dict[int, list[int]]]  # query movie ids, k -> k neighbours each


class SplitConfig(dg.Config):
    """The held-out split: which users are tested, how many likes are held out, how many queries each."""

    test_user_share: float = Field(default=0.3, gt=0, le=1, description="share of eligible users tested")
    held_out_likes: int = Field(default=5, ge=1, le=100, description="likes (rating >= 4) held out per test user")
    min_likes: int = Field(default=10, ge=2, description="users with fewer likes are not tested")
    queries_per_user: int = Field(default=3, ge=1, le=50, description="a user's most-rated liked movies asked")
    max_test_users: int = Field(default=2000, ge=1, description="bounds the cost on large data")
    seed: int = Field(default=42, description="the same seed and data give the same figures")


@dataclass(frozen=True)
class Split:
    train: DataFrame  # (userId, movieId, rating)
    queries: list[tuple[int, int]]  # (userId, query movieId)
    held_out: dict[int, list[int]]  # userId -> held-out liked movieIds
    seed: int  # the split's seed, which also seeds the resampling of its intervals


def _hash(*cols: str, seed: int) -> F.Column:
    return F.xxhash64(*[F.col(c) for c in cols], F.lit(seed))


def split(ratings: DataFrame, config: SplitConfig) -> Split:
    """Deterministic: users and held-out likes are chosen by hashes of their ids and the seed, not by order. A
    movie's last rating is never held out (a test user then has one like fewer held out)."""
    rows = ratings.select(S.USER_ID, S.MOVIE_ID, S.RATING)
    likes = rows.where(F.col(S.RATING) >= LIKE)
    per_user = likes.groupBy(S.USER_ID).count().where(F.col("count") >= config.min_likes)
    share = (F.abs(_hash(S.USER_ID, seed=config.seed)) % 1_000_000) / 1_000_000
    test_users = (
        per_user.where(share < config.test_user_share)
        .withColumn("_h", _hash(S.USER_ID, seed=config.seed + 1))
        .orderBy("_h", S.USER_ID)
        .limit(config.max_test_users)
        .select(S.USER_ID)
    )
    order = Window.partitionBy(S.USER_ID).orderBy(_hash(S.USER_ID, S.MOVIE_ID, seed=config.seed), S.MOVIE_ID)
    # A movie keeps at least one training rating, so every rated movie has factors (and can be asked about).
    per_movie = rows.groupBy(S.MOVIE_ID).agg(F.count("*").alias("_ratings"))
    last = Window.partitionBy(S.MOVIE_ID).orderBy(_hash(S.USER_ID, S.MOVIE_ID, seed=config.seed), S.USER_ID)
    held = (
        likes.join(test_users, S.USER_ID)
        .withColumn("_n", F.row_number().over(order))
        .where(F.col("_n") <= config.held_out_likes)
        .join(per_movie, S.MOVIE_ID)
        .withColumn("_m", F.row_number().over(last))
        .where(F.col("_m") < F.col("_ratings"))
        .select(S.USER_ID, S.MOVIE_ID)
        .collect()
    )
    held_out: dict[int, list[int]] = {}
    for r in held:
        held_out.setdefault(r[S.USER_ID], []).append(r[S.MOVIE_ID])
    spark = ratings.sparkSession
    held_frame = local_frame(spark, [{S.USER_ID: u, S.MOVIE_ID: m} for u, ms in held_out.items() for m in ms], _PAIRS)
    train = rows.join(held_frame, [S.USER_ID, S.MOVIE_ID], "left_anti")
    popularity = train.groupBy(S.MOVIE_ID).agg(F.count("*").alias("_n"))
    by_popularity = Window.partitionBy(S.USER_ID).orderBy(F.desc("_n"), S.MOVIE_ID)
    queries = (
        train.where(F.col(S.RATING) >= LIKE)
        .join(held_frame.select(S.USER_ID).distinct(), S.USER_ID)
        .join(popularity, S.MOVIE_ID)
        .withColumn("_q", F.row_number().over(by_popularity))
        .where(F.col("_q") <= config.queries_per_user)
        .select(S.USER_ID, S.MOVIE_ID)
        .orderBy(S.USER_ID, S.MOVIE_ID)
        .collect()
    )
    return Split(train, [(r[S.USER_ID], r[S.MOVIE_ID]) for r in queries], held_out, config.seed)


_PAIRS = StructType([StructField(S.USER_ID, IntegerType()), StructField(S.MOVIE_ID, IntegerType())])
_SCORED = StructType(
    [
        StructField(S.USER_ID, IntegerType()),
        StructField(QUERY, IntegerType()),
        StructField(NEIGHBOURS, ArrayType(DoubleType())),
        StructField(HELD_OUT, ArrayType(DoubleType())),
    ]
)


@dataclass(frozen=True)
class Scores:
    """Hit rate@k and NDCG@k over the split's queries, and each query's hit (in the split's query order)."""

    hit_rate: float
    ndcg: float
    queries: int
    hits: np.ndarray

    def summary(self) -> dict[str, float]:
        return {"hit_rate": self.hit_rate, "ndcg": self.ndcg, "queries": self.queries}


def user_interval(data: Split, per_query: np.ndarray, seed: int, rounds: int = 2000) -> tuple[float, float]:
    """A 95% interval for the mean of `per_query` (a hit, or a difference of two methods' hits), by resampling
    test users with replacement (a user's queries stay together: they share the held-out likes)."""
    if not data.queries:
        return (0.0, 0.0)
    _, user = np.unique(np.array([u for u, _ in data.queries]), return_inverse=True)
    sums, counts = np.bincount(user, weights=per_query), np.bincount(user)
    picks = np.random.default_rng(seed).integers(0, len(sums), (rounds, len(sums)))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def interval_text(bounds: tuple[float, float]) -> str:
    return f"{bounds[0]:+.3f} .. {bounds[1]:+.3f}" if min(bounds) < 0 else f"{bounds[0]:.3f} .. {bounds[1]:.3f}"


def score(spark: SparkSession, data: Split, ranker: Ranker, k: int = K) -> Scores:
    """Hit rate@k and NDCG@k (RankingEvaluator) of `ranker`'s neighbours over the split's queries."""
    found = ranker(np.array(sorted({q for _, q in data.queries}), dtype=np.int64), k)
    rows: list[dict[str, Any]] = [
        {
            S.USER_ID: user,
            QUERY: query,
            NEIGHBOURS: [float(m) for m in found.get(query, [])[:k]],
            HELD_OUT: [float(m) for m in data.held_out[user]],
        }
        for user, query in data.queries
    ]
    hits = np.array([bool(set(r[NEIGHBOURS]) & set(r[HELD_OUT])) for r in rows], dtype=np.float64)
    if not rows:  # no user liked enough movies to be tested
        return Scores(0.0, 0.0, 0, hits)
    scored = local_frame(spark, rows, _SCORED)
    ndcg = RankingEvaluator(predictionCol=NEIGHBOURS, labelCol=HELD_OUT, metricName="ndcgAtK", k=k).evaluate(scored)
    return Scores(float(hits.mean()), float(ndcg), len(rows), hits)


@dataclass(frozen=True)
class Interactions:
    """The training pairs as index arrays, for the numpy baselines (small data: driver memory)."""

    movie_ids: np.ndarray  # ascending; position = item index
    item_users: list[np.ndarray]
    user_items: list[np.ndarray]

    @classmethod
    def of(cls, train: DataFrame) -> "Interactions":
        table = train.select(S.USER_ID, S.MOVIE_ID).toArrow()
        users = table.column(S.USER_ID).to_numpy()
        movies = table.column(S.MOVIE_ID).to_numpy()
        movie_ids, items = np.unique(movies, return_inverse=True)
        _, user_index = np.unique(users, return_inverse=True)
        n_users = int(user_index.max()) + 1 if users.size else 0
        return cls(movie_ids, _groups(items, user_index, len(movie_ids)), _groups(user_index, items, n_users))

    def counts(self) -> np.ndarray:
        return np.array([len(u) for u in self.item_users])


def _groups(keys: np.ndarray, values: np.ndarray, n: int) -> list[np.ndarray]:
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    return [values[order[bounds[i] : bounds[i + 1]]] for i in range(n)]


def _top(scores: np.ndarray, ids: np.ndarray, k: int) -> list[int]:
    """The k best-scoring ids, ties by id (ids ascending, so a stable sort of -score keeps them)."""
    order = np.argsort(-scores, kind="stable")[:k]
    return [int(ids[i]) for i in order if np.isfinite(scores[i])]


def rating_counts(train: DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each training movie's id (ascending) and number of ratings, counted by Spark: popularity without the pairs."""
    table = train.groupBy(S.MOVIE_ID).agg(F.count("*").alias(S.COUNT)).orderBy(S.MOVIE_ID).toArrow()
    return table.column(S.MOVIE_ID).to_numpy(), table.column(S.COUNT).to_numpy()


def popularity_ranker(movie_ids: np.ndarray, counts: np.ndarray) -> Ranker:
    """The most-rated training movies (ids ascending, their counts), the same list for every query (but itself)."""
    scores = counts.astype(np.float64)

    def rank(queries: np.ndarray, k: int) -> dict[int, list[int]]:
        best = _top(scores, movie_ids, k + 1)
        return {int(q): [m for m in best if m != q][:k] for q in queries}

    return rank


def item_knn_ranker(data: Interactions) -> Ranker:
    """Cosine of the binary "who rated it" vectors: co-raters / sqrt(raters of each)."""
    counts = data.counts().astype(np.float64)

    def rank(queries: np.ndarray, k: int) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for q in queries:
            i = int(np.searchsorted(data.movie_ids, q))
            if i >= len(data.movie_ids) or data.movie_ids[i] != q:
                out[int(q)] = []
                continue
            users = data.item_users[i]
            co = np.bincount(np.concatenate([data.user_items[u] for u in users]), minlength=len(counts))
            cosine = co / np.sqrt(counts[i] * np.maximum(counts, 1))
            cosine[i] = -np.inf
            cosine[co == 0] = -np.inf
            out[int(q)] = _top(cosine, data.movie_ids, k)
        return out

    return rank


def factors_ranker(index: FactorIndex) -> Ranker:
    """Neighbours by item factors, by the same index (and rule) the answers use."""

    def rank(queries: np.ndarray, k: int) -> dict[int, list[int]]:
        return {
            int(q): [m for m, _ in index.most_similar(int(q), k)] if index.position(int(q)) is not None else []
            for q in queries
        }

    return rank


def fitted_index(train: DataFrame, params: als.AlsParams, rule: AnswerRule) -> FactorIndex:
    """ALS fitted on the training part, as the index the answers would use."""
    model = als.fit(train, params)
    return load_index(als.item_factors(model, train), rule)


def fitted_scores(spark: SparkSession, data: Split, params: als.AlsParams, rule: AnswerRule) -> Scores:
    """A configuration fitted on the split's training part, its factors ranked by its rule, scored."""
    return score(spark, data, factors_ranker(fitted_index(data.train, params, rule)))
