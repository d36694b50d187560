"""One similar-movies query on the same factors: the original notebook's Python UDF vs the project's numpy index.

    python -m benchmarks.similarity [--movies 59047] [--data-dir DIR] [--repeats 5]

With --data-dir holding an als_item_factors table, those factors are used; otherwise seeded random factors
of MovieLens 25M's shape (59,047 rated movies, rank 10).
"""

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType

from movie_assets.lake.delta_tables import read_table
from movie_assets.recommend.similarity import FactorIndex
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import delta_spark_resource
from movie_assets.tables import schemas as S


def random_factors(spark: SparkSession, movies: int, rank: int = 10, seed: int = 0) -> DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(i + 1, [float(x) for x in v]) for i, v in enumerate(rng.normal(0, 1, (movies, rank)).astype(np.float32))]
    return spark.createDataFrame(rows, S.ITEM_FACTORS_SCHEMA).cache()


def udf_query(factors: DataFrame, movie_id: int, k: int) -> list[int]:
    """The original notebook: a per-row Python UDF, orderBy and limit."""

    @F.udf(returnType=DoubleType())
    def cosine_similarity(a: list[float], b: list[float]) -> float:
        a, b = np.array(a), np.array(b)
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

    query = factors.where(F.col(S.MOVIE_ID) == movie_id).select(S.FEATURES).collect()[0][0]
    ranked = (
        factors.where(F.col(S.MOVIE_ID) != movie_id)
        .withColumn(S.SIMILARITY, cosine_similarity(F.col(S.FEATURES), F.array([F.lit(float(x)) for x in query])))
        .orderBy(F.desc(S.SIMILARITY))
        .limit(k)
        .collect()
    )
    return [r[S.MOVIE_ID] for r in ranked]


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(spark: SparkSession, factors: DataFrame, movie_id: int, k: int, repeats: int) -> dict[str, float]:
    started = time.perf_counter()
    udf_answer = udf_query(factors, movie_id, k)  # cold: Python workers start
    udf_cold = time.perf_counter() - started
    udf_warm = median_seconds(lambda: udf_query(factors, movie_id, k), repeats)
    rows = factors.collect()
    index = FactorIndex.build(np.array([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=np.float64))
    numpy_answer = [m for m, _ in index.most_similar(movie_id, k)]
    numpy_s = median_seconds(lambda: index.most_similar(movie_id, k), max(repeats, 200))
    return {
        "movies": float(len(rows)),
        "udf_cold_s": udf_cold,
        "udf_warm_s": udf_warm,
        "numpy_s": numpy_s,
        "similarity_speedup_vs_udf": udf_warm / numpy_s,
        "same_answer": float(len(set(udf_answer) & set(numpy_answer)) / k),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=59_047)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--movie-id", type=int, default=1)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    spark = delta_spark_resource().spark_session
    if args.data_dir:
        path = Lakehouse(data_dir=args.data_dir).table_path("als_item_factors")
        factors = read_table(spark, path, "als_item_factors").cache()
    else:
        factors = random_factors(spark, args.movies)
    result = run(spark, factors, args.movie_id, args.k, args.repeats)
    print(
        f"similar-movies query over {int(result['movies']):,} movies (k={args.k}): "
        f"UDF {result['udf_warm_s'] * 1000:.0f} ms warm ({result['udf_cold_s'] * 1000:.0f} ms cold), "
        f"numpy {result['numpy_s'] * 1000:.3f} ms, speedup {result['similarity_speedup_vs_udf']:,.0f}x, "
        f"same top-{args.k}: {result['same_answer']:.0%}",
        flush=True,
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
