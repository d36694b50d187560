"""DataFrames from data held by the driver, through Arrow: no Python workers, no row-by-row pickling."""

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import StructType


def local_frame(
    spark: SparkSession, data: Sequence[Mapping[str, Any]] | Mapping[str, Any], schema: StructType
) -> DataFrame:
    """Rows (a list of dicts) or columns (a dict of arrays or lists) as a DataFrame of exactly `schema`."""
    arrow_schema = to_arrow_schema(schema, timezone="UTC")
    if isinstance(data, Mapping):
        table = pa.Table.from_pydict(dict(data), schema=arrow_schema)
    else:
        table = pa.Table.from_pylist(list(data), schema=arrow_schema)
    return spark.createDataFrame(table, schema)
