"""When derived tables refresh without a click: the automation condition, and the sensor that evaluates it."""

from typing import TypedDict

import dagster as dg

# A parent's blocking checks passed, or the parent is refreshed in the same run, whose blocking checks stop this
# asset there if they fail: one run takes new bronze through silver, the factors and the answers (with only
# `all_deps_blocking_checks_passed`, each layer waited for the next tick and a run of its own).
_PARENTS_CHECKED = dg.AutomationCondition.all_deps_match(
    dg.AutomationCondition.all_checks_match(
        dg.AutomationCondition.check_passed() | dg.AutomationCondition.will_be_requested(), blocking_only=True
    )
    | dg.AutomationCondition.will_be_requested()
).with_label("all_deps_blocking_checks_passed_or_requested")
# Recompute when a parent changed and its blocking checks passed; the automation sensor evaluates it.
REFRESH: dg.AutomationCondition = dg.AutomationCondition.eager() & _PARENTS_CHECKED


class AssetArgs(TypedDict, total=False):
    """What the assets of one layer share, as keyword arguments of `dg.asset` (typed, so a checker sees them)."""

    group_name: str
    kinds: set[str]
    automation_condition: dg.AutomationCondition


# Seconds between sensor ticks, read when the definitions load (a daemon or code server picks it up on reload).
SENSOR_INTERVAL = dg.EnvVar("MOVIE_ASSETS_SENSOR_INTERVAL")
DEFAULT_SENSOR_INTERVAL = 15


def sensor_interval() -> int:
    value = SENSOR_INTERVAL.get_value(str(DEFAULT_SENSOR_INTERVAL)) or str(DEFAULT_SENSOR_INTERVAL)
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(
            f"{SENSOR_INTERVAL.env_var_name}={value!r} is not a whole number of seconds: set it to 1 or more, "
            f"or unset it for {DEFAULT_SENSOR_INTERVAL}."
        )
    return int(value)


@dg.definitions
def automation() -> dg.Definitions:
    """The automation sensor: it also refreshes stored answers, in one run."""
    sensor = dg.AutomationConditionSensorDefinition(
        "automation_sensor",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=sensor_interval(),
    )
    return dg.Definitions(sensors=[sensor])
