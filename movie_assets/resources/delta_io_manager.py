"""Stores each asset's Spark DataFrame as the Delta table delta/<asset_name>/ under the data root.

Every asset and check reads another asset's table through this IO manager: as a DataFrame, or as a
`TableRef` (name, path, version) when its input is declared with `AS_REF`, for steps that read the table's
change history rather than its rows; an input typed `DataFrame | None` gets None while the table is missing.
"""

import dagster as dg
from dagster._core.types.dagster_type import DagsterTypeKind
from pyspark.sql import DataFrame

from movie_assets.delta_tables import (
    MissingTableError,
    TableRef,
    read_table,
    table_metadata,
    table_version,
    write_table,
)
from movie_assets.progress import spark_progress
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import DeltaSparkResource

PREVIEW_ROWS_KEY = "preview_rows"
LOAD_AS_KEY = "load_as"
AS_REF = {LOAD_AS_KEY: "ref"}


class DeltaTableIOManager(dg.ConfigurableIOManager):
    """Writes a DataFrame as one Delta commit and reads it back for downstream assets and checks."""

    lakehouse: Lakehouse
    pyspark: DeltaSparkResource

    def _path(self, context: dg.OutputContext | dg.InputContext) -> str:
        return self.lakehouse.table_path(context.asset_key.path[-1])

    def handle_output(self, context: dg.OutputContext, obj: DataFrame) -> None:
        path = self._path(context)
        with spark_progress(context.log, self.pyspark.spark_context, f"writing {context.asset_key.to_user_string()}"):
            write_table(obj, path)
        preview = int((context.definition_metadata or {}).get(PREVIEW_ROWS_KEY, 0))
        context.add_output_metadata(table_metadata(self.pyspark.spark_session, path, preview_rows=preview))

    def load_input(self, context: dg.InputContext) -> DataFrame | TableRef | None:
        spark, name, path = self.pyspark.spark_session, context.asset_key.to_user_string(), self._path(context)
        load_as = (context.definition_metadata or {}).get(LOAD_AS_KEY)
        try:
            frame = read_table(spark, path, name)
        except MissingTableError as err:
            if context.dagster_type.kind == DagsterTypeKind.NULLABLE:  # an input typed `DataFrame | None`
                return None
            raise dg.Failure(str(err)) from None
        if load_as == "ref":
            return TableRef(name, path, table_version(spark, path))
        return frame
