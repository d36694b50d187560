"""Which landing file contents are already in bronze: a small Delta table written after each ingestion.

Bronze rows are replaced per source file, so the log only decides what to skip: if a run dies between the
bronze commit and the log commit, the next run ingests those files again and replaces their rows, once.
"""

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from movie_assets import schemas as S
from movie_assets.delta_tables import table_exists, write_table
from movie_assets.frames import local_frame
from movie_assets.ingest import LandingFile

LOG_TABLE = "_ingest_log"
LANDING_FILES = "landing_files"  # bronze's metadata: file name -> SHA-256 of the content it now holds
SOURCE, SHA256, SIZE = "source", "sha256", "size"
COUNTS = ("lines", "header", "blank", "kept", "quarantined")
LOG_SCHEMA = StructType(
    [StructField(SOURCE, StringType()), StructField(S.SOURCE_FILE, StringType()), StructField(SHA256, StringType())]
    + [StructField(SIZE, LongType())]
    + [StructField(c, LongType()) for c in COUNTS]
    + [StructField(S.INGESTED_AT, TimestampType())]
)


def file_sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def sql_string(value: str) -> str:
    """`value` as a Spark SQL string literal (backslash escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def files_predicate(names: list[str]) -> str:
    """Rows from these source files, as SQL."""
    return f"{S.SOURCE_FILE} IN ({', '.join(sql_string(n) for n in names)})"


@dataclass(frozen=True)
class Ingested:
    sha256: str
    kept: int


def ingested(spark: SparkSession, path: str, source: str) -> dict[str, Ingested]:
    """source_file -> the content last ingested from it, and how many of its rows bronze kept."""
    if not table_exists(spark, path):
        return {}
    rows = spark.read.format("delta").load(path).where(F.col(SOURCE) == source).collect()
    return {r[S.SOURCE_FILE]: Ingested(r[SHA256], r["kept"]) for r in rows}


def record(
    spark: SparkSession, path: str, source: str, files: list[LandingFile], accounting: list[dict], full: bool
) -> None:
    """Record what was ingested from each file; a full rebuild replaces the source's whole log."""
    now = datetime.now(UTC).replace(tzinfo=None)
    counts = {row[S.SOURCE_FILE]: row for row in accounting}
    rows = [
        {
            SOURCE: source,
            S.SOURCE_FILE: f.name,
            SHA256: f.sha256,
            SIZE: f.size,
            **{c: int(counts.get(f.name, {}).get(c, 0)) for c in COUNTS},
            S.INGESTED_AT: now,
        }
        for f in files
    ]
    where = f"{SOURCE} = {sql_string(source)}"
    if not full:
        where += " AND " + files_predicate([f.name for f in files])
    write_table(local_frame(spark, rows, LOG_SCHEMA), path, replace_where=where)
