"""The one way a step writes tables: by the asset keys it materializes, never by a path it makes up."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import dagster as dg
import pyarrow as pa
from pyspark.sql import DataFrame

from movie_assets.lake import commits
from movie_assets.lake.commits import Snapshot, Where
from movie_assets.lake.delta_rs import table_metadata
from movie_assets.lake.delta_tables import write_table

T = TypeVar("T")


@dataclass(frozen=True)
class OwnTables:
    """The tables of the assets a step materializes (with any table that is theirs alone, such as bronze's ingest
    log), each under the data root by its key. Another asset's table is read through an input, never written."""

    table_path: Callable[[str], str]
    keys: frozenset[str]

    @classmethod
    def of(cls, context: dg.AssetExecutionContext, table_path: Callable[[str], str], *also: str) -> "OwnTables":
        return cls(table_path, frozenset({k.to_user_string() for k in context.assets_def.keys} | set(also)))

    def path(self, key: str) -> str:
        if key not in self.keys:
            raise dg.Failure(
                f"{key} is not a table of this step ({', '.join(sorted(self.keys))}): read it through an asset input."
            )
        return self.table_path(key)

    def refresh(self, key: str, attempt: Callable[[Snapshot], T]) -> T:
        """A read-modify-write of the table, checked against the version it read (`commits.refresh`)."""
        return commits.refresh(self.path(key), key, attempt)

    def replace_where(self, key: str, rows: DataFrame | pa.Table, where: Where) -> None:
        """The rows matching `where` replaced with `rows`, through the engine that holds them."""
        commits.replace_where(self.path(key), rows, where)

    def overwrite(self, key: str, rows: DataFrame) -> None:
        """Every row replaced by `rows`, as one commit (a full rebuild)."""
        write_table(rows, self.path(key))

    def metadata(self, key: str, preview_rows: int = 10) -> dict[str, Any]:
        """The table's materialization metadata: rows, version, URI, schema and a bounded preview."""
        return table_metadata(self.path(key), key, preview_rows=preview_rows)
