"""Small Delta tables without a JVM: the serving steps read and write them with delta-rs (`deltalake`).

An answer reads a few rows of four tables and writes k rows: delta-rs does that in milliseconds, where a Spark
session alone takes seconds to start. The protocol is Delta's, so Spark reads what delta-rs writes, and a commit
that loses a race to another writer is retried like any other (`delta_tables.retrying_conflicts`).
"""

import json
from collections.abc import Iterable
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, QueryBuilder, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from movie_assets.lake.delta_tables import MAINTENANCE, MissingTableError, TableRef, markdown_table, retrying_conflicts
from movie_assets.lake.storage import native_uri as uri
from movie_assets.tables import schemas as S

FEED_ERRORS = (DeltaError, OSError)  # reading a change feed that is off for the range, or vacuumed


def open_table(path: str, name: str) -> DeltaTable:
    """The table at `path` as of now, or MissingTableError saying to materialize `name` first."""
    try:
        return DeltaTable(uri(path))
    except TableNotFoundError:
        raise MissingTableError(name, path) from None


def has_table(path: str) -> bool:
    """Whether a Delta table is at `path`, from its log (no Spark job: Spark's check costs seconds in a fresh JVM)."""
    try:
        DeltaTable(uri(path))
    except TableNotFoundError:
        return False
    return True


def rows_where(table: DeltaTable, column: str, values: Iterable[int], columns: list[str] | None = None) -> pa.Table:
    """`columns` (default all) of the rows whose `column` is one of `values` (file statistics skip other files)."""
    dataset = table.to_pyarrow_dataset()
    wanted = pa.array(sorted(set(values)), type=dataset.schema.field(column).type)
    return dataset.to_table(columns=columns, filter=pc.field(column).isin(wanted))


def row_count(table: DeltaTable) -> int:
    """The table's rows as opened, from each file's statistics in the log (a file without them: its footer)."""
    counts = pa.table(table.get_add_actions(flatten=True)).column("num_records").to_pylist()
    return sum(counts) if None not in counts else table.to_pyarrow_dataset().count_rows()


def sql(query: str, **tables: DeltaTable) -> list[dict[str, Any]]:
    """The rows of a DataFusion SQL `query` over `tables` (by the names it uses), as opened: no JVM, every core.

    DataFusion folds unquoted names to lower case: quote the camelCase columns ("userId").
    """
    builder = QueryBuilder()
    for name, table in tables.items():
        builder = builder.register(name, table)
    rows: list[dict[str, Any]] = pa.table(builder.execute(query).read_all()).to_pylist()
    return rows


def data_version(table: DeltaTable) -> tuple[int, dict[str, Any]]:
    """The version and `userMetadata` of the table's last commit, up to the version it was opened at, that changed
    rows (maintenance changes none). A table opened at an older version lists the log's newest commits, numbered
    from its own version down: the history is read from the log as it is now, and the newer commits passed over."""
    now = DeltaTable(table.table_uri)
    for commit in now.history(limit=now.version() - table.version() + 50):
        if commit["version"] <= table.version() and commit.get("operation") not in MAINTENANCE:
            text = commit.get("userMetadata")
            return int(commit["version"]), json.loads(text) if text else {}
    return table.version(), {}


def data_commits(table: TableRef, since: int) -> list[dict[str, Any]]:
    """The commits of `table` after version `since`, up to the version the run saw, that changed rows (OPTIMIZE
    and VACUUM skipped), from the log: no data is read."""
    log = open_table(table.path, table.name)
    return [
        commit
        for commit in log.history(log.version() - since)
        if since < commit["version"] <= table.version and commit.get("operation") not in MAINTENANCE
    ]


def table_rows(table: TableRef, columns: list[str]) -> pa.Table:
    """`columns` of every row of `table` at the version the run saw, into the driver (small tables only)."""
    return DeltaTable(uri(table.path), version=table.version).to_pyarrow_table(columns=columns)


def commit_metric(commit: dict[str, Any], spark_name: str, rs_name: str) -> int | None:
    """An operation metric of a commit, which Delta Spark and delta-rs name differently; None when missing."""
    metrics = commit.get("operationMetrics") or {}
    value = metrics.get(spark_name, metrics.get(rs_name))
    return None if value is None else int(value)


def change_feed(table: TableRef, since: int, columns: list[str]) -> pa.Table:
    """`columns` of Delta's change data feed of `table` after version `since`, up to the version the run saw,
    read by delta-rs into the driver (for a few thousand changed rows, where Spark's reader runs jobs).

    Raises DeltaError or OSError when the feed is off for that range or VACUUM removed its files. Columns come
    as Spark takes them: delta-rs gives string views and an unsigned `_commit_version`, which Spark refuses.
    """
    quoted = [f'"{c}"' for c in columns]  # DataFusion folds unquoted names to lower case
    feed = pa.table(open_table(table.path, table.name).load_cdf(since + 1, table.version, columns=quoted))
    as_spark = {pa.string_view(): pa.string(), pa.uint64(): pa.int64()}
    return feed.cast(pa.schema([pa.field(f.name, as_spark.get(f.type, f.type)) for f in feed.schema]))


def replace_rows(
    path: str, rows: pa.Table, predicate: str | None = None, user_metadata: dict[str, Any] | None = None
) -> None:
    """Replace the rows matching `predicate` (all rows without one) with `rows` in one commit, creating the table
    if needed; `user_metadata` is stored as the commit's `userMetadata`."""
    properties = CommitProperties(custom_metadata={"userMetadata": json.dumps(user_metadata or {}, sort_keys=True)})

    def commit() -> None:
        if predicate is None:
            write_deltalake(uri(path), rows, mode="overwrite", schema_mode="overwrite", commit_properties=properties)
        else:
            write_deltalake(uri(path), rows, mode="overwrite", predicate=predicate, commit_properties=properties)

    retrying_conflicts(commit, f"writing {path}")


def table_metadata(path: str, name: str, preview_rows: int = 0) -> dict[str, Any]:
    """Row count, URI, schema and version of the table at `path` as just committed, plus an optional preview.

    The log answers all but the preview (each file's row count is in its statistics) in milliseconds, with no
    Spark job: every table's materialization records this, so it is read here whichever engine wrote the table.
    """
    table = open_table(path, name)
    dataset = table.to_pyarrow_dataset()
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(row_count(table)),
        "dagster/uri": dg.MetadataValue.path(path),
        "dagster/column_schema": S.table_schema(dataset.schema),
        "delta_version": dg.MetadataValue.int(table.version()),
        "delta_files": dg.MetadataValue.int(len(table.file_uris())),
    }
    if preview_rows:
        head = first_rows(dataset, preview_rows)
        metadata["preview"] = dg.MetadataValue.md(markdown_table(head, dataset.schema.names))
    return metadata


def first_rows(dataset: pds.FileSystemDataset, n: int) -> list[dict[str, Any]]:
    """The first `n` rows of the table's files in order, as the table's schema types them.

    Read a batch of `n` rows at a time from each file: a dataset's `head` decodes whole row groups and reads
    ahead (0.3-4.6 s for the 25M tables; this takes milliseconds). Spark writes timestamps as INT96, which Arrow
    reads without a time zone: each column is cast to the table's type.
    """
    rows: list[dict[str, Any]] = []
    for fragment in dataset.get_fragments():
        with dataset.filesystem.open_input_file(fragment.path) as handle:
            batch = next(pq.ParquetFile(handle).iter_batches(batch_size=n - len(rows)), None)
        if batch is None:
            continue
        columns = [
            batch.column(f.name).cast(f.type) if f.name in batch.schema.names else pa.nulls(batch.num_rows, f.type)
            for f in dataset.schema
        ]
        rows += pa.Table.from_arrays(columns, schema=dataset.schema).to_pylist()
        if len(rows) >= n:
            break
    return rows
