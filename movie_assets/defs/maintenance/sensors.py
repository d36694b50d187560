"""Runs whose process died are marked failed under the daemon, their pool slots given back (see run_workers)."""

import dagster as dg

from movie_assets.resources.run_workers import fail_dead_runs

DEAD_RUNS_INTERVAL_SECONDS = 30


@dg.sensor(minimum_interval_seconds=DEAD_RUNS_INTERVAL_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING)
def dead_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Runs whose process died are marked failed and their pool slots freed, so later runs do not wait for them."""
    failed = fail_dead_runs(context.instance)
    return dg.SkipReason(f"marked {len(failed)} dead run(s) failed: {failed}" if failed else "no dead runs")
