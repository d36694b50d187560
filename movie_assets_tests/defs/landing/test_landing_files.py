"""Whatever lands: odd names are files, never patterns; text that is not UTF-8 is refused by name; bounded metadata."""

import json
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from movie_assets_tests.conftest import write_csv
from movie_assets_tests.graph import ASSETS
from movie_assets_tests.ml_small import land

pytestmark = pytest.mark.slow  # materializes through Spark: not in make test-fast

HEADER = "userId,movieId,rating,timestamp\n"
MOVIES = "movieId,title,genres\n1,One (1990),Drama\n"


def ratings(user: int, n: int) -> str:
    return HEADER + "".join(f"{user},{m},4.0,{m}\n" for m in range(1, n + 1))


ODD_RATINGS = {  # name -> (user, rows)
    "ratings_1.csv": (1, 50),
    "ratings_[1].csv": (2, 30),
    "ratings_{a}.csv": (3, 7),
    "ratings new.csv": (4, 5),
    "ratings_100%.csv": (5, 4),
    "ratings_é*?.csv": (6, 3),
    "ratings_" + "x" * 200 + ".csv": (7, 2),
    "ratings_it's.csv": (11, 6),
}
NEXT = "ratings_it's [2].csv"  # taken incrementally: a quote in Spark's and delta-rs's predicates


def latin1_movies() -> bytes:
    padding = "".join(f"{m},Movie {m} (2000),Drama\n" for m in range(1000, 9000))  # over 200 KB of ASCII
    assert len(padding) > 200_000
    return ("movieId,title,genres\n" + padding + "9001,Amélie (2001),Romance\n").encode("latin-1")


def land_odd_files(landing: Path) -> None:
    for name, (user, n) in ODD_RATINGS.items():
        write_csv(landing, name, ratings(user, n))
    write_csv(landing, "movies_one.csv", MOVIES)
    (landing / "movies_latin1.csv").write_bytes(latin1_movies())
    (landing / "ratings_binary.csv").write_bytes(bytes(range(256)) * 64)
    huge = HEADER + "8,1,4.0,1\n" + "9," + "x" * 5_000_000 + ",4.0,1\n"
    write_csv(landing, "ratings_huge_line.csv", huge)


def materialize(resources: dict) -> dg.ExecuteInProcessResult:
    return dg.materialize(ASSETS, resources=resources, selection=["ratings_bronze", "movies_bronze"])


def test_odd_files_each_ingested_once_or_refused_by_name(spark: SparkSession, tmp_path: Path, resources: dict) -> None:
    land_odd_files(tmp_path / "landing")
    result = materialize(resources)
    bronze = spark.read.format("delta").load(str(tmp_path / "delta/ratings_bronze"))
    per_file = {
        r.source_file: (r.userId, r["count"]) for r in bronze.groupBy("source_file", "userId").count().collect()
    }
    assert per_file == {**ODD_RATINGS, "ratings_huge_line.csv": (8, 1)}
    log = spark.read.format("delta").load(str(tmp_path / "delta/_ingest_log")).where("source = 'ratings'").collect()
    assert {r.source_file: (r.lines, r.kept) for r in log} == {
        **{name: (n + 1, n) for name, (_, n) in ODD_RATINGS.items()},
        "ratings_huge_line.csv": (3, 1),
    }
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    refused_ratings = checks[("ratings_bronze", "landing_files_readable")]
    assert not refused_ratings.passed and refused_ratings.severity == dg.AssetCheckSeverity.WARN
    assert refused_ratings.description == "refused: ratings_binary.csv"
    refused_movies = checks[("movies_bronze", "landing_files_readable")]
    assert refused_movies.description == "refused: movies_latin1.csv"
    assert "not UTF-8 (byte 0xe9 at offset" in refused_movies.metadata["files"].value
    movies = spark.read.format("delta").load(str(tmp_path / "delta/movies_bronze")).collect()
    assert [(r.movieId, r.title) for r in movies] == [(1, "One (1990)")]  # nothing with a replacement character

    [quarantined] = spark.read.format("delta").load(str(tmp_path / "delta/ratings_quarantine")).collect()
    assert len(quarantined.raw_line) == 5_000_008 and len(quarantined.reason) < 200
    for event in result.get_asset_materialization_events():
        size = len(json.dumps({k: str(v.value) for k, v in event.materialization.metadata.items()}))
        assert size < 50_000, (event.asset_key, size)

    # The next run takes in a new file next to them, incrementally; the odd names stay exactly once.
    write_csv(tmp_path / "landing", NEXT, ratings(10, 3))
    again = materialize(resources)
    bronze = spark.read.format("delta").load(str(tmp_path / "delta/ratings_bronze"))
    assert bronze.count() == sum(n for _, n in ODD_RATINGS.values()) + 1 + 3
    assert again.asset_materializations_for_node("ratings_bronze")[0].metadata["files_ingested"].value == 1
    log = spark.read.format("delta").load(str(tmp_path / "delta/_ingest_log")).where("source = 'ratings'").collect()
    assert sorted(r.source_file for r in log) == sorted([*ODD_RATINGS, "ratings_huge_line.csv", NEXT])
    third = materialize(resources)
    assert third.asset_materializations_for_node("ratings_bronze")[0].metadata["files_ingested"].value == 0


def test_a_removed_file_is_named_with_its_rows(spark: SparkSession, tmp_path: Path, resources: dict) -> None:
    write_csv(tmp_path / "landing", "movies.csv", MOVIES)
    write_csv(tmp_path / "landing", "ratings.csv", ratings(1, 3))
    write_csv(tmp_path / "landing", "ratings_old.csv", ratings(2, 4))
    assert materialize(resources).success
    (tmp_path / "landing" / "ratings_old.csv").unlink()
    checks = {e.check_name: e for e in materialize(resources).get_asset_check_evaluations()}
    removed = checks["landing_files_present"]
    assert not removed.passed and removed.severity == dg.AssetCheckSeverity.WARN
    assert removed.description.startswith("1 file(s) no longer in landing still have 4 rows in ratings_bronze")
    assert "full_refresh: true" in removed.description


@pytest.mark.e2e
def test_the_real_sample_with_every_odd_file(
    spark: SparkSession, ml_small: Path, tmp_path: Path, resources: dict
) -> None:
    land(ml_small, tmp_path / "landing")
    land_odd_files(tmp_path / "landing")
    result = materialize(resources)
    bronze = spark.read.format("delta").load(str(tmp_path / "delta/ratings_bronze"))
    odd_rows = sum(n for _, n in ODD_RATINGS.values()) + 1
    assert bronze.count() == 100_836 + odd_rows
    assert bronze.groupBy("userId", "movieId", "source_file").count().where("count > 1").count() == 0
    movies = spark.read.format("delta").load(str(tmp_path / "delta/movies_bronze"))
    assert movies.count() == 9_742  # movie 1 is in the sample and in movies_one.csv: the later file's row, once
    assert movies.where("movieId = 1").first().title == "One (1990)"
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    assert checks[("ratings_bronze", "landing_files_readable")].description == "refused: ratings_binary.csv"
    assert checks[("movies_bronze", "landing_files_readable")].description == "refused: movies_latin1.csv"
    quarantine = spark.read.format("delta").load(str(tmp_path / "delta/ratings_quarantine")).collect()
    assert [r.source_file for r in quarantine] == ["ratings_huge_line.csv"]
