"""Delta tables: one-transaction writes that retry when another run committed first, and their metadata."""

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import delta.exceptions
import deltalake.exceptions
from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession

# Delta's optimistic concurrency: a commit that lost the race to another writer raises one of these (Delta
# Spark's documented list, and delta-rs's one), and the whole operation (re-reading the table) can be tried again.
CONFLICTS = (
    *(getattr(delta.exceptions, name) for name in delta.exceptions.__all__),
    deltalake.exceptions.CommitFailedError,
)
MAX_ATTEMPTS = 8
MAINTENANCE = {"OPTIMIZE", "VACUUM START", "VACUUM END"}  # commits that rewrite files but change no rows
MAX_CELL_CHARS = 500  # a Markdown cell longer than this is cut (the table itself keeps the whole value)
log = logging.getLogger(__name__)
T = TypeVar("T")


class CreationRaceError(RuntimeError):
    """Another writer was creating the same table at the same moment; the next try finds it created."""


class MissingTableError(LookupError):
    """A table that a step needs has not been materialized."""

    def __init__(self, name: str, path: str) -> None:
        super().__init__(f"{name} is not materialized yet (no Delta table at {path}): materialize {name} first.")


@dataclass(frozen=True)
class TableRef:
    """A table as an input at the version the run saw: for steps that read its history, not only its rows."""

    name: str
    path: str
    version: int

    def read(self, spark: SparkSession) -> DataFrame:
        """The table's rows at `version`."""
        return spark.read.format("delta").option("versionAsOf", self.version).load(self.path)


def retrying_conflicts(operation: Callable[[], T], what: str, attempts: int = MAX_ATTEMPTS) -> T:
    """Run `operation` (one Delta commit), again after a bounded, jittered backoff when another writer won."""
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except (*CONFLICTS, CreationRaceError) as err:
            if attempt == attempts:
                raise
            pause = min(0.2 * 2**attempt, 10.0) * random.uniform(0.5, 1.0)
            log.warning(
                "%s: a concurrent commit won (%s); retry %d in %.1f s", what, type(err).__name__, attempt, pause
            )
            time.sleep(pause)
    raise AssertionError("unreachable")


def table_exists(spark: SparkSession, path: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path)


def read_table(spark: SparkSession, path: str, name: str) -> DataFrame:
    """The table at `path`, or an error that says to materialize `name` first."""
    if not table_exists(spark, path):
        raise MissingTableError(name, path)
    return spark.read.format("delta").load(path)


def write_table(
    df: DataFrame, path: str, replace_where: str | None = None, user_metadata: dict[str, Any] | None = None
) -> None:
    """Overwrite the table (or only the rows matching `replace_where`) as one Delta commit, retried on conflict.

    With `replace_where`, a missing table is first created empty with `df`'s schema (a commit of its own, which
    concurrent creators race for and retry), so that no writer ever replaces the whole table by mistake. The
    empty table runs no job on `df`, so an `Observation` on it is fulfilled by the write itself.
    """
    spark = df.sparkSession

    def commit() -> None:
        writer = df.write.format("delta").mode("overwrite")
        if replace_where is None:
            writer = writer.option("overwriteSchema", "true")
        else:
            if not table_exists(spark, path):
                try:
                    spark.createDataFrame([], df.schema).write.format("delta").mode("append").save(path)
                except AnalysisException as err:
                    if err.getCondition() != "DELTA_TABLE_NOT_FOUND":
                        raise
                    raise CreationRaceError(f"{path} is being created by another writer") from err
            writer = writer.option("replaceWhere", replace_where)
        if user_metadata is not None:
            writer = writer.option("userMetadata", json.dumps(user_metadata, sort_keys=True))
        writer.save(path)

    retrying_conflicts(commit, f"writing {path}")


@contextmanager
def session_conf(spark: SparkSession, settings: dict[str, str]) -> Iterator[None]:
    """Spark session settings for the operations inside only; afterwards each is as it was (or unset)."""
    before: dict[str, str | None] = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, was in before.items():
            if was is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, was)


def table_version(spark: SparkSession, path: str) -> int:
    last = DeltaTable.forPath(spark, path).history(1).first()
    if last is None:
        raise MissingTableError(path, path)
    return int(last["version"])


def markdown_table(rows: list[dict[str, Any]], columns: list[str], max_chars: int = MAX_CELL_CHARS) -> str:
    """Rows as a Markdown table; floats to 4 places, each cell cut to `max_chars` so metadata stays small."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        if isinstance(value, list):  # factor vectors
            return "[" + ", ".join(cell(v) for v in value) + "]"
        text = str(value)
        if len(text) > max_chars:
            text = f"{text[:max_chars]}… ({len(text):,} characters)"
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
