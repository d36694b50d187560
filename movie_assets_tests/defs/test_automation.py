"""What one tick of the automation sensor requests after bronze was ingested: Dagster's own evaluation of the
definitions' automation conditions, over an instance that holds bronze's materializations and check results."""

import dagster as dg
import pytest

from movie_assets.definitions import defs
from movie_assets.tables import keys

DEFS = defs()

BRONZE = [keys.RATINGS_CSV, keys.MOVIES_CSV, keys.RATINGS_BRONZE, keys.RATINGS_QUARANTINE, keys.MOVIES_BRONZE,
          keys.MOVIES_QUARANTINE]  # fmt: skip
BRONZE_CHECKS = [k for k in DEFS.resolve_asset_graph().asset_check_keys if k.asset_key.to_user_string() in BRONZE]
SILVER = {keys.RATINGS_SILVER, keys.USER_MEAN_COUNT_SILVER, keys.MOVIE_MEAN_COUNT_SILVER, keys.USER_MOVIE_TITLE_RATING}
REFRESHED = SILVER | {keys.ALS_ITEM_FACTORS, keys.MOVIE_NEIGHBORS, keys.SIMILAR_MOVIES}


def requested_after_bronze(failed_check: str | None = None) -> set[str]:
    """The keys one tick requests once bronze is materialized and every check on it evaluated (all passed but
    `failed_check`)."""
    with dg.instance_for_test() as instance:
        before = dg.evaluate_automation_conditions(defs=DEFS, instance=instance)
        assert before.total_requested == 0  # nothing to build from
        for key in BRONZE:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        for check in BRONZE_CHECKS:
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(
                    asset_key=check.asset_key,
                    check_name=check.name,
                    passed=check.name != failed_check,
                    severity=dg.AssetCheckSeverity.ERROR,
                )
            )
        tick = dg.evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=before.cursor)
        return {r.key.to_user_string() for r in tick.results if r.true_subset.size}


def test_one_tick_takes_new_bronze_through_silver_factors_and_answers() -> None:
    """Each child is requested with its parent: the parent's blocking checks run in that run and stop it there."""
    assert requested_after_bronze() == REFRESHED  # the evaluations and the tuning grid wait for a click


@pytest.mark.parametrize(
    ("failed", "requested"),
    [
        ("ratings_expectations", set()),  # everything below reads the ratings
        ("movies_unique", REFRESHED - {keys.USER_MOVIE_TITLE_RATING, keys.SIMILAR_MOVIES}),  # those read titles
    ],
)
def test_a_failed_blocking_check_on_bronze_requests_nothing_below_it(failed: str, requested: set[str]) -> None:
    assert requested_after_bronze(failed) == requested


def test_the_sensor_interval_is_read_when_the_definitions_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOVIE_ASSETS_SENSOR_INTERVAL", "7")
    assert {s.name: s.minimum_interval_seconds for s in defs().sensors or []} == {
        "automation_sensor": 7, "landing_sensor": 7, "dead_runs_sensor": 30
    }  # fmt: skip
    monkeypatch.setenv("MOVIE_ASSETS_SENSOR_INTERVAL", "soon")
    with pytest.raises(Exception) as raised:  # Dagster names the file whose definitions failed, then the reason
        defs()
    assert str(raised.value.__cause__) == (
        "MOVIE_ASSETS_SENSOR_INTERVAL='soon' is not a whole number of seconds: set it to 1 or more, or unset it for 15."
    )
