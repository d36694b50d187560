"""When derived tables refresh without a click."""

import dagster as dg

# Recompute when bronze changed and its blocking checks passed; the automation sensor evaluates it.
REFRESH = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
