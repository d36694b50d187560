"""The answer evaluation on hand-made ratings whose right neighbours are known: two taste groups."""

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession

from movie_assets.recommend import answer_quality as Q
from movie_assets.recommend.similarity import FactorIndex
from movie_assets.tables import schemas as S

GROUP_A = list(range(1, 13))  # liked by users 1..20
GROUP_B = list(range(101, 113))  # liked by users 21..60: more raters, so popularity lists only these


def two_tastes(spark: SparkSession) -> DataFrame:
    rows = [(u, m, 5.0, 0) for u in range(1, 21) for m in GROUP_A]
    rows += [(u, m, 4.5, 0) for u in range(21, 61) for m in GROUP_B]
    return spark.createDataFrame(rows, S.RATINGS_CSV_SCHEMA)


SPLIT = Q.SplitConfig(test_user_share=0.5, held_out_likes=3, min_likes=10, queries_per_user=2, seed=7)


def test_split_is_deterministic_and_holds_out_likes(spark: SparkSession) -> None:
    first, second = Q.split(two_tastes(spark), SPLIT), Q.split(two_tastes(spark), SPLIT)
    assert first.held_out == second.held_out and first.queries == second.queries
    assert 10 < len(first.held_out) < 50 and all(len(m) == 3 for m in first.held_out.values())
    train = {(r.userId, r.movieId) for r in first.train.collect()}
    assert len(train) == 20 * 12 + 40 * 12 - 3 * len(first.held_out)
    assert not any((u, m) in train for u, ms in first.held_out.items() for m in ms)
    assert {u for u, _ in first.queries} == set(first.held_out)
    assert all((u, q) in train for u, q in first.queries)


def test_a_method_that_finds_the_groups_scores_one_and_popularity_less(spark: SparkSession) -> None:
    data = Q.split(two_tastes(spark), SPLIT)
    interactions = Q.Interactions.of(data.train)
    knn = Q.score(spark, data, Q.item_knn_ranker(interactions))
    assert knn.hit_rate == 1.0 and knn.queries == 2 * len(data.held_out)
    assert Q.user_interval(data, knn.hits, seed=1) == (1.0, 1.0)
    oracle = FactorIndex.build(
        np.array(GROUP_A + GROUP_B), np.array([[1.0, 0.0]] * 12 + [[0.0, 1.0]] * 12)
    )  # each movie's factor is its group
    assert Q.score(spark, data, Q.factors_ranker(oracle)).hit_rate == 1.0
    popularity = Q.score(spark, data, Q.popularity_ranker(interactions.movie_ids, interactions.counts()))
    group_a_users = sum(1 for u in data.held_out if u <= 20)
    assert group_a_users > 0
    assert popularity.hit_rate == pytest.approx(1 - group_a_users / len(data.held_out))
    assert popularity.ndcg < knn.ndcg
    # Popularity misses exactly the group-A users' queries: resampling users bounds its hit rate strictly
    # inside (0, 1), and kNN's lead over it strictly above 0.
    low, high = Q.user_interval(data, popularity.hits, seed=1)
    assert 0 < low <= popularity.hit_rate <= high < 1
    assert Q.user_interval(data, knn.hits - popularity.hits, seed=1)[0] > 0


def test_no_user_with_enough_likes_scores_nothing(spark: SparkSession) -> None:
    ratings = spark.createDataFrame([(1, 1, 5.0, 0), (1, 2, 4.0, 0)], S.RATINGS_CSV_SCHEMA)
    data = Q.split(ratings, SPLIT)
    assert data.queries == [] and Q.score(spark, data, Q.popularity_ranker(*Q.rating_counts(data.train))).queries == 0


def test_a_movie_keeps_one_training_rating_so_it_has_factors(spark: SparkSession) -> None:
    """Every like is a candidate to hold out here; each movie's last rating stays in training all the same."""
    rows = [(u, m, 5.0, 0) for u in (1, 2, 3) for m in (1, 2, 3)] + [(1, 9, 4.0, 0)]  # movie 9: one rating
    ratings = spark.createDataFrame(rows, S.RATINGS_CSV_SCHEMA)
    every_like = Q.SplitConfig(test_user_share=1.0, held_out_likes=100, min_likes=2, queries_per_user=1)
    data = Q.split(ratings, every_like)
    train = sorted((r.userId, r.movieId) for r in data.train.collect())
    assert sorted({m for _, m in train}) == [1, 2, 3, 9]
    assert sorted(m for ms in data.held_out.values() for m in ms) == [1, 1, 2, 2, 3, 3]  # 2 of each 3 ratings
    assert len(train) == 4 and (1, 9) in train
