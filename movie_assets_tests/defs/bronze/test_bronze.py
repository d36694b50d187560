"""Incremental, exactly-once bronze: new files append, the same content adds nothing, a changed file swaps."""

import gzip
import os
import time
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from movie_assets.resources.lakehouse import Lakehouse
from movie_assets_tests.conftest import write_csv
from movie_assets_tests.graph import ASSETS

HEADER = "userId,movieId,rating,timestamp\n"
MOVIES = "movieId,title,genres\n1,One (1990),Drama\n2,Two (1991),Comedy\n3,Three (1992),War\n"
BRONZE = ["ratings_bronze", "movies_bronze"]


def rows(spark: SparkSession, root: Path, name: str) -> list[tuple]:
    df = spark.read.format("delta").load(str(root / "delta" / name))
    return sorted((*tuple(r)[:4], r["source_file"]) for r in df.collect())


def version(spark: SparkSession, root: Path, name: str) -> int:
    return spark.sql(f"DESCRIBE HISTORY delta.`{root / 'delta' / name}`").first().version


def ingest(resources: dict, full: bool = False) -> dg.ExecuteInProcessResult:
    config = {"ops": {"ratings_bronze": {"config": {"full_refresh": full}}}}
    return dg.materialize(ASSETS, resources=resources, selection=["ratings_bronze"], run_config=config)


def test_exactly_once(spark: SparkSession, tmp_path: Path, resources: dict) -> None:
    landing = tmp_path / "landing"
    write_csv(landing, "movies.csv", MOVIES)
    write_csv(landing, "ratings.csv", HEADER + "1,1,4.0,10\n1,2,3.0,11\n")
    ingest(resources)
    assert rows(spark, tmp_path, "ratings_bronze") == [(1, 1, 4.0, 10, "ratings.csv"), (1, 2, 3.0, 11, "ratings.csv")]

    write_csv(landing, "ratings_2.csv", HEADER + "2,1,5.0,12\n2,3,1.0,13\nbad\n")
    result = ingest(resources)
    got = rows(spark, tmp_path, "ratings_bronze")
    assert len(got) == 4 and (2, 3, 1.0, 13, "ratings_2.csv") in got
    metadata = result.asset_materializations_for_node("ratings_bronze")[0].metadata
    assert metadata["files_ingested"].value == 1 and metadata["rows_written"].value == 2
    assert metadata["parsed_by"].value == "spark"  # a line is not plain ("bad"): Spark parses and quarantines it
    assert [
        r.raw_line for r in spark.read.format("delta").load(str(tmp_path / "delta/ratings_quarantine")).collect()
    ] == ["bad"]

    before = version(spark, tmp_path, "ratings_bronze")
    (landing / "ratings_2.csv").touch()  # same content, new mtime
    assert ingest(resources).asset_materializations_for_node("ratings_bronze")[0].metadata["files_ingested"].value == 0
    assert version(spark, tmp_path, "ratings_bronze") == before and rows(spark, tmp_path, "ratings_bronze") == got

    write_csv(landing, "ratings_2.csv", HEADER + "2,2,2.5,20\n")  # replaced content, every line plain
    assert ingest(resources).asset_materializations_for_node("ratings_bronze")[0].metadata["parsed_by"].value == "arrow"
    assert rows(spark, tmp_path, "ratings_bronze") == [
        (1, 1, 4.0, 10, "ratings.csv"),
        (1, 2, 3.0, 11, "ratings.csv"),
        (2, 2, 2.5, 20, "ratings_2.csv"),
    ]
    assert spark.read.format("delta").load(str(tmp_path / "delta/ratings_quarantine")).count() == 0
    assert version(spark, tmp_path, "ratings_bronze") == before + 1  # one transaction

    (landing / "ratings.csv").unlink()
    ingest(resources, full=True)
    assert rows(spark, tmp_path, "ratings_bronze") == [(2, 2, 2.5, 20, "ratings_2.csv")]


def test_later_rating_wins_in_silver(spark: SparkSession, tmp_path: Path, resources: dict) -> None:
    landing = tmp_path / "landing"
    write_csv(landing, "movies.csv", MOVIES)
    write_csv(landing, "ratings.csv", HEADER + "1,1,1.0,10\n1,2,3.0,11\n")
    write_csv(landing, "ratings_update.csv", HEADER + "1,1,5.0,99\n")
    selection = [*BRONZE, "ratings_silver", "user_mean_count_silver", "user_movie_title_rating"]
    assert dg.materialize(ASSETS, resources=resources, selection=selection).success
    users = spark.read.format("delta").load(str(tmp_path / "delta/user_mean_count_silver")).collect()
    assert [tuple(r) for r in users] == [(1, 4.0, 2)]
    joined = spark.read.format("delta").load(str(tmp_path / "delta/user_movie_title_rating")).collect()
    assert sorted(tuple(r) for r in joined) == [(1, 1, "One (1990)", 5.0), (1, 2, "Two (1991)", 3.0)]


def checked(result: dg.ExecuteInProcessResult) -> tuple[dict, dict[str, str]]:
    """Bronze's metadata, and the files its readable-files check names, with why."""
    metadata = result.asset_materializations_for_node("ratings_bronze")[0].metadata
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "landing_files_readable"]
    rows = check.metadata["files"].value.splitlines()[2:]
    cells = [[cell.strip() for cell in row.strip("| ").split(" | ")] for row in rows]
    return metadata, {name: why for name, why in cells}


def test_a_bad_file_is_refused_alone_and_gzip_is_read(spark: SparkSession, tmp_path: Path, resources: dict) -> None:
    """A wrong header, an empty file and files no source takes are named; the good files beside them, one of them
    gzip-compressed, are ingested in the same run with the same accounting."""
    landing = tmp_path / "landing"
    write_csv(landing, "movies.csv", MOVIES)
    write_csv(landing, "ratings.csv", HEADER + "1,1,4.0,10\n")
    (landing / "ratings_2.csv.gz").write_bytes(gzip.compress((HEADER + "2,1,5.0,12\n\n2,3,x,13\n").encode()))
    write_csv(landing, "ratings_header.csv", "user,movieId,rating,timestamp\n3,1,1.0,1\n")
    write_csv(landing, "ratings_empty.csv", "")
    write_csv(landing, ".ratings_3.csv", HEADER + "4,1,1.0,1\n")  # a writer's in-progress names
    write_csv(landing, "ratings_4.csv.part", HEADER + "4,1,1.0,1\n")
    write_csv(landing, "ratings.csv.bz2", "")

    metadata, named = checked(ingest(resources))
    kept = [(1, 1, 4.0, 10, "ratings.csv"), (2, 1, 5.0, 12, "ratings_2.csv.gz")]
    assert rows(spark, tmp_path, "ratings_bronze") == kept
    assert (metadata["files_ingested"].value, metadata["files_refused"].value) == (2, 5)
    assert metadata["lines_blank"].value == 1 and metadata["lines_quarantined"].value == 1
    assert named["ratings_header.csv"].startswith("header 'user,movieId,rating,timestamp' does not match")
    assert named["ratings_empty.csv"].startswith("empty (0 bytes of text)")
    assert (
        named[".ratings_3.csv"]
        == named["ratings_4.csv.part"]
        == ("a name for a file still being written (it is taken once renamed into place)")
    )
    assert named["ratings.csv.bz2"].startswith("not a landing file name (ratings*.csv or ratings*.csv.gz")


def test_a_file_still_being_written_is_not_read(spark: SparkSession, tmp_path: Path, resources: dict) -> None:
    """A writer appends in steps while runs start: a file modified within the settle time is left for a later run,
    so its cut last line (`1,1,4.0,16` of `1600000009`) never becomes a row."""
    landing, settle = tmp_path / "landing", 60.0
    resources = {**resources, "lakehouse": Lakehouse(data_dir=str(tmp_path), settle_seconds=settle)}
    write_csv(landing, "movies.csv", MOVIES)
    old = time.time() - 2 * settle
    os.utime(write_csv(landing, "ratings.csv", HEADER + "1,2,3.0,11\n"), (old, old))
    path = write_csv(landing, "ratings_new.csv", HEADER + "1,1,4.0,16")
    for more in ("00000", "009\n2,2,2.5,"):
        metadata, named = checked(ingest(resources))
        assert named["ratings_new.csv"].startswith("still being written (modified ")
        assert rows(spark, tmp_path, "ratings_bronze") == [(1, 2, 3.0, 11, "ratings.csv")]
        with path.open("a") as handle:
            handle.write(more)
    with path.open("a") as handle:
        handle.write("5\n")
    os.utime(path, (old, old))  # the writer is done: unmodified for longer than the settle time
    metadata, named = checked(ingest(resources))
    assert named == {} and metadata["files_ingested"].value == 1
    assert rows(spark, tmp_path, "ratings_bronze") == [
        (1, 1, 4.0, 1600000009, "ratings_new.csv"),
        (1, 2, 3.0, 11, "ratings.csv"),
        (2, 2, 2.5, 5, "ratings_new.csv"),
    ]


def test_movies_are_rebuilt_only_when_a_movies_file_changed(tmp_path: Path, resources: dict) -> None:
    """A run with no new, changed or removed movies file reads nothing and starts no Spark session."""
    landing = tmp_path / "landing"
    write_csv(landing, "movies.csv", MOVIES)
    write_csv(landing, "ratings.csv", HEADER + "1,1,4.0,10\n")
    run = lambda: dg.materialize(ASSETS, resources=resources, selection=["movies_bronze"])  # noqa: E731
    metadata = lambda result: result.asset_materializations_for_node("movies_bronze")[0].metadata  # noqa: E731
    table = lambda: DeltaTable(str(tmp_path / "delta" / "movies_bronze"))  # noqa: E731
    assert metadata(run())["parsed_by"].value == "spark"
    built = table().version()

    started: list[str] = []
    pyspark = resources["pyspark"]
    real = type(pyspark).spark_session.fget

    def counted(self: object) -> object:
        started.append("spark")
        return real(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(pyspark), "spark_session", property(counted))
        unchanged = metadata(run())
        assert (unchanged["files_ingested"].value, unchanged["parsed_by"].value) == (0, "nothing to ingest")
        assert started == [] and table().version() == built

        write_csv(landing, "movies_2.csv", "movieId,title,genres\n4,Four (1993),Drama\n")
        assert metadata(run())["files_ingested"].value == 2  # a new file: every file again, one rebuild
        assert started  # by Spark
    assert sorted(table().to_pyarrow_table(columns=["movieId"]).column(0).to_pylist()) == [1, 2, 3, 4]
    (landing / "movies_2.csv").unlink()
    assert metadata(run())["files_ingested"].value == 1  # a removed file: rebuilt without its rows
    assert sorted(table().to_pyarrow_table(columns=["movieId"]).column(0).to_pylist()) == [1, 2, 3]

    # a movies file being rewritten: nothing is rebuilt until it settles (its rows are not dropped meanwhile)
    write_csv(landing, "movies_2.csv", "movieId,title,genres\n4,Four (1993),Drama\n")
    assert metadata(run())["files_ingested"].value == 2
    old = time.time() - 120
    os.utime(landing / "movies.csv", (old, old))
    write_csv(landing, "movies_2.csv", "movieId,title,genres\n4,Four (1993),Drama\n5,Fi")
    settling = {**resources, "lakehouse": Lakehouse(data_dir=str(tmp_path), settle_seconds=60.0)}
    waited = dg.materialize(ASSETS, resources=settling, selection=["movies_bronze"])
    assert waited.asset_materializations_for_node("movies_bronze")[0].metadata["files_ingested"].value == 0
    assert sorted(table().to_pyarrow_table(columns=["movieId"]).column(0).to_pylist()) == [1, 2, 3, 4]
