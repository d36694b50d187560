"""The original notebook's logic as a plain PySpark + Delta script: the peer the project is measured against.

    python -m benchmarks.seed_reference --data-dir DIR [--movie-id 1]

CSV with explicit schemas -> bronze Delta tables; the three silver tables with the same aggregations and
orderings; ALS rank 10 with coldStartStrategy drop; a per-row Python UDF cosine similarity with orderBy +
limit + a left join to titles; the answer written as Parquet. It prints one JSON line of timings.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
from pyspark.ml.recommendation import ALS
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

from movie_assets.resources.spark import delta_jars_config

RATINGS_SCHEMA = StructType(
    [
        StructField("userId", IntegerType()),
        StructField("movieId", IntegerType()),
        StructField("rating", DoubleType()),
        StructField("timestamp", IntegerType()),
    ]
)
MOVIES_SCHEMA = StructType(
    [StructField("movieId", IntegerType()), StructField("title", StringType()), StructField("genres", StringType())]
)


def session(master: str, driver_memory: str) -> SparkSession:
    """A plain Delta session. Its jars are the local files `make install` resolved, as the project's are: Ivy,
    resolving the notebook's `spark.jars.packages` at start, needs every version delta-spark names from a registry.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the UDF's workers need this interpreter's numpy
    return (
        SparkSession.builder.master(master)
        .appName("seed_reference")
        .config("spark.driver.memory", driver_memory)
        .config(map=delta_jars_config())
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--movie-id", type=int, default=1)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--driver-memory", default="4g")
    args = parser.parse_args()
    root = args.data_dir.rstrip("/")
    times: dict[str, float] = {}
    started = time.perf_counter()

    def lap(name: str) -> None:
        times[name] = time.perf_counter() - started - sum(times.values())

    spark = session(args.master, args.driver_memory)
    lap("session_start")

    ratings_csv = spark.read.csv(f"{root}/landing/ratings*.csv", header=True, schema=RATINGS_SCHEMA)
    ratings_csv.write.format("delta").mode("overwrite").save(f"{root}/seed/ratings_bronze")
    movies_csv = spark.read.csv(f"{root}/landing/movies*.csv", header=True, schema=MOVIES_SCHEMA)
    movies_csv.write.format("delta").mode("overwrite").save(f"{root}/seed/movies_bronze")
    lap("bronze")

    ratings = spark.read.format("delta").load(f"{root}/seed/ratings_bronze")
    movies = spark.read.format("delta").load(f"{root}/seed/movies_bronze")
    for key, name in (("userId", "user_mean_count_silver"), ("movieId", "movie_mean_count_silver")):
        (
            ratings.groupBy(key)
            .agg(F.mean("rating").alias("mean"), F.count("rating").alias("count"))
            .orderBy(F.desc("mean"), F.desc("count"))
            .write.format("delta")
            .mode("overwrite")
            .save(f"{root}/seed/{name}")
        )
    (
        ratings.join(movies, "movieId", "left")
        .select("userId", "movieId", "title", "rating")
        .write.format("delta")
        .mode("overwrite")
        .save(f"{root}/seed/user_movie_title_rating")
    )
    lap("silver")

    als = ALS(userCol="userId", itemCol="movieId", ratingCol="rating", rank=10, coldStartStrategy="drop")
    model = als.fit(ratings)
    model.itemFactors.write.format("delta").mode("overwrite").save(f"{root}/seed/als_item_factors")
    lap("als")

    @F.udf(returnType=DoubleType())
    def cosine_similarity(a: list[float], b: list[float]) -> float:
        a, b = np.array(a), np.array(b)
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))

    factors = spark.read.format("delta").load(f"{root}/seed/als_item_factors")
    query = factors.where(F.col("id") == args.movie_id).select("features").collect()[0][0]
    similar = (
        factors.where(F.col("id") != args.movie_id)
        .withColumn("similarity", cosine_similarity(F.col("features"), F.array([F.lit(float(x)) for x in query])))
        .orderBy(F.desc("similarity"))
        .limit(10)
        .join(movies, factors.id == movies.movieId, "left")
        .select("movieId", "title", "genres", "similarity")
    )
    similar.write.mode("overwrite").parquet(f"{root}/seed/results/similar_movies")
    lap("similar_movies")
    times["total"] = time.perf_counter() - started
    spark.stop()
    print(json.dumps({"seed_reference": times}))


if __name__ == "__main__":
    main()
