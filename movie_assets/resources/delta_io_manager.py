"""Stores each asset's Spark DataFrame as the Delta table delta/<asset_name>/ under the data root.

Every asset and check reads another asset's table through this IO manager, in the form its input's type asks
for: a Spark `DataFrame`; a `TableRef` (name, path, version) for steps that read the table's change history;
or a delta-rs `deltalake.DeltaTable` for the serving steps, which read a few rows without starting a JVM.
An input typed `... | None` gets None while the table is missing; otherwise a missing table fails the step
with one sentence saying what to materialize.
"""

import typing

import dagster as dg
import deltalake
from pyspark.sql import DataFrame

from movie_assets.lake.commits import declared
from movie_assets.lake.delta_rs import open_table, table_metadata
from movie_assets.lake.delta_tables import MissingTableError, TableRef, read_table, write_table
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.progress import spark_progress
from movie_assets.resources.spark import DeltaSparkResource

PREVIEW_ROWS_KEY = "preview_rows"


class DeltaTableIOManager(dg.ConfigurableIOManager):
    """Writes a DataFrame as one Delta commit and reads it back for downstream assets and checks."""

    lakehouse: Lakehouse
    pyspark: DeltaSparkResource

    def _path(self, context: dg.OutputContext | dg.InputContext) -> str:
        return self.lakehouse.table_path(context.asset_key.path[-1])

    def handle_output(self, context: dg.OutputContext, obj: DataFrame) -> None:
        path = self._path(context)
        with spark_progress(context.log, self.pyspark.started_context, f"writing {context.asset_key.to_user_string()}"):
            write_table(declared(context.asset_key.path[-1], obj), path)
        preview = int((context.definition_metadata or {}).get(PREVIEW_ROWS_KEY, 0))
        context.add_output_metadata(table_metadata(path, context.asset_key.to_user_string(), preview))

    def load_input(self, context: dg.InputContext) -> DataFrame | TableRef | deltalake.DeltaTable | None:
        name, path = context.asset_key.to_user_string(), self._path(context)
        # The input's annotation: `X`, or `X | None` (typing_type Optional[X]) for an input that may be missing.
        annotated = context.dagster_type.typing_type
        optional = type(None) in typing.get_args(annotated)
        wanted = next((t for t in typing.get_args(annotated) if t is not type(None)), annotated)
        try:
            if wanted is deltalake.DeltaTable:
                return open_table(path, name)
            if wanted is TableRef:
                return TableRef(name, path, open_table(path, name).version())
            return read_table(self.pyspark.spark_session, path, name)
        except MissingTableError as err:
            if optional:
                return None
            raise dg.Failure(str(err)) from None
