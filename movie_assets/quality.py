"""Data-quality measurements behind the asset checks: plain functions over DataFrames (Arrow tables for the
small serving tables), returning counts."""

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from movie_assets import schemas as S


def reason_counts(quarantine: DataFrame) -> dict[str, int]:
    rows = quarantine.groupBy(S.REASON).count().orderBy(F.desc("count"), S.REASON).collect()
    return {r[S.REASON]: r["count"] for r in rows}


def duplicate_keys(df: DataFrame, key: str) -> int:
    return df.groupBy(key).count().where(F.col("count") > 1).count()


def unknown_movies(ratings: DataFrame, movies: DataFrame) -> tuple[int, int]:
    """Ratings whose movieId has no row in movies: (rows, distinct movie ids)."""
    orphans = ratings.join(movies.select(S.MOVIE_ID), S.MOVIE_ID, "left_anti")
    row = orphans.agg(F.count("*").alias("rows"), F.countDistinct(S.MOVIE_ID).alias("movies")).first()
    return row["rows"], row["movies"]


def mean_count_violations(df: DataFrame) -> dict[str, int]:
    row = df.agg(
        F.sum(((F.col(S.MEAN) < 0.5) | (F.col(S.MEAN) > 5.0) | F.isnan(S.MEAN)).cast("long")).alias(
            "mean_out_of_range"
        ),
        F.sum((F.col(S.COUNT) <= 0).cast("long")).alias("count_not_positive"),
        F.count("*").alias("rows"),
    ).first()
    return {k: int(row[k] or 0) for k in ("mean_out_of_range", "count_not_positive", "rows")}


def factor_violations(factors: DataFrame, ratings: DataFrame) -> dict[str, int]:
    bad = F.exists(S.FEATURES, lambda x: F.isnan(x) | x.isNull())
    row = factors.agg(
        F.count("*").alias("rows"),
        F.countDistinct(S.MOVIE_ID).alias("movies"),
        F.sum(bad.cast("long")).alias("rows_with_nan"),
    ).first()
    return {
        "rows": row["rows"],
        "distinct_movies": row["movies"],
        "rows_with_nan": int(row["rows_with_nan"] or 0),
        "rated_movies": ratings.select(S.MOVIE_ID).distinct().count(),
    }


def answer_violations(answers: pa.Table) -> dict[str, int]:
    """Each movie id's ranks run 1..n with no gaps, never naming the movie itself, similarities within [-1, 1]."""
    per_movie = answers.group_by(S.QUERY_MOVIE_ID).aggregate(
        [(S.RANK, "count"), (S.RANK, "min"), (S.RANK, "max"), (S.RANK, "count_distinct")]
    )
    n, lo, hi = (per_movie.column(f"{S.RANK}_{f}") for f in ("count", "min", "max"))
    distinct = per_movie.column(f"{S.RANK}_count_distinct")
    gaps = pc.or_(pc.or_(pc.not_equal(lo, 1), pc.not_equal(hi, n)), pc.not_equal(distinct, n))
    out_of_range = pc.greater(pc.abs(answers.column(S.SIMILARITY)), 1.0 + 1e-9)
    self_answers = pc.equal(answers.column(S.QUERY_MOVIE_ID), answers.column(S.SIMILAR_MOVIE_ID))
    return {
        "movie_ids": per_movie.num_rows,
        "movie_ids_with_rank_gaps": _true(gaps),
        "similarity_out_of_range": _true(out_of_range),
        "self_answers": _true(self_answers),
    }


def _true(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.sum(mask.cast(pa.int64())).as_py() or 0)


def files_with_reasons(quarantine: DataFrame, limit: int = 20) -> list[str]:
    """The files that have quarantined lines, with their counts, at most `limit` of them."""
    rows = quarantine.groupBy(S.SOURCE_FILE).count().orderBy(F.desc("count"), S.SOURCE_FILE).limit(limit).collect()
    return [f"{r[S.SOURCE_FILE]} ({r['count']})" for r in rows]


def duplicate_pairs(ratings: DataFrame) -> dict[str, int]:
    pairs = ratings.groupBy(S.USER_ID, S.MOVIE_ID).count()
    row = pairs.agg(F.count("*").alias("pairs"), F.sum((F.col("count") > 1).cast("long")).alias("dup")).first()
    return {"pairs": int(row["pairs"]), "duplicate_pairs": int(row["dup"] or 0)}
