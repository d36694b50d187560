"""The one rule for a commit that depends on what it read: it is checked against the version it read.

A refresh reads its table (a `Snapshot`: the version, or no table yet), decides from it what to write, and
commits. Whichever engine commits, the commit carries Delta's transaction identifier (`APP_ID`, at the read
version + 1), which Delta Spark and delta-rs both record:

- delta-rs commits on top of the table as read and of no other version (`max_commit_retries=0`);
- Delta Spark skips a write whose identifier is not newer than the table's (another refresh committed after the
  read), or fails it when that commit lands during the write; the skip is seen in the log (`_landed`).

Either way the refresh runs again from the new version (`refresh`), at most MAX_ATTEMPTS times, and never
overwrites what it did not read: two refreshes at once give the rows one gives.
"""

import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from delta.tables import DeltaTable as SparkDeltaTable
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from movie_assets.lake.delta_rs import replace_rows
from movie_assets.lake.delta_tables import CONFLICTS, MissingTableError, session_conf, write_table
from movie_assets.lake.storage import native_uri as uri
from movie_assets.tables import schemas as S

APP_ID = "movie_assets"  # the transaction identifier of every conditional commit, in each table's log
ATTEMPT = "attempt"  # userMetadata: which refresh attempt made a commit
MAX_ATTEMPTS = 8
# Row counts of a MERGE, by Delta Spark's names (delta-rs names them in snake case).
MERGE_METRICS = ("numSourceRows", "numTargetRowsInserted", "numTargetRowsUpdated", "numTargetFilesRemoved")
log = logging.getLogger(__name__)
T = TypeVar("T")


class StaleReadError(RuntimeError):
    """Another writer committed after the version this attempt read; the refresh runs again from the new one."""


class ConcurrentRefreshError(RuntimeError):
    """Other writers committed after each of MAX_ATTEMPTS reads; the message says what to do."""


@dataclass(frozen=True)
class Snapshot:
    """A table as one attempt of a refresh read it: delta-rs's handle at that version, or None (no table yet)."""

    path: str
    name: str
    table: DeltaTable | None
    attempt: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def read(cls, path: str, name: str) -> "Snapshot":
        try:
            return cls(path, name, DeltaTable(uri(path)))
        except TableNotFoundError:
            return cls(path, name, None)

    @property
    def version(self) -> int | None:
        return None if self.table is None else self.table.version()

    @property
    def existing(self) -> DeltaTable:
        if self.table is None:
            raise MissingTableError(self.name, self.path)
        return self.table

    @property
    def txn_version(self) -> int:
        """The identifier's version: newer than any a commit on an earlier read recorded."""
        return 0 if self.version is None else self.version + 1

    def user_metadata(self, metadata: dict[str, Any]) -> str:
        return json.dumps({**metadata, ATTEMPT: self.attempt}, sort_keys=True)


def refresh(path: str, name: str, attempt: Callable[[Snapshot], T], attempts: int = MAX_ATTEMPTS) -> T:
    """`attempt(snapshot)` on the table as it is now; again on the new version when another writer won."""
    for n in range(1, attempts + 1):
        snapshot = Snapshot.read(path, name)
        try:
            return attempt(snapshot)
        except (*CONFLICTS, StaleReadError) as err:
            if n == attempts:
                raise ConcurrentRefreshError(
                    f"{name} was changed by other runs {attempts} times while this run refreshed it: "
                    "run it again when fewer runs write it (its pool limits them to one at a time)."
                ) from err
            pause = min(0.2 * 2**n, 10.0) * random.uniform(0.5, 1.0)
            log.warning(
                "%s: another writer committed after v%s (%s); again in %.1f s", name, snapshot.version, err, pause
            )
            time.sleep(pause)
    raise AssertionError("unreachable")


def _properties(snapshot: Snapshot, metadata: dict[str, Any]) -> CommitProperties:
    return CommitProperties(
        custom_metadata={"userMetadata": snapshot.user_metadata(metadata)},
        max_commit_retries=0,
        app_transactions=[Transaction(APP_ID, snapshot.txn_version)],
    )


def _spark_txn(snapshot: Snapshot, metadata: dict[str, Any]) -> dict[str, str]:
    """Session settings that make the next Delta Spark command a conditional commit (for MERGE)."""
    return {
        "spark.databricks.delta.write.txnAppId": APP_ID,
        "spark.databricks.delta.write.txnVersion": str(snapshot.txn_version),
        "spark.databricks.delta.commitInfo.userMetadata": snapshot.user_metadata(metadata),
    }


def _stale(snapshot: Snapshot, err: Exception | None = None) -> StaleReadError:
    now = DeltaTable(uri(snapshot.path)).version()
    read = "no table" if snapshot.version is None else f"v{snapshot.version}"
    return StaleReadError(f"{snapshot.name} is at v{now}, this attempt read {read}{f' ({err})' if err else ''}")


def _landed(snapshot: Snapshot) -> dict[str, Any]:
    """The commit this attempt made (Delta Spark skips a conditional write silently), or StaleReadError."""
    table = DeltaTable(uri(snapshot.path))
    since = -1 if snapshot.version is None else snapshot.version
    for commit in table.history(table.version() - since):
        if (
            commit["version"] > since
            and json.loads(commit.get("userMetadata") or "{}").get(ATTEMPT) == snapshot.attempt
        ):
            return commit
    raise _stale(snapshot)


def declared(table: str, rows: DataFrame | pa.Table) -> DataFrame | pa.Table:
    """`rows` as the table's declared schema (`schemas.TABLES`: its columns, in order, of its types), whichever
    engine writes them; a table not declared there (a test's) as they are."""
    if table not in S.TABLES:
        return rows
    if isinstance(rows, DataFrame):
        return rows.select([F.col(f.name).cast(f.dataType) for f in S.TABLES[table].fields])
    schema = S.arrow_schema(table)
    return rows.select(schema.names).cast(schema)


def overwrite(snapshot: Snapshot, rows: DataFrame | pa.Table, metadata: dict[str, Any]) -> None:
    """Replace every row (and the schema) of the table as read with `rows`, in one conditional commit."""
    rows = declared(snapshot.name, rows)
    if isinstance(rows, DataFrame):
        writer = rows.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        writer = writer.option("txnAppId", APP_ID).option("txnVersion", snapshot.txn_version)
        writer.option("userMetadata", snapshot.user_metadata(metadata)).save(snapshot.path)
        _landed(snapshot)
        return
    properties = _properties(snapshot, metadata)
    try:
        if snapshot.table is None:  # a table created since the read is not overwritten: "error" fails on one
            write_deltalake(uri(snapshot.path), rows, mode="error", commit_properties=properties)
        else:
            table = snapshot.table
            write_deltalake(table, rows, mode="overwrite", schema_mode="overwrite", commit_properties=properties)
    except CommitFailedError as err:
        raise _stale(snapshot, err) from err
    except DeltaError as err:
        if snapshot.table is None and "already exists" in str(err):  # created by another writer since the read
            raise _stale(snapshot, err) from err
        raise


def merge_condition(keys: list[str], quote: str, range_key: str | None = None, bounds: Any = None) -> str:
    """The MERGE condition over `t` (the table) and `s` (the rows): the same keys, and with `range_key` the target
    bounded to the rows' range of it, so that either engine skips, by file statistics, files that cannot match.
    `quote` is the engine's identifier quote: DataFusion folds unquoted names to lower case."""
    on = " AND ".join(f"t.{quote}{k}{quote} = s.{quote}{k}{quote}" for k in keys)
    if range_key is not None and bounds is not None and bounds[0] is not None:
        column = f"t.{quote}{range_key}{quote}"
        on += f" AND {column} >= {bounds[0]} AND {column} <= {bounds[1]}"
    return on


def merge(
    snapshot: Snapshot,
    rows: DataFrame | pa.Table,
    keys: list[str],
    metadata: dict[str, Any],
    update_when: str | None = None,
    range_key: str | None = None,
) -> dict[str, int]:
    """MERGE `rows` (one per key) into the table as read, in one conditional commit: a matching row is replaced
    (only when `update_when`, SQL over `s` and `t`, holds), a new key inserted. Returns the row counts.

    A DataFrame is merged by Delta Spark, an Arrow table (already in the driver) by delta-rs: the same condition,
    the same change feed, the same counts.
    """
    table, rows = snapshot.existing, declared(snapshot.name, rows)
    if isinstance(rows, DataFrame):
        row = rows.agg(F.min(range_key), F.max(range_key)).first() if range_key else None
        bounds = None if row is None else tuple(row)
        on = merge_condition(keys, "`", range_key, bounds)
        with session_conf(rows.sparkSession, _spark_txn(snapshot, metadata)):
            builder = SparkDeltaTable.forPath(rows.sparkSession, snapshot.path).alias("t").merge(rows.alias("s"), on)
            builder.whenMatchedUpdateAll(condition=update_when).whenNotMatchedInsertAll().execute()
        metrics = _landed(snapshot).get("operationMetrics") or {}
        return {name: int(metrics.get(name, 0)) for name in MERGE_METRICS}
    bounds = tuple(pc.min_max(rows[range_key]).as_py().values()) if range_key and rows.num_rows else None
    try:
        found = (
            table.merge(
                rows if snapshot.name in S.TABLES else rows.cast(table.to_pyarrow_dataset().schema),
                predicate=merge_condition(keys, '"', range_key, bounds),
                source_alias="s",
                target_alias="t",
                commit_properties=_properties(snapshot, metadata),
            )
            .when_matched_update_all(predicate=update_when)
            .when_not_matched_insert_all()
            .execute()
        )
    except CommitFailedError as err:
        raise _stale(snapshot, err) from err
    return {name: int(found.get(_snake(name), 0)) for name in MERGE_METRICS}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


Where = dict[str, list[str] | list[int]]  # column -> the values a replaced row has in it (each column must match)


def _literal(value: str | int, spark: bool) -> str:
    """A value in a predicate: Spark SQL escapes with backslashes, DataFusion doubles the quote."""
    if isinstance(value, int):
        return str(value)
    if spark:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return "'" + value.replace("'", "''") + "'"


def predicate(where: Where, spark: bool) -> str:
    """`where` as the engine's SQL: every column's value among its values."""
    return " AND ".join(
        f"{column} IN ({', '.join(_literal(v, spark) for v in values)})" for column, values in where.items()
    )


def replace_where(path: str, rows: DataFrame | pa.Table, where: Where, metadata: dict[str, Any] | None = None) -> None:
    """Replace the rows that match `where` with `rows` in one commit (creating the table if needed), through the
    engine that holds `rows`; retried when another writer committed first. A blind write: what it replaces is
    named by `where`, not read (bronze's files, an answer's movie ids, the ingest log's files)."""
    if isinstance(rows, DataFrame):
        write_table(rows, path, replace_where=predicate(where, spark=True), user_metadata=metadata)
    else:
        replace_rows(path, rows, predicate=predicate(where, spark=False), user_metadata=metadata)
