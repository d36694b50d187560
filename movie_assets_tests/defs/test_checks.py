"""Asset checks through Dagster: counts in metadata, warnings vs failures, blocking checks guard ALS."""

from pathlib import Path

import dagster as dg
import pytest

from movie_assets.resources.thresholds import QualityThresholds
from movie_assets_tests.conftest import write_csv
from movie_assets_tests.graph import ASSETS, CHECKS

pytestmark = pytest.mark.slow  # materializes through Spark: not in make test-fast

MOVIES = "movieId,title,genres\n" + "".join(f"{m},Movie {m} (2000),Drama\n" for m in range(1, 9))
GOOD = "".join(f"{u},{m},{(u * m) % 10 / 2 + 0.5},{u * 100 + m}\n" for u in range(1, 9) for m in range(1, 9))
UPSTREAM = [
    "ratings_bronze",
    "ratings_quarantine",
    "movies_bronze",
    "ratings_silver",
    "user_movie_title_rating",
    "user_mean_count_silver",
    "als_item_factors",
]


def run(resources: dict, **overrides: object) -> dg.ExecuteInProcessResult:
    return dg.materialize([*ASSETS, *CHECKS], resources={**resources, **overrides}, selection=UPSTREAM)


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_clean_data_passes_every_check(tmp_path: Path, resources: dict) -> None:
    write_csv(tmp_path / "landing", "movies.csv", MOVIES)
    write_csv(tmp_path / "landing", "ratings.csv", "userId,movieId,rating,timestamp\n" + GOOD)
    found = checks(run(resources))
    assert {name for name, e in found.items() if not e.passed} == set()
    assert found["ratings_expectations"].metadata["kept"].value == 64
    assert found["user_movie_title_rating_complete"].metadata["rows"].value == 64
    assert found["als_item_factors_valid"].metadata["rated_movies"].value == 8


def test_too_many_bad_lines_block_als(tmp_path: Path, resources: dict) -> None:
    write_csv(tmp_path / "landing", "movies.csv", MOVIES)
    bad = "1,2,9.0,5\nnot,a,rating,line\n1,99,3.0,5\n"
    write_csv(tmp_path / "landing", "ratings.csv", "userId,movieId,rating,timestamp\n" + GOOD + bad)
    result = dg.materialize([*ASSETS, *CHECKS], resources=resources, selection=UPSTREAM, raise_on_error=False)
    found = checks(result)
    expectations = found["ratings_expectations"]
    assert not expectations.passed and expectations.severity == dg.AssetCheckSeverity.ERROR
    assert not found["ratings_quarantine_empty"].passed
    assert expectations.metadata["quarantined"].value == 2 and expectations.metadata["kept"].value == 65
    assert "rating is outside 0.5-5.0" in expectations.metadata["reasons"].value
    known = found["ratings_movies_known"]
    assert not known.passed and known.metadata["ratings_with_unknown_movie"].value == 1
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "als_item_factors" not in materialized  # the blocking check stopped it
    assert not (tmp_path / "delta" / "als_item_factors").exists()


def test_a_higher_threshold_turns_the_failure_into_a_warning(tmp_path: Path, resources: dict) -> None:
    write_csv(tmp_path / "landing", "movies.csv", MOVIES)
    write_csv(tmp_path / "landing", "ratings.csv", "userId,movieId,rating,timestamp\n" + GOOD + "1,2,9.0,5\n")
    result = run(resources, thresholds=QualityThresholds(max_quarantined_share=0.05))
    found = checks(result)
    assert found["ratings_expectations"].passed
    warning = found["ratings_quarantine_empty"]
    assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
    assert warning.metadata["quarantined"].value == 1
    assert "als_item_factors" in {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
