"""Hit rate@10 of similarity variants on the answer evaluation's split: what the evaluation rewards.

`python -m benchmarks.similarity_variants --ratings <ratings.csv> [--synthetic N] [--split-seed S]` scores, on
the split `similarity_evaluation` uses (`answer_quality.split`, default settings; `--split-seed` draws another
split of the same kind), popularity, item-kNN cosine, co-rating
counts normalised by count^beta, the default answers, the default answers less each of their two rules (cosine
instead of length weight; the ratings as given instead of dislikes below 2.5), the original's explicit ALS, and,
for data from `movie_assets.scripts.sample_data --ratings N`, the generator's own taste factors. Each line gives the hit
rate and the paired lead over item-kNN with its 95% interval (test users resampled). The co-rating counts are a
dense users x movies matrix: for ml-latest-small and the 1M synthetic set, not for 25M.
"""

import argparse
from collections.abc import Callable

import numpy as np

from movie_assets.recommend import answer_quality as Q
from movie_assets.resources.als_models import AlsConfig, AlsModels
from movie_assets.resources.spark import delta_spark_resource
from movie_assets.scripts.sample_data import RANK, movie_tastes, shape
from movie_assets.tables import schemas as S

CANDIDATE_MIN_RATINGS = AlsModels().answer.min_ratings  # the answers' candidate rule, for every method


def ranker(ids: np.ndarray, similarity: Callable[[int], np.ndarray], ok: np.ndarray) -> Q.Ranker:
    """Rank by `similarity(i)` (a score per movie for the movie at position i), candidates where `ok`."""

    def rank(queries: np.ndarray, k: int) -> dict[int, list[int]]:
        out = {}
        for q in queries:
            i = int(np.searchsorted(ids, q))
            if i >= len(ids) or ids[i] != q:
                out[int(q)] = []
                continue
            score = similarity(i).astype(np.float64)
            score[~ok] = -np.inf
            score[i] = -np.inf
            out[int(q)] = [int(ids[j]) for j in np.argsort(-score, kind="stable")[:k]]
        return out

    return rank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", required=True, help="a ratings CSV (userId,movieId,rating,timestamp)")
    parser.add_argument("--synthetic", type=int, help="the --ratings N it was generated with: adds the oracle")
    parser.add_argument("--seed", type=int, default=42, help="the --seed it was generated with")
    parser.add_argument("--split-seed", type=int, default=Q.SplitConfig().seed, help="the evaluation split's seed")
    args = parser.parse_args()
    spark = delta_spark_resource().spark_session
    ratings = spark.read.csv(args.ratings, header=True, schema=S.RATINGS_CSV_SCHEMA).select(
        S.USER_ID, S.MOVIE_ID, S.RATING
    )
    data = Q.split(ratings, Q.SplitConfig(seed=args.split_seed))
    data.train.cache()
    pairs = Q.Interactions.of(data.train)
    ids, counts = pairs.movie_ids, pairs.counts().astype(np.float64)
    ok, log_count = counts >= CANDIDATE_MIN_RATINGS, np.log(counts + 1)
    knn = Q.score(spark, data, Q.item_knn_ranker(pairs))

    def show(name: str, rank: Q.Ranker) -> None:
        scores = Q.score(spark, data, rank)
        low, high = Q.user_interval(data, scores.hits - knn.hits, seed=1)
        lead = scores.hit_rate - knn.hit_rate
        print(f"{name:<48} {scores.hit_rate:.4f}  vs item-kNN {lead:+.4f} ({low:+.4f} .. {high:+.4f})", flush=True)

    show("popularity", Q.popularity_ranker(pairs.movie_ids, pairs.counts()))
    show("item-kNN cosine", Q.item_knn_ranker(pairs))
    n_users = max((int(u.max()) for u in pairs.item_users if len(u)), default=-1) + 1
    users = np.zeros((n_users, len(ids)), dtype=np.float32)
    for item, raters in enumerate(pairs.item_users):
        users[raters, item] = 1
    co = users.T @ users
    for beta in (0.0, 0.3, 0.5):
        show(f"co-ratings / count^{beta}", ranker(ids, lambda i, b=beta: co[i] / np.maximum(counts, 1) ** b, ok))
    models = AlsModels()

    def answers(config: AlsConfig, **changes: float) -> Q.Ranker:
        config = config.model_copy(update=changes)
        return Q.factors_ranker(Q.fitted_index(data.train, config.params(), config.rule()))

    show("the answers (default)", answers(models.answer))
    show("  ranked by cosine (length_weight 0)", answers(models.answer, length_weight=0.0))
    show("  ratings as given (dislike_below 0)", answers(models.answer, dislike_below=0.0))
    show("  both: implicit ALS on the ratings, cosine", answers(models.answer, length_weight=0.0, dislike_below=0.0))
    show("the original's explicit ALS, cosine", answers(models.rating))
    if args.synthetic:
        factors = movie_tastes(shape(args.synthetic)[1], args.seed)[1][ids - 1] / np.sqrt(RANK)
        tastes = factors / np.linalg.norm(factors, axis=1, keepdims=True)
        show("generator's tastes, cosine", ranker(ids, lambda i: tastes @ tastes[i], ok))
        for p in (0.5, 1.0):
            show(
                f"generator's tastes, dot + {p} log(count)",
                ranker(ids, lambda i, p=p: factors @ factors[i] + p * log_count, ok),
            )


if __name__ == "__main__":
    main()
