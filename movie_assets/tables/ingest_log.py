"""Which landing file contents are already in bronze: a small Delta table written after each ingestion.

Bronze rows are replaced per source file, so the log only decides what to skip: if a run dies between the
bronze commit and the log commit, the next run ingests those files again and replaces their rows, once.
The log is a few rows per landing file, read and written with delta-rs: milliseconds, where a Spark job on a
small table takes about a second.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from movie_assets.lake import commits
from movie_assets.lake.delta_rs import open_table
from movie_assets.lake.delta_tables import MissingTableError
from movie_assets.tables import schemas as S
from movie_assets.tables.ingest import SOURCES, LandingFile

LOG_TABLE = "_ingest_log"
SOURCE, SHA256, SIZE = "source", "sha256", "size"
COUNTS = ("lines", "header", "blank", "kept", "quarantined")
LOG_SCHEMA = pa.schema(
    [(SOURCE, pa.string()), (S.SOURCE_FILE, pa.string()), (SHA256, pa.string()), (SIZE, pa.int64())]
    + [(c, pa.int64()) for c in COUNTS]
    + [(S.INGESTED_AT, pa.timestamp("us", tz="UTC"))]
)


@dataclass(frozen=True)
class Ingested:
    sha256: str
    kept: int


def ingested(path: str, source: str) -> dict[str, Ingested]:
    """source_file -> the content last ingested from it, and how many of its rows bronze kept."""
    try:
        dataset = open_table(path, LOG_TABLE).to_pyarrow_dataset()
    except MissingTableError:
        return {}
    rows = dataset.to_table(columns=[S.SOURCE_FILE, SHA256, "kept"], filter=pc.field(SOURCE) == source).to_pylist()
    return {r[S.SOURCE_FILE]: Ingested(r[SHA256], r["kept"]) for r in rows}


def held(path: str) -> dict[str, str]:
    """File name -> SHA-256 of the content bronze holds from it, of every source: what the sensor skips."""
    return {name: entry.sha256 for source in SOURCES for name, entry in ingested(path, source.name).items()}


def record(path: str, source: str, files: list[LandingFile], accounting: list[dict], full: bool) -> None:
    """Record what was ingested from each file; a full rebuild replaces the source's whole log."""
    now = datetime.now(UTC)
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
    where: commits.Where = {SOURCE: [source]} if full else {SOURCE: [source], S.SOURCE_FILE: [f.name for f in files]}
    commits.replace_where(path, pa.Table.from_pylist(rows, LOG_SCHEMA), where)
