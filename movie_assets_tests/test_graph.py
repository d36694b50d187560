"""The asset graph through Dagster's materialize(), on tiny CSVs in a tmp_path data root."""

from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from movie_assets_tests.conftest import write_csv
from movie_assets_tests.graph import ASSETS

MOVIES = 'movieId,title,genres\n1,"Toy Story, The (1995)",Animation|Comedy\n2,Amélie (2001),Romance\n'
RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,10\n1,2,5.0,11\n2,1,3.0,12\n2,3,2.5,13\nbad line\n"


def land(root: Path) -> None:
    write_csv(root / "landing", "movies.csv", MOVIES)
    write_csv(root / "landing", "ratings.csv", RATINGS)


def test_materialize_bronze_and_silver(tmp_path: Path, resources: dict, spark: SparkSession) -> None:
    land(tmp_path)
    result = dg.materialize(ASSETS, resources=resources, selection=dg.AssetSelection.groups("bronze", "silver"))
    assert result.success
    table = lambda name: spark.read.format("delta").load(str(tmp_path / "delta" / name))  # noqa: E731
    assert sorted(tuple(r) for r in table("user_mean_count_silver").collect()) == [(1, 4.5, 2), (2, 2.75, 2)]
    assert sorted(tuple(r) for r in table("movie_mean_count_silver").collect()) == [
        (1, 3.5, 2), (2, 5.0, 1), (3, 2.5, 1),
    ]  # fmt: skip
    assert sorted(tuple(r) for r in table("user_movie_title_rating").collect()) == [
        (1, 1, "Toy Story, The (1995)", 4.0), (1, 2, "Amélie (2001)", 5.0),
        (2, 1, "Toy Story, The (1995)", 3.0), (2, 3, None, 2.5),
    ]  # fmt: skip
    [quarantined] = table("ratings_quarantine").collect()
    assert (quarantined.raw_line, quarantined.source_file) == ("bad line", "ratings.csv")

    metadata = result.asset_materializations_for_node("user_movie_title_rating")[0].metadata
    assert metadata["dagster/row_count"].value == 4
    assert metadata["dagster/uri"].value == str(tmp_path / "delta" / "user_movie_title_rating")
    assert [c.name for c in metadata["dagster/column_schema"].schema.columns] == [
        "userId",
        "movieId",
        "title",
        "rating",
    ]
    assert metadata["delta_version"].value == 0
    bronze = {
        m.asset_key.to_user_string(): m.metadata for m in result.asset_materializations_for_node("ratings_bronze")
    }
    assert bronze["ratings_bronze"]["dagster/row_count"].value == 4
    assert bronze["ratings_quarantine"]["dagster/row_count"].value == 1
    assert bronze["ratings_bronze"]["lines_lines"].value == 6

    again = dg.materialize(ASSETS, resources=resources, selection="user_mean_count_silver")
    metadata = again.asset_materializations_for_node("user_mean_count_silver")[0].metadata
    assert (metadata["refresh"].value, metadata["delta_version"].value) == ("current", 0)  # nothing to rewrite


def test_no_landing_files_fails_with_a_hint(tmp_path: Path, resources: dict) -> None:
    result = dg.materialize(ASSETS, resources=resources, selection="ratings_bronze", raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert "landing folder" in message and "movie_assets.scripts.sample_data" in message


def test_bronze_alone_can_be_selected(tmp_path: Path, resources: dict) -> None:
    land(tmp_path)
    result = dg.materialize(ASSETS, resources=resources, selection="ratings_bronze")
    assert result.success
    keys = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert keys == {"ratings_bronze", "ratings_quarantine"}


def test_a_wrong_header_is_refused_and_keeps_the_table(tmp_path: Path, resources: dict, spark: SparkSession) -> None:
    selection = "movies_bronze"
    land(tmp_path)
    assert dg.materialize(ASSETS, resources=resources, selection=selection).success
    write_csv(tmp_path / "landing", "movies_new.csv", "movieId,name,genres\n3,Three (2003),Drama\n")
    result = dg.materialize(ASSETS, resources=resources, selection=selection)
    [check] = [c for c in result.get_asset_check_evaluations() if c.check_name == "landing_files_readable"]
    assert not check.passed and check.description == "refused: movies_new.csv"
    history = spark.sql(f"DESCRIBE HISTORY delta.`{tmp_path / 'delta' / 'movies_bronze'}`").collect()
    assert len(history) == 1  # the other files are the ones already in the table: nothing to rebuild


@pytest.mark.slow
def test_materialize_everything_with_no_config(tmp_path: Path, resources: dict) -> None:
    """What "Materialize all" does: no movie_id, no stored answers, so similar_movies writes nothing."""
    from movie_assets_tests.graph import CHECKS

    write_csv(tmp_path / "landing", "movies.csv", MOVIES)
    write_csv(tmp_path / "landing", "ratings.csv", RATINGS.replace("bad line\n", ""))
    result = dg.materialize([*ASSETS, *CHECKS], resources=resources)
    assert result.success
    [answers] = result.asset_materializations_for_node("similar_movies")
    assert answers.metadata["answers"].value == 0 and not (tmp_path / "delta" / "similar_movies").exists()
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert (
        checks["similar_movies_valid"].passed and checks["similar_movies_valid"].description == "no answers stored yet"
    )
