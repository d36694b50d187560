"""Column names and schemas of every table, in one place."""

from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    FloatType,
    IntegerType,
    StringType,
    StructField,
    StructType,
)

USER_ID = "userId"
MOVIE_ID = "movieId"
RATING = "rating"
TIMESTAMP = "timestamp"
TITLE = "title"
GENRES = "genres"
MEAN = "mean"
COUNT = "count"
FEATURES = "features"
SOURCE_FILE = "source_file"
INGESTED_AT = "ingested_at"

# Similar-movies answers.
QUERY_MOVIE_ID = "movie_id"
RANK = "rank"
SIMILAR_MOVIE_ID = "similar_movie_id"
SIMILARITY = "similarity"

# Quarantine.
RAW_LINE = "raw_line"
REASON = "reason"

RATINGS_CSV_SCHEMA = StructType(
    [
        StructField(USER_ID, IntegerType()),
        StructField(MOVIE_ID, IntegerType()),
        StructField(RATING, DoubleType()),
        StructField(TIMESTAMP, IntegerType()),
    ]
)
MOVIES_CSV_SCHEMA = StructType(
    [
        StructField(MOVIE_ID, IntegerType()),
        StructField(TITLE, StringType()),
        StructField(GENRES, StringType()),
    ]
)
ITEM_FACTORS_SCHEMA = StructType([StructField(MOVIE_ID, IntegerType()), StructField(FEATURES, ArrayType(FloatType()))])

SIMILAR_MOVIES_SCHEMA = StructType(
    [
        StructField(QUERY_MOVIE_ID, IntegerType()),
        StructField(RANK, IntegerType()),
        StructField(SIMILAR_MOVIE_ID, IntegerType()),
        StructField(TITLE, StringType()),
        StructField(GENRES, StringType()),
        StructField(SIMILARITY, DoubleType()),
    ]
)

MOVIE_NEIGHBORS_SCHEMA = StructType(
    [
        StructField(QUERY_MOVIE_ID, IntegerType()),
        StructField(RANK, IntegerType()),
        StructField(SIMILAR_MOVIE_ID, IntegerType()),
        StructField(SIMILARITY, DoubleType()),
    ]
)


def header_of(schema: StructType) -> list[str]:
    """The CSV header a landing file of this schema must carry."""
    return [field.name for field in schema.fields]
