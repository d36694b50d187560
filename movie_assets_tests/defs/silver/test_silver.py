"""ratings_silver like DLT's APPLY CHANGES: merged from what bronze gained, rebuilt when bronze lost rows."""

from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from movie_assets.definitions import defs
from movie_assets.defs.maintenance.jobs import MaintenanceSettings
from movie_assets.tables import schemas as S
from movie_assets.tables.transforms import mean_count
from movie_assets_tests.conftest import write_csv
from movie_assets_tests.graph import ASSETS

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
    landing, means = tmp_path / "landing", {"user_mean_count_silver": S.USER_ID, "movie_mean_count_silver": S.MOVIE_ID}
    selection = ["ratings_bronze", "ratings_silver", *means]
    modes = []
    for i in range(5):
        lines = "".join(
            f"{u},{m},{(u * m + i) % 10 / 2 + 0.5},{(u + m * i) % 7}\n" for u in range(1, 6) for m in range(1, 6)
        )
        write_csv(landing, f"ratings_{i}.csv", HEADER + lines)
        result = dg.materialize(ASSETS, resources=resources, selection=selection)
        materialized = (result.asset_materializations_for_node(n)[0] for n in selection[1:])
        modes.append(tuple(m.metadata["refresh"].value for m in materialized))
    assert modes == [("rebuild", "rebuild", "rebuild")] + [("merge", "update", "update")] * 4
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
    for name, key in means.items():  # the means moved four times are the means of the rebuilt ratings, exactly
        moved, recomputed = spark.read.format("delta").load(str(tmp_path / "delta" / name)), mean_count(rebuilt, key)
        assert moved.count() == 5
        assert moved.exceptAll(recomputed).count() == 0 and recomputed.exceptAll(moved).count() == 0


def test_maintenance_keeps_the_next_refresh_incremental(spark: SparkSession, tmp_path: Path, resources: dict) -> None:
    """OPTIMIZE and VACUUM commit without changing rows: after them, a new landing file still merges into silver
    and into the titles, instead of rebuilding them."""
    landing, merged = tmp_path / "landing", ["ratings_silver", "user_movie_title_rating"]
    write_csv(landing, "movies.csv", "movieId,title,genres\n1,A (1990),Drama\n2,B (1991),Drama\n")
    write_csv(landing, "ratings_0.csv", HEADER + "1,1,4.0,10\n1,2,3.0,11\n")
    write_csv(landing, "ratings_1.csv", HEADER + "2,1,5.0,12\n")
    selection = ["movies_bronze", "ratings_bronze", *merged]

    def refresh_all() -> dict[str, str]:
        result = dg.materialize(ASSETS, resources=resources, selection=selection)
        return {n: result.asset_materializations_for_node(n)[0].metadata["refresh"].value for n in merged}

    assert refresh_all() == {n: "rebuild" for n in merged}
    maintenance = (
        defs()
        .resolve_job_def("maintenance_job")
        .execute_in_process(
            resources={**resources, "maintenance": MaintenanceSettings(retention_hours=0, allow_short_retention=True)},
            op_selection=[f"maintain_{n}" for n in merged],
        )
    )
    assert maintenance.success
    for name in merged:
        [last] = spark.sql(f"DESCRIBE HISTORY delta.`{tmp_path / 'delta' / name}` LIMIT 1").collect()
        assert last.operation == "VACUUM END"
    assert refresh_all() == {n: "current" for n in merged}  # compaction changed no rows: nothing to commit
    write_csv(landing, "ratings_2.csv", HEADER + "1,1,2.0,20\n3,2,1.0,21\n")
    assert refresh_all() == {n: "merge" for n in merged}
    assert silver(spark, tmp_path) == [
        (1, 1, 2.0, 20, "ratings_2.csv"), (1, 2, 3.0, 11, "ratings_0.csv"),
        (2, 1, 5.0, 12, "ratings_1.csv"), (3, 2, 1.0, 21, "ratings_2.csv"),
    ]  # fmt: skip
    titles = spark.read.format("delta").load(str(tmp_path / "delta/user_movie_title_rating")).collect()
    assert sorted(tuple(r) for r in titles) == [
        (1, 1, "A (1990)", 2.0), (1, 2, "B (1991)", 3.0), (2, 1, "A (1990)", 5.0), (3, 2, "B (1991)", 1.0),
    ]  # fmt: skip
