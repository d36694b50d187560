"""The silver transforms: plain DataFrame functions, callable without Dagster."""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from movie_assets import schemas as S
from movie_assets.frames import local_frame

# Up to this many landing files, a row's file rank is found in a literal array (a scan of the names per row);
# beyond, through a broadcast join (a hash lookup per row). Deduplicating 25M ratings to noop, side by side:
# one file 12.6-16.7 s by the array, 14.4-18.6 s by the join; 1,000 files 46-51 s by the array, 14-18 s by the
# join.
FILES_IN_A_LITERAL = 32
_FILE_RANK = "_file_rank"
_FILE_RANKS = StructType([StructField(S.SOURCE_FILE, StringType()), StructField(_FILE_RANK, LongType())])


def latest_ratings(ratings: DataFrame, user_ranges: int | None = None) -> DataFrame:
    """One rating per (userId, movieId): the latest timestamp wins, then the later file name, then the higher rating.

    Returns (userId, movieId, rating, timestamp, source_file): RATINGS_SILVER_SCHEMA. With `user_ranges`, the
    rows are shuffled once, into that many partitions by ranges of userId (the aggregation reuses them), so a
    write makes files whose userIds do not overlap and a MERGE for a few users finds few files to read.

    The order is packed into one long (timestamp, rank of the file name, rating in half stars) so that Spark
    aggregates by hashing instead of sorting every row by a struct.
    """
    files = sorted(r[0] for r in ratings.select(S.SOURCE_FILE).distinct().collect())
    if len(files) >= 1 << 16:
        raise ValueError(f"{len(files)} ratings files in bronze: at most 65535 can be ordered; merge some of them.")
    names = F.array(*[F.lit(f) for f in files])
    if len(files) <= FILES_IN_A_LITERAL:
        file_rank = F.coalesce(F.array_position(names, F.col(S.SOURCE_FILE)), F.lit(0))
    else:
        ranks = local_frame(
            ratings.sparkSession, {S.SOURCE_FILE: files, _FILE_RANK: list(range(1, len(files) + 1))}, _FILE_RANKS
        )
        ratings = ratings.join(F.broadcast(ranks), S.SOURCE_FILE, "left")
        file_rank = F.coalesce(F.col(_FILE_RANK), F.lit(0))
    half_stars = F.round(F.col(S.RATING) * 2).cast("long")  # bronze ratings are 1..10 half stars: 4 bits
    packed = F.shiftleft(F.col(S.TIMESTAMP).cast("long"), 20) + F.shiftleft(file_rank, 4) + half_stars
    rows = ratings.repartitionByRange(user_ranges, S.USER_ID) if user_ranges else ratings
    latest = rows.groupBy(S.USER_ID, S.MOVIE_ID).agg(F.max(packed).alias("_latest"))
    rank = F.shiftright("_latest", 4).bitwiseAND((1 << 16) - 1).cast("int")
    return latest.select(
        S.USER_ID,
        S.MOVIE_ID,
        (F.col("_latest").bitwiseAND(15) / 2.0).alias(S.RATING),
        F.shiftright("_latest", 20).cast("int").alias(S.TIMESTAMP),
        F.when(rank > 0, F.element_at(names, rank)).alias(S.SOURCE_FILE),
    )


def mean_count(ratings: DataFrame, key: str) -> DataFrame:
    """Mean and count of ratings per `key`, ordered by mean desc, count desc (then key, for a stable order)."""
    return (
        ratings.groupBy(key)
        .agg(F.avg(S.RATING).alias(S.MEAN), F.count(S.RATING).alias(S.COUNT))
        .orderBy(F.desc(S.MEAN), F.desc(S.COUNT), F.asc(key))
    )


def ratings_with_titles(ratings: DataFrame, movies: DataFrame) -> DataFrame:
    """Every rating, left-joined to its movie's title (null when the movie is unknown)."""
    titles = movies.select(S.MOVIE_ID, S.TITLE)
    return ratings.join(titles, on=S.MOVIE_ID, how="left").select(S.USER_ID, S.MOVIE_ID, S.TITLE, S.RATING)
