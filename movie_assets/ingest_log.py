"""Which landing file contents are already in bronze: a small Delta table written after each ingestion.

Bronze rows are replaced per source file, so the log only decides what to skip: if a run dies between the
bronze commit and the log commit, the next run ingests those files again and replaces their rows, once.
"""

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from movie_assets import schemas as S
from movie_assets.delta_tables import table_exists, write_table
from movie_assets.frames import local_frame

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
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def files_predicate(names: list[str]) -> str:
    """Rows from these source files, as SQL (landing_files refuses names that would need escaping)."""
    return f"{S.SOURCE_FILE} IN ({', '.join(repr(n) for n in names)})"


def ingested(spark: SparkSession, path: str, source: str) -> dict[str, str]:
    """source_file -> sha256 of the content last ingested from it."""
    if not table_exists(spark, path):
        return {}
    rows = spark.read.format("delta").load(path).where(F.col(SOURCE) == source).select(S.SOURCE_FILE, SHA256).collect()
    return {r[S.SOURCE_FILE]: r[SHA256] for r in rows}


def record(
    spark: SparkSession, path: str, source: str, files: dict[str, tuple[str, str]], accounting: list[dict], full: bool
) -> None:
    """Record what was ingested from each file; a full rebuild replaces the source's whole log."""
    now = datetime.now(UTC).replace(tzinfo=None)
    counts = {row[S.SOURCE_FILE]: row for row in accounting}
    rows = [
        {
            SOURCE: source,
            S.SOURCE_FILE: name,
            SHA256: sha,
            SIZE: Path(file).stat().st_size,
            **{c: int(counts.get(name, {}).get(c, 0)) for c in COUNTS},
            S.INGESTED_AT: now,
        }
        for file, (name, sha) in files.items()
    ]
    where = f"{SOURCE} = '{source}'"
    if not full:
        where += " AND " + files_predicate([name for name, _ in files.values()])
    log = local_frame(spark, rows, LOG_SCHEMA)
    write_table(log, path, replace_where=where if table_exists(spark, path) else None)
