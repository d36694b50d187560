"""A step writes its own assets' tables by key, and no other: another asset's table is read through an input."""

from pathlib import Path

import dagster as dg
import pyarrow as pa
from deltalake import DeltaTable

from movie_assets.resources.lakehouse import Lakehouse


@dg.asset
def answers(context: dg.AssetExecutionContext, lakehouse: Lakehouse) -> None:
    tables = lakehouse.own(context)
    rows = pa.table({"movieId": pa.array([1, 2], pa.int32()), "title": ["Toy Story", "Jumanji"]})
    tables.replace_where("answers", rows, {"movieId": [1, 2]})
    tables.replace_where("answers", rows.slice(1), {"movieId": [2]})  # replaced, not added


@dg.asset
def intruder(context: dg.AssetExecutionContext, lakehouse: Lakehouse) -> None:
    lakehouse.own(context).replace_where("answers", pa.table({"movieId": [3]}), {"movieId": [3]})


def test_a_step_writes_its_own_table_by_key(tmp_path: Path) -> None:
    lakehouse = Lakehouse(data_dir=str(tmp_path))
    assert dg.materialize([answers], resources={"lakehouse": lakehouse}).success
    rows = DeltaTable(lakehouse.table_path("answers")).to_pyarrow_table().sort_by("movieId").to_pylist()
    assert rows == [{"movieId": 1, "title": "Toy Story"}, {"movieId": 2, "title": "Jumanji"}]


def test_a_step_cannot_write_another_assets_table(tmp_path: Path) -> None:
    lakehouse = Lakehouse(data_dir=str(tmp_path))
    result = dg.materialize([intruder], resources={"lakehouse": lakehouse}, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.error.message.strip() == (
        "dagster._core.definitions.events.Failure: answers is not a table of this step (intruder): "
        "read it through an asset input."
    )
    assert not Path(lakehouse.table_path("answers")).exists()
