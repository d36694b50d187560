"""`movie-assets`: ask for similar movies, or materialize assets, from a shell; a failure's reason is the last line.

Runs go to the instance at $DAGSTER_HOME (the one `make dev` serves, so they show in the UI beside the others).
A failure on a person's input (a `dagster.Failure`: a bad movie id, a table not materialized yet, a bad
landing folder) prints its one sentence last, with no traceback; any other error prints its traceback, then
its message. Dagster's own log lines are left out (the run's log is in the UI), so the answer, or the reason, is
what one reads.
"""

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from movie_assets.definitions import defs
from movie_assets.tables import keys

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def innermost(error: SerializableErrorInfo) -> str:
    """The innermost error's last line that is not a stack frame (a JVM error's message holds its trace)."""
    while error.cause is not None:
        error = error.cause
    lines = [line for line in error.message.strip().splitlines() if line and not line[0].isspace()]
    return lines[-1] if lines else error.cls_name or "error"


def failure_lines(result: dg.ExecuteInProcessResult) -> list[str]:
    """What went wrong, the reason last: expected failures as their sentence, anything else with its traceback."""
    lines = [f"run {result.run_id} failed"]
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            lines.append(f"{event.step_key}: {data.user_failure_data.description}")
        elif data.error is not None:
            lines += [data.error.to_string().rstrip(), f"{event.step_key}: {innermost(data.error)}"]
        else:
            lines.append(f"{event.step_key}: failed")
    return lines


def step_lines(result: dg.ExecuteInProcessResult) -> list[str]:
    """One line per step: what it made, rows, seconds."""
    seconds = {e.step_key: e.step_success_data.duration_ms / 1000 for e in result.all_events if e.is_step_success}
    lines = []
    for event in result.get_asset_materialization_events():
        metadata, name = event.materialization.metadata, event.materialization.asset_key.to_user_string()
        rows = metadata.get("dagster/row_count")
        detail = f"{rows.value:>10,} rows" if rows else ""
        if "rmse" in metadata:
            detail = f"RMSE {metadata['rmse'].value:.4f} (rating model, held-out 20%)"
        if "hit_rate_at_10" in metadata:
            detail = f"hit rate@10 {metadata['hit_rate_at_10'].value:.3f} (held-out likes)"
        lines.append(f"  {name:26} {detail:44} {seconds.get(event.step_key, 0.0):6.1f} s")
        if "promotion" in metadata:
            lines.append(f"    {metadata['promotion'].value}")
    return lines


def report_failure(result: dg.ExecuteInProcessResult) -> int:
    print("\n".join(failure_lines(result)), file=sys.stderr)
    return 1


def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def ask(movie_id: int, k: int) -> int:
    run_config = {**QUIET, "ops": {keys.SIMILAR_MOVIES: {"config": {"movie_id": movie_id, "k": k}}}}
    result = (
        defs()
        .resolve_job_def("similar_movies_job")
        .execute_in_process(instance=instance(), raise_on_error=False, run_config=run_config)
    )
    if not result.success:
        return report_failure(result)
    metadata = result.asset_materializations_for_node(keys.SIMILAR_MOVIES)[0].metadata
    print(f"run {result.run_id}: the {k} movies most like {metadata['movie_title'].value}")
    print(metadata["similar_movies"].value)
    return 0


def materialize(selection: str | None, run_config: dict[str, Any]) -> int:
    """`selection` in Dagster's selection syntax; None: every asset but the answer rule's tuning grid."""
    graph = defs().resolve_asset_graph()
    try:
        everything = dg.AssetSelection.all() - dg.AssetSelection.assets(keys.SIMILARITY_TUNING)
        chosen = (everything if selection is None else dg.AssetSelection.from_string(selection)).resolve(graph)
    except Exception as err:  # the parser's error types are private; each means the string is not a selection
        chosen, problem = set(), str(err)
    else:
        problem = "it selects no asset"
    if not chosen:
        print(f"--select {selection!r} cannot be materialized ({problem}): see `dagster asset list`.", file=sys.stderr)
        return 2
    print(f"materializing {len(chosen)} asset(s): {', '.join(sorted(k.to_user_string() for k in chosen))}")
    result = (
        defs()
        .resolve_implicit_global_asset_job_def()
        .execute_in_process(
            instance=instance(), raise_on_error=False, run_config={**run_config, **QUIET}, asset_selection=list(chosen)
        )
    )
    if not result.success:
        return report_failure(result)
    print("\n".join(step_lines(result)))
    print(f"run {result.run_id} succeeded")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="movie-assets", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)
    asking = commands.add_parser("ask", help="the k movies most like a movie id (similar_movies_job)")
    asking.add_argument("movie_id", type=int, help="a movieId from movies.csv")
    asking.add_argument("--k", type=int, default=10, help="how many similar movies (1..1000, default 10)")
    build = commands.add_parser("materialize", help="materialize assets (default: all but the answers' tuning)")
    build.add_argument("--select", help="a Dagster asset selection, such as 'key:ratings_bronze+'")
    build.add_argument("--config-json", type=json.loads, default={}, help="run config, as `dagster asset materialize`")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "ask":
        return ask(args.movie_id, args.k)
    return materialize(args.select, args.config_json)


if __name__ == "__main__":
    sys.exit(main())
