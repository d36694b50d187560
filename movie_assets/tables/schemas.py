"""Column names and schemas of every table, in one place: each table's schema is declared once (`TABLES`),
written by either engine (`lake.commits` casts to it) and shown in the UI before anything is materialized."""

import dagster as dg
import pyarrow as pa
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from movie_assets.tables import keys

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


# The key of ratings_silver and user_movie_title_rating: one row per pair. Both engines' MERGE conditions, Spark's
# window and the uniqueness check are rendered from it.
RATING_KEY = (USER_ID, MOVIE_ID)

# DLT's APPLY CHANGES ... SEQUENCE BY timestamp, made total: of two ratings of one (userId, movieId), the later
# is the one greater by these columns in turn. Spark's window (`transforms.latest_ratings`) and the MERGE
# condition of either engine (`ratings.later`) are rendered from it.
LATER_WINS = (TIMESTAMP, SOURCE_FILE, RATING)

_LANDED = [StructField(SOURCE_FILE, StringType()), StructField(INGESTED_AT, TimestampType())]
RATINGS_BRONZE_SCHEMA = StructType([*RATINGS_CSV_SCHEMA.fields, *_LANDED])
MOVIES_BRONZE_SCHEMA = StructType([*MOVIES_CSV_SCHEMA.fields, *_LANDED])
QUARANTINE_SCHEMA = StructType(
    [
        StructField(SOURCE_FILE, StringType()),
        StructField(RAW_LINE, StringType()),
        StructField(REASON, StringType()),
        StructField(INGESTED_AT, TimestampType()),
    ]
)
RATINGS_SILVER_SCHEMA = StructType([*RATINGS_CSV_SCHEMA.fields, StructField(SOURCE_FILE, StringType())])
USER_MOVIE_TITLE_RATING_SCHEMA = StructType(
    [
        StructField(USER_ID, IntegerType()),
        StructField(MOVIE_ID, IntegerType()),
        StructField(TITLE, StringType()),
        StructField(RATING, DoubleType()),
    ]
)
ALS_ITEM_FACTORS_SCHEMA = StructType([*ITEM_FACTORS_SCHEMA.fields, StructField(COUNT, LongType())])


def mean_count_schema(key: str) -> StructType:
    return StructType(
        [StructField(key, IntegerType()), StructField(MEAN, DoubleType()), StructField(COUNT, LongType())]
    )


TABLES: dict[str, StructType] = {
    keys.RATINGS_BRONZE: RATINGS_BRONZE_SCHEMA,
    keys.RATINGS_QUARANTINE: QUARANTINE_SCHEMA,
    keys.MOVIES_BRONZE: MOVIES_BRONZE_SCHEMA,
    keys.MOVIES_QUARANTINE: QUARANTINE_SCHEMA,
    keys.RATINGS_SILVER: RATINGS_SILVER_SCHEMA,
    keys.USER_MEAN_COUNT_SILVER: mean_count_schema(USER_ID),
    keys.MOVIE_MEAN_COUNT_SILVER: mean_count_schema(MOVIE_ID),
    keys.USER_MOVIE_TITLE_RATING: USER_MOVIE_TITLE_RATING_SCHEMA,
    keys.ALS_ITEM_FACTORS: ALS_ITEM_FACTORS_SCHEMA,
    keys.MOVIE_NEIGHBORS: MOVIE_NEIGHBORS_SCHEMA,
    keys.SIMILAR_MOVIES: SIMILAR_MOVIES_SCHEMA,
}


def arrow_schema(table: str) -> pa.Schema:
    """The table's declared schema as Arrow types (what delta-rs reads and writes)."""
    return to_arrow_schema(TABLES[table], timezone="UTC")


def type_name(data_type: pa.DataType) -> str:
    """An Arrow type as the UI shows it; a list's element named neither `item` (Arrow) nor `element` (Delta)."""
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return f"list<{type_name(data_type.value_type)}>"
    return str(data_type)


def table_schema(schema: pa.Schema) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name=f.name, type=type_name(f.type)) for f in schema])


def column_schema(table: str) -> dict[str, dg.TableSchema]:
    """The table's declared columns as an asset's definition metadata: the UI shows them before any run."""
    return {"dagster/column_schema": table_schema(arrow_schema(table))}


def header_of(schema: StructType) -> list[str]:
    """The CSV header a landing file of this schema must carry."""
    return [field.name for field in schema.fields]
