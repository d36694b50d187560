"""When derived tables refresh without a click."""

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
