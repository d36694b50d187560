"""The real ml-latest-small run through the graph once per session, and independent computations on it."""

import math
import shutil
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from movie_assets.recommend.neighbors import AnswerRule

# Everything but similar_movies, which needs a movie id.
SELECTION = [
    "ratings_bronze",
    "movies_bronze",
    "ratings_silver",
    "user_mean_count_silver",
    "movie_mean_count_silver",
    "user_movie_title_rating",
    "als_item_factors",
    "als_evaluation",
    "similarity_evaluation",
    "movie_neighbors",
]


def land(ml_small: Path, landing: Path) -> None:
    landing.mkdir(parents=True, exist_ok=True)
    for name in ("ratings.csv", "movies.csv"):
        shutil.copy(ml_small / name, landing / name)


def table(spark: SparkSession, root: Path | str, name: str) -> DataFrame:
    return spark.read.format("delta").load(f"{root}/delta/{name}")


def brute_force(
    spark: SparkSession, root: Path | str, movie_id: int, k: int, rule: AnswerRule
) -> list[tuple[int, float]]:
    """The k most similar candidates under `rule`, from the stored factors, in plain Python: the query's unit
    vector times each candidate's unit vector, times (its length / the longest candidate's) ** length_weight."""
    factors = table(spark, root, "als_item_factors").collect()
    vectors = {r.movieId: [float(x) for x in r.features] for r in factors}
    query = vectors[movie_id]
    vectors = {r.movieId: vectors[r.movieId] for r in factors if r["count"] >= rule.min_ratings}
    norm = lambda v: math.sqrt(sum(x * x for x in v))  # noqa: E731
    longest = max(norm(v) for v in vectors.values())
    similarity = {
        m: sum(a * b for a, b in zip(query, v, strict=True))
        / (norm(query) * norm(v))
        * (norm(v) / longest) ** rule.length_weight
        for m, v in vectors.items()
        if m != movie_id
    }
    return [(m, similarity[m]) for m in sorted(similarity, key=lambda m: (-similarity[m], m))[:k]]
