"""Writing Delta tables in one transaction, and the metadata every materialization carries."""

from typing import Any

import dagster as dg
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType


class MissingTableError(LookupError):
    """A table that a step needs has not been materialized."""


def table_exists(spark: SparkSession, path: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path)


def read_table(spark: SparkSession, path: str, name: str) -> DataFrame:
    """The table at `path`, or an error that says to materialize `name` first."""
    if not table_exists(spark, path):
        raise MissingTableError(f"{name} is not materialized yet (no Delta table at {path}): materialize {name} first.")
    return spark.read.format("delta").load(path)


def write_table(df: DataFrame, path: str, replace_where: str | None = None) -> None:
    """Overwrite the table (or only the rows matching `replace_where`) as one Delta commit."""
    writer = df.write.format("delta").mode("overwrite")
    if replace_where is None:
        writer = writer.option("overwriteSchema", "true")
    else:
        writer = writer.option("replaceWhere", replace_where)
    writer.save(path)


def table_version(spark: SparkSession, path: str) -> int:
    return DeltaTable.forPath(spark, path).history(1).first()["version"]


def column_schema(schema: StructType) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=f.name, type=f.dataType.simpleString(), constraints=None) for f in schema.fields]
    )


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        if isinstance(value, list):  # factor vectors
            return "[" + ", ".join(cell(v) for v in value) + "]"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def table_metadata(
    spark: SparkSession, path: str, preview_rows: int = 0, row_count: int | None = None
) -> dict[str, Any]:
    """Row count, URI, schema and Delta version of the table as just committed, plus an optional preview."""
    table = spark.read.format("delta").load(path)
    rows = table.count() if row_count is None else row_count
    metadata: dict[str, Any] = {
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/uri": dg.MetadataValue.path(path),
        "dagster/column_schema": column_schema(table.schema),
        "delta_version": dg.MetadataValue.int(table_version(spark, path)),
    }
    if preview_rows:
        head = [r.asDict() for r in table.limit(preview_rows).collect()]
        metadata["preview"] = dg.MetadataValue.md(markdown_table(head, table.columns))
    return metadata
