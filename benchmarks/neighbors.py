"""Top-k neighbours of every movie: plain numpy blocked top-k vs the project's screened blocks.

    python -m benchmarks.neighbors [--movies 59047] [--k 50] [--rank 10]

Both run side by side on the same seeded random factors of MovieLens 25M's shape (59,047 rated movies).
The baseline is what one writes first: float64 products of row blocks, `argpartition` of every row, a sort of
the k kept. The project's method (`FactorIndex.all_most_similar`) screens float32 products with block maxima,
then rescores the few candidates exactly; its answers are checked against the baseline's.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from movie_assets.recommend.similarity import FactorIndex

BASELINE_ROWS = 512


def baseline(index: FactorIndex, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour positions and similarities, (n, k), by a full partition of every row of similarities."""
    n = len(index.ids)
    unit = index.unit[:n]
    top = np.empty((n, k), dtype=np.int64)
    sims_out = np.empty((n, k))
    for start in range(0, n, BASELINE_ROWS):
        rows = np.arange(start, min(start + BASELINE_ROWS, n))
        sims = unit[rows] @ unit.T
        sims[np.arange(len(rows)), rows] = -np.inf
        part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        values = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-values, axis=1, kind="stable")
        top[rows] = np.take_along_axis(part, order, axis=1)
        sims_out[rows] = np.take_along_axis(values, order, axis=1)
    return top, sims_out


def run(movies: int, k: int, rank: int, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    index = FactorIndex.build(np.arange(1, movies + 1), rng.normal(0, 1, (movies, rank)).astype(np.float32))
    started = time.perf_counter()
    top, top_sims = baseline(index, k)
    baseline_s = time.perf_counter() - started
    started = time.perf_counter()
    neighbors = index.all_most_similar(k)
    project_s = time.perf_counter() - started
    same_values = np.allclose(neighbors.similarity.reshape(movies, k), top_sims, atol=1e-9)
    same_ids = float(np.mean(neighbors.similar_movie_id.reshape(movies, k) == index.ids[top]))
    return {
        "movies": float(movies),
        "k": float(k),
        "baseline_numpy_s": baseline_s,
        "project_s": project_s,
        "neighbors_speedup_vs_numpy": baseline_s / project_s,
        "same_similarities": float(same_values),
        "same_neighbor_ids_share": same_ids,
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=59_047)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--rank", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = run(args.movies, args.k, args.rank)
    print(
        f"top-{args.k} neighbours of {args.movies:,} movies: plain numpy {result['baseline_numpy_s']:.1f} s, "
        f"project {result['project_s']:.1f} s, speedup {result['neighbors_speedup_vs_numpy']:.1f}x; "
        f"same similarities: {bool(result['same_similarities'])}, "
        f"same ids: {result['same_neighbor_ids_share']:.4%}",
        flush=True,
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
