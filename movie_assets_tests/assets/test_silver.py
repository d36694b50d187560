"""ratings_silver like DLT's APPLY CHANGES: merged from what bronze gained, rebuilt when bronze lost rows."""

from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from movie_assets.definitions import ASSETS
from movie_assets_tests.conftest import write_csv

pytestmark = pytest.mark.slow  # materializes through Spark: not in make test-fast

HEADER = "userId,movieId,rating,timestamp\n"


def refresh(resources: dict, full_bronze: bool = False) -> dict[str, object]:
    """Bronze then ratings_silver, as the sensor and automation would run them; silver's metadata."""
    config = {"ops": {"ratings_bronze": {"config": {"full_refresh": full_bronze}}}}
    result = dg.materialize(
        ASSETS, resources=resources, selection=["ratings_bronze", "ratings_silver"], run_config=config
    )
    return result.asset_materializations_for_node("ratings_silver")[0].metadata


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
