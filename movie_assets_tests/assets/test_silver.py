"""ratings_silver like DLT's APPLY CHANGES: merged from what bronze gained, rebuilt when bronze lost rows."""

from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from movie_assets.checks import CHECKS
from movie_assets.definitions import ASSETS
from movie_assets.delta_tables import last_user_metadata, merge_rows
from movie_assets_tests.conftest import write_csv

pytestmark = pytest.mark.slow  # materializes through Spark: not in make test-fast

HEADER = "userId,movieId,rating,timestamp\n"


def refresh(resources: dict, full_bronze: bool = False, node: str = "ratings_silver", **extra: str) -> dict:
    """Bronze then ratings_silver (and `extra` assets), as the sensor and automation would run them; the metadata
    of `node`."""
    config = {"ops": {"ratings_bronze": {"config": {"full_refresh": full_bronze}}}}
    selection = ["ratings_bronze", "ratings_silver", *extra.values()]
    result = dg.materialize(ASSETS, resources=resources, selection=selection, run_config=config)
    return result.asset_materializations_for_node(node)[0].metadata


def silver(spark: SparkSession, root: Path) -> list[tuple]:
    return sorted(tuple(r) for r in spark.read.format("delta").load(str(root / "delta/ratings_silver")).collect())


def test_merge_rules(spark: SparkSession, tmp_path: Path, resources: dict) -> None:
    landing = tmp_path / "landing"
    write_csv(landing, "ratings_b.csv", HEADER + "1,1,3.0,100\n1,2,2.0,100\n1,3,4.0,100\n")
    first = refresh(resources)
    assert first["refresh"].value == "rebuild"

    # A late-arriving older rating never overwrites a newer one; a newer one does; same timestamp: later file wins.
    write_csv(landing, "ratings_c.csv", HEADER + "1,1,1.0,50\n1,2,5.0,200\n1,4,2.5,10\n")
    write_csv(landing, "ratings_a.csv", HEADER + "1,3,0.5,100\n")  # same timestamp, earlier file name: loses
    write_csv(landing, "ratings_d.csv", HEADER + "1,3,4.5,100\n")  # same timestamp, later file name: wins
    merged = refresh(resources)
    assert merged["refresh"].value == "merge"
    assert merged["merge_numSourceRows"].value == 4  # the new rows, deduplicated to one per (user, movie)
    assert silver(spark, tmp_path) == [
        (1, 1, 3.0, 100, "ratings_b.csv"),
        (1, 2, 5.0, 200, "ratings_c.csv"),
        (1, 3, 4.5, 100, "ratings_d.csv"),
        (1, 4, 2.5, 10, "ratings_c.csv"),
    ]
    assert refresh(resources)["refresh"].value == "current"

    # A rating changed in a replaced file: bronze drops that file's old rows, so silver is rebuilt.
    write_csv(landing, "ratings_c.csv", HEADER + "1,1,1.0,50\n1,2,3.5,200\n1,4,2.5,10\n")
    replaced = refresh(resources)
    assert replaced["refresh"].value == "rebuild"
    assert (1, 2, 3.5, 200, "ratings_c.csv") in silver(spark, tmp_path)

    # A removed file, with bronze's full refresh: its ratings are gone and earlier ones are current again.
    (landing / "ratings_d.csv").unlink()
    assert refresh(resources, full_bronze=True)["refresh"].value == "rebuild"
    assert silver(spark, tmp_path) == [
        (1, 1, 3.0, 100, "ratings_b.csv"),
        (1, 2, 3.5, 200, "ratings_c.csv"),
        (1, 3, 4.0, 100, "ratings_b.csv"),
        (1, 4, 2.5, 10, "ratings_c.csv"),
    ]


def test_incremental_equals_full_rebuild(spark: SparkSession, tmp_path: Path, resources: dict) -> None:
    landing = tmp_path / "landing"
    modes = []
    for i in range(5):
        lines = "".join(
            f"{u},{m},{(u * m + i) % 10 / 2 + 0.5},{(u + m * i) % 7}\n" for u in range(1, 6) for m in range(1, 6)
        )
        write_csv(landing, f"ratings_{i}.csv", HEADER + lines)
        modes.append(refresh(resources)["refresh"].value)
    assert modes == ["rebuild", "merge", "merge", "merge", "merge"]
    incremental = spark.read.format("delta").load(str(tmp_path / "delta/ratings_silver"))
    result = dg.materialize(
        ASSETS,
        resources=resources,
        selection=["ratings_silver"],
        run_config={"ops": {"ratings_silver": {"config": {"full_refresh": True}}}},
    )
    assert result.asset_materializations_for_node("ratings_silver")[0].metadata["refresh"].value == "rebuild"
    rebuilt = spark.read.format("delta").option("versionAsOf", 5).load(str(tmp_path / "delta/ratings_silver"))
    before = spark.read.format("delta").option("versionAsOf", 4).load(str(tmp_path / "delta/ratings_silver"))
    assert incremental.count() == 25
    assert before.exceptAll(rebuilt).count() == 0 and rebuilt.exceptAll(before).count() == 0


def test_titles_merge_what_silver_changed_and_equal_a_rebuild(
    spark: SparkSession, tmp_path: Path, resources: dict
) -> None:
    landing = tmp_path / "landing"
    write_csv(landing, "movies.csv", "movieId,title,genres\n1,One (2000),Drama\n2,Two (2001),Comedy\n")
    dg.materialize(ASSETS, resources=resources, selection=["movies_bronze"])
    titled = lambda: refresh(resources, node="user_movie_title_rating", titles="user_movie_title_rating")  # noqa: E731
    write_csv(landing, "ratings_a.csv", HEADER + "1,1,3.0,100\n1,2,2.0,100\n")
    assert titled()["refresh"].value == "rebuild"
    # silver updates (1, 1) and inserts (2, 3), a movie without a title: the join merges just those two rows
    write_csv(landing, "ratings_b.csv", HEADER + "1,1,4.5,200\n2,3,1.0,100\n1,2,1.0,50\n")
    merged = titled()
    assert (merged["refresh"].value, merged["merge_numSourceRows"].value) == ("merge", 2)
    assert (merged["merge_numTargetRowsUpdated"].value, merged["merge_numTargetRowsInserted"].value) == (1, 1)
    table = str(tmp_path / "delta/user_movie_title_rating")
    rows = sorted(tuple(r) for r in spark.read.format("delta").load(table).collect())
    assert rows == [(1, 1, "One (2000)", 4.5), (1, 2, "Two (2001)", 2.0), (2, 3, None, 1.0)]
    assert titled()["refresh"].value == "current"

    config = {"ops": {"user_movie_title_rating": {"config": {"full_refresh": True}}}}
    dg.materialize(ASSETS, resources=resources, selection=["user_movie_title_rating"], run_config=config)
    assert sorted(tuple(r) for r in spark.read.format("delta").load(table).collect()) == rows

    # New titles: the join is rebuilt, so every row carries the new title.
    write_csv(landing, "movies.csv", "movieId,title,genres\n1,Uno (2000),Drama\n2,Two (2001),Comedy\n")
    dg.materialize(ASSETS, resources=resources, selection=["movies_bronze"])
    rebuilt = titled()
    assert rebuilt["refresh"].value == "rebuild" and "movies_bronze is v1" in rebuilt["refresh_reason"].value
    assert (1, 1, "Uno (2000)", 4.5) in {tuple(r) for r in spark.read.format("delta").load(table).collect()}


def test_the_uniqueness_check_reads_only_the_keys_merged_since_the_rebuild(
    spark: SparkSession, tmp_path: Path, resources: dict
) -> None:
    landing = tmp_path / "landing"
    write_csv(landing, "ratings_a.csv", HEADER + "1,1,3.0,100\n1,2,2.0,100\n")
    refresh(resources)
    write_csv(landing, "ratings_b.csv", HEADER + "2,1,3.0,100\n")
    refresh(resources)
    # A faulty MERGE (it keeps silver's record of bronze's version): a source with one key twice inserts both rows.
    path = str(tmp_path / "delta/ratings_silver")
    twice = spark.createDataFrame([(4, 4, 1.0, 9, "x.csv")] * 2, spark.read.format("delta").load(path).schema)
    merge_rows(twice, path, ["userId", "movieId"], last_user_metadata(spark, path))

    def check(**config: object) -> dg.AssetCheckEvaluation:
        run_config = {"ops": {"ratings_silver": {"config": config}}}
        result = dg.materialize(
            [*ASSETS, *CHECKS], resources=resources, selection=["ratings_silver"], run_config=run_config,
            raise_on_error=False,
        )  # fmt: skip
        return result.get_asset_check_evaluations()[0]

    merged = check()
    assert not merged.passed
    found = {k: v.value for k, v in merged.metadata.items()}
    assert found == {"duplicate_pairs": 1, "pairs": 2, "checked": "keys merged since the rebuild at v0"}
    rebuilt = check(full_refresh=True)  # the rebuild drops the faulty rows, and is checked whole
    assert rebuilt.passed and {k: v.value for k, v in rebuilt.metadata.items()} == {
        "duplicate_pairs": 0, "pairs": 3, "checked": "every row"
    }  # fmt: skip
