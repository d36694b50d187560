"""The serving tables through delta-rs: one commit per write, replaced rows only, races retried, no JVM."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from movie_assets.lake.delta_rs import data_version, first_rows, open_table, replace_rows, rows_where, table_metadata
from movie_assets.lake.delta_tables import MissingTableError
from movie_assets.recommend.neighbors import ANSWERS_SCHEMA, NEIGHBORS_SCHEMA
from movie_assets.tables import quality

SCHEMA = pa.schema([("id", pa.int32()), ("v", pa.string())])


def rows(*pairs: tuple[int, str]) -> pa.Table:
    return pa.Table.from_pylist([{"id": i, "v": v} for i, v in pairs], schema=SCHEMA)


def content(path: Path) -> list[tuple[int, str]]:
    return sorted((r["id"], r["v"]) for r in DeltaTable(str(path)).to_pyarrow_table().to_pylist())


def test_replace_rows_creates_then_replaces_only_matching_rows(tmp_path: Path) -> None:
    path = tmp_path / "t"
    replace_rows(str(path), rows((1, "a"), (2, "b")), predicate="id IN (1, 2)", user_metadata={"asked": 2})
    replace_rows(str(path), rows((2, "c"), (2, "d")), predicate="id IN (2)")
    assert content(path) == [(1, "a"), (2, "c"), (2, "d")]
    table = open_table(str(path), "t")
    assert table.version() == 1
    assert data_version(table) == (1, {})
    assert rows_where(table, "id", [2, 9], ["v"]).column("v").to_pylist() == ["c", "d"]
    metadata = table_metadata(str(path), "t", preview_rows=2)
    assert metadata["dagster/row_count"].value == 3 and metadata["delta_version"].value == 1
    assert metadata["dagster/uri"].value == str(path)
    assert metadata["preview"].value.splitlines()[0] == "| id | v |"


def test_preview_is_the_first_rows_as_the_table_types_them(spark: SparkSession, tmp_path: Path) -> None:
    """Spark's files (INT96 timestamps) of one row each: two rows asked read on into a second file."""
    path = str(tmp_path / "t")
    at = [datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in range(3)]
    for i in range(3):
        frame = spark.createDataFrame([(i, f"v{i}", at[i])], "id int, v string, at timestamp").coalesce(1)
        frame.write.format("delta").mode("append").save(path)
    dataset = open_table(path, "t").to_pyarrow_dataset()
    every = dataset.to_table().to_pylist()  # the files in the order the dataset reads them
    assert sorted(every, key=lambda r: r["id"]) == [{"id": i, "v": f"v{i}", "at": at[i]} for i in range(3)]
    assert first_rows(dataset, 2) == every[:2]
    assert first_rows(dataset, 9) == every


def test_replace_everything_keeps_user_metadata_past_maintenance(tmp_path: Path) -> None:
    path = tmp_path / "t"
    for i in range(3):
        replace_rows(str(path), rows((i, "x")), user_metadata={"built_from": i})
    assert content(path) == [(2, "x")]
    opened = open_table(str(path), "t")
    DeltaTable(str(path)).optimize.compact()  # rewrites files, changes no rows
    assert data_version(open_table(str(path), "t")) == (2, {"built_from": 2})
    replace_rows(str(path), rows((3, "y")), user_metadata={"built_from": 3})
    assert data_version(opened) == (2, {"built_from": 2})  # written since it was opened: the stamp it was opened at


def test_a_missing_table_names_what_to_materialize(tmp_path: Path) -> None:
    with pytest.raises(MissingTableError, match=r"^movie_neighbors is not materialized yet .*: materialize movie_neig"):
        open_table(str(tmp_path / "nothing"), "movie_neighbors")


def test_concurrent_writers_each_land_once(tmp_path: Path) -> None:
    """Eight writers of a table that does not exist yet, three of them for the same id: every write lands once."""
    path = str(tmp_path / "t")
    jobs = [(i, f"writer {i}") for i in range(5)] + [(9, "first"), (9, "second"), (9, "third")]

    def write(job: tuple[int, str]) -> None:
        replace_rows(path, rows(job, job), predicate=f"id IN ({job[0]})")

    with ThreadPoolExecutor(len(jobs)) as pool:
        list(pool.map(write, jobs))
    found = content(Path(path))
    assert [r for r in found if r[0] < 9] == sorted((i, f"writer {i}") for i in range(5) for _ in range(2))
    assert len({r for r in found if r[0] == 9}) == 1 and len([r for r in found if r[0] == 9]) == 2


def test_answer_violations_counts_each_rule() -> None:
    answers = pa.Table.from_pylist(
        [
            {"movie_id": 1, "rank": 1, "similar_movie_id": 2, "similarity": 0.9},
            {"movie_id": 1, "rank": 2, "similar_movie_id": 3, "similarity": 0.8},
            {"movie_id": 2, "rank": 1, "similar_movie_id": 2, "similarity": 1.5},  # itself, out of range
            {"movie_id": 2, "rank": 3, "similar_movie_id": 4, "similarity": 0.1},  # rank 2 missing
            {"movie_id": 3, "rank": 1, "similar_movie_id": 4, "similarity": -1.0},
            {"movie_id": 3, "rank": 1, "similar_movie_id": 5, "similarity": -1.0},  # rank 1 twice
        ],
        schema=NEIGHBORS_SCHEMA,
    )
    assert quality.answer_violations(answers) == {
        "movie_ids": 3,
        "movie_ids_with_rank_gaps": 2,
        "similarity_out_of_range": 1,
        "self_answers": 1,
    }
    assert ANSWERS_SCHEMA.names == ["movie_id", "rank", "similar_movie_id", "title", "genres", "similarity"]
