"""Ranking on hand-made factors whose neighbours are known exactly: cosine, and cosine weighted by length."""

import numpy as np
import pytest

from movie_assets.recommend.similarity import FactorIndex

IDS = np.array([5, 1, 2, 3, 4, 6, 7])
FACTORS = np.array(
    [
        [2.0, 0.0],  # 5: same direction as 1 -> similarity 1 (tie with 2 and 3)
        [1.0, 0.0],  # 1: the query
        [3.0, 0.0],  # 2: same direction -> 1
        [0.5, 0.0],  # 3: same direction -> 1
        [1.0, 1.0],  # 4: 45 degrees -> 0.7071
        [-1.0, 0.0],  # 6: opposite -> -1
        [0.0, 0.0],  # 7: zero vector -> 0, never NaN
    ]
)


def test_ranking_with_ties_negative_and_zero_vector() -> None:
    ranked = FactorIndex.build(IDS, FACTORS).most_similar(1, k=6)
    assert [m for m, _ in ranked] == [2, 3, 5, 4, 7, 6]
    sims = [s for _, s in ranked]
    assert sims[:3] == pytest.approx([1.0, 1.0, 1.0])
    assert sims[3] == pytest.approx(np.sqrt(0.5))
    assert sims[4] == 0.0 and sims[5] == pytest.approx(-1.0)


def test_length_weight_scales_by_the_longest_candidate() -> None:
    ranked = FactorIndex.build(IDS, FACTORS, length_weight=1.0).most_similar(1, k=6)
    assert [m for m, _ in ranked] == [2, 5, 4, 3, 7, 6]  # longest candidate: 2, length 3
    assert [s for _, s in ranked] == pytest.approx([1.0, 2 / 3, 1 / 3, 1 / 6, 0.0, -1 / 3])
    half = FactorIndex.build(IDS, FACTORS, length_weight=0.5).most_similar(1, k=2)
    assert half == [(2, pytest.approx(1.0)), (5, pytest.approx(np.sqrt(2 / 3)))]
    not_2 = IDS != 2  # 2 may ask but not answer: the longest candidate is 5 (length 2)
    ranked = FactorIndex.build(IDS, FACTORS, candidate=not_2, length_weight=1.0).most_similar(1, k=3)
    assert ranked == [(5, pytest.approx(1.0)), (4, pytest.approx(0.5)), (3, pytest.approx(0.25))]
    assert FactorIndex.build(IDS, FACTORS, candidate=not_2, length_weight=1.0).most_similar(2, k=1) == [
        (5, pytest.approx(1.0))
    ]


def test_ties_at_the_cut_are_broken_by_id() -> None:
    assert [m for m, _ in FactorIndex.build(IDS, FACTORS).most_similar(1, k=2)] == [2, 3]


def test_zero_query_vector_does_not_divide_by_zero() -> None:
    ranked = FactorIndex.build(IDS, FACTORS).most_similar(7, k=3)
    assert ranked == [(1, 0.0), (2, 0.0), (3, 0.0)]


def test_k_larger_than_catalogue_and_unknown_id() -> None:
    index = FactorIndex.build(IDS, FACTORS)
    assert len(index.most_similar(1, k=1000)) == 6
    with pytest.raises(KeyError):
        index.most_similar(99, k=3)


@pytest.mark.parametrize("seed", range(6))
def test_equals_a_full_sort_on_random_factors_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 700))
    ids = rng.permutation(np.arange(1, 5 * n))[:n]
    factors = rng.integers(-2, 3, (n, 3)).astype(float)  # few distinct directions: many exact ties
    weight = seed % 3 / 2  # cosine, half and full length weight
    candidate = rng.random(n) < 0.8
    index = FactorIndex.build(ids, factors, candidate, length_weight=weight)
    norms = np.linalg.norm(factors, axis=1)
    longest = norms[candidate].max(initial=0) or 1.0
    for query in rng.choice(n, size=5):
        for k in (1, 7, 64, 1000):
            sims = [
                (
                    0.0
                    if norms[j] == 0 or norms[query] == 0
                    else factors[query] @ factors[j] / (norms[query] * norms[j]) * (norms[j] / longest) ** weight,
                    ids[j],
                )
                for j in range(n)
                if j != query and candidate[j]
            ]
            want = sorted(sims, key=lambda t: (-round(t[0], 12), t[1]))[:k]
            got = index.most_similar(int(ids[query]), k)
            assert [m for m, _ in got] == [m for _, m in want]
            assert [s for _, s in got] == pytest.approx([s for s, _ in want], abs=1e-12)


def test_all_most_similar_on_hand_made_factors() -> None:
    neighbors = FactorIndex.build(IDS, FACTORS).all_most_similar(k=2)
    got = list(zip(neighbors.movie_id, neighbors.rank, neighbors.similar_movie_id, strict=True))
    assert got == [
        (1, 1, 2), (1, 2, 3),
        (2, 1, 1), (2, 2, 3),
        (3, 1, 1), (3, 2, 2),
        (4, 1, 1), (4, 2, 2),
        (5, 1, 1), (5, 2, 2),
        (6, 1, 7), (6, 2, 4),
        (7, 1, 1), (7, 2, 2),
    ]  # fmt: skip
    assert neighbors.similarity[neighbors.movie_id == 6].tolist() == pytest.approx([0.0, -np.sqrt(0.5)])


@pytest.mark.parametrize("seed", range(4))
def test_all_most_similar_equals_one_query_per_movie(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 1500))
    ids = rng.permutation(np.arange(1, 5 * n))[:n]
    factors = rng.integers(-2, 3, (n, 4)).astype(float) if seed % 2 else rng.normal(0, 1, (n, 10))
    index = FactorIndex.build(ids, factors, length_weight=seed / 3)
    for k in (1, 50, n + 3):
        neighbors = index.all_most_similar(k, workers=2)
        per_movie = min(k, n - 1)
        assert len(neighbors.movie_id) == n * per_movie
        for position in rng.choice(n, size=min(n, 20), replace=False):
            movie = int(index.ids[position])
            rows = neighbors.movie_id == movie
            want = index.most_similar(movie, k)
            assert neighbors.rank[rows].tolist() == list(range(1, per_movie + 1))
            assert neighbors.similar_movie_id[rows].tolist() == [m for m, _ in want]
            assert neighbors.similarity[rows].tolist() == [s for _, s in want]
