"""Stores each asset's Spark DataFrame as the Delta table delta/<asset_name>/ under the data root."""

import dagster as dg
from pyspark.sql import DataFrame

from movie_assets.delta_tables import MissingTableError, read_table, table_metadata, write_table
from movie_assets.progress import spark_progress
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import DeltaSparkResource

PREVIEW_ROWS_KEY = "preview_rows"


class DeltaTableIOManager(dg.ConfigurableIOManager):
    """Writes a DataFrame as one Delta commit and reads it back for downstream assets."""

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

    def load_input(self, context: dg.InputContext) -> DataFrame:
        try:
            return read_table(self.pyspark.spark_session, self._path(context), context.asset_key.to_user_string())
        except MissingTableError as err:
            raise dg.Failure(str(err)) from None
