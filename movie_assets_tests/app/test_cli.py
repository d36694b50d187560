"""`movie-assets`, run as a person runs it: a failure on their input ends with its one sentence, no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from movie_assets.app import cli

CLI = Path(sys.executable).parent / "movie-assets"  # the console script `make install` puts beside python


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOVIE_ASSETS_DATA_DIR": str(root), "DAGSTER_HOME": str(root / "home")}
    (root / "home").mkdir(parents=True, exist_ok=True)
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=300, cwd=root)


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    return (done.stdout + done.stderr).strip().splitlines()[-1]


def test_an_answer_before_the_factors_exist_ends_with_what_to_do(tmp_path: Path) -> None:
    done = run(tmp_path, "ask", "1")
    assert done.returncode == 1
    assert last_line(done) == (
        f"similar_movies: als_item_factors is not materialized yet (no Delta table at "
        f"{tmp_path}/delta/als_item_factors): materialize als_item_factors first."
    )
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr


def test_a_missing_landing_folder_ends_with_what_to_do(tmp_path: Path) -> None:
    done = run(tmp_path, "materialize", "--select", "key:ratings_bronze")
    assert done.returncode == 1
    assert last_line(done).startswith(f"ratings_bronze: landing folder {tmp_path}/landing does not exist: ")
    assert "Stack Trace" not in done.stderr


def test_bad_arguments_are_named(tmp_path: Path) -> None:
    expected = "movie-assets ask: error: argument movie_id: invalid int value: 'abc'"
    assert last_line(run(tmp_path, "ask", "abc")) == expected
    done = run(tmp_path, "materialize", "--select", "key:nope")
    assert done.returncode == 2
    assert last_line(done) == (
        "--select 'key:nope' cannot be materialized (it selects no asset): see `dagster asset list`."
    )


def test_the_cli_runs_show_on_the_instance(tmp_path: Path) -> None:
    """The run the CLI made is on $DAGSTER_HOME's instance, failed, with the reason as the run's error (the UI's)."""
    reason = last_line(run(tmp_path, "ask", "7")).removeprefix("similar_movies: ")
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        [record] = instance.get_run_records()
        assert record.dagster_run.status == dg.DagsterRunStatus.FAILURE
        [failure] = instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        error = failure.dagster_event.event_specific_data.error
        assert error.message.strip() == f"dagster._core.definitions.events.Failure: {reason}"


def test_an_unexpected_error_keeps_its_traceback() -> None:
    @dg.asset
    def divides() -> float:
        return 1 / 0

    lines = cli.failure_lines(dg.materialize([divides], raise_on_error=False))
    assert lines[-1] == "divides: ZeroDivisionError: division by zero"
    assert "Stack Trace" in "\n".join(lines)
