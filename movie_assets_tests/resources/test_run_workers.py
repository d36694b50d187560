"""A run whose process died gives back what it held: killed with SIGKILL while it holds its table's pool slot,
the next run of the same selection, with the instance settings `make dev` uses, succeeds. Without the clean-up
at a run's start, that run logs "Step blocked by limit for pool delta_ratings_bronze" until it is killed."""

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable

from movie_assets.defs.maintenance.sensors import dead_runs_sensor
from movie_assets.resources import run_workers
from movie_assets_tests.conftest import write_csv
from movie_assets_tests.test_concurrent_runs import start

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "dagster.yaml"
HEADER = "userId,movieId,rating,timestamp\n"


def test_a_worker_is_dead_when_its_process_is_gone_a_zombie_or_another() -> None:
    assert not run_workers.is_dead(run_workers.worker_tags())
    child = subprocess.Popen(["sleep", "0"])
    tags = {run_workers.HOST: socket.gethostname(), run_workers.PID: str(child.pid)}
    deadline = time.monotonic() + 10
    while (fields := run_workers._stat(child.pid)) is not None and fields[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert run_workers.is_dead(tags)  # exited, not yet reaped: a zombie
    child.wait()
    assert run_workers.is_dead(tags)  # gone
    mine = run_workers.worker_tags()
    assert run_workers.is_dead({**mine, run_workers.STARTED: "1"})  # this pid, but started at another time
    assert not run_workers.is_dead({**mine, run_workers.HOST: "another-host"})  # nothing here can tell
    assert not run_workers.is_dead({})


@pytest.mark.deploy  # the shipped instance settings, with the PostgreSQL instance's tier (make test-deploy)
@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("cleaner", ["dead_runs_sensor", "next run"])
def test_a_killed_run_frees_its_pool_slot_for_the_next_run(tmp_path: Path, cleaner: str) -> None:
    """Under the daemon the sensor finds the dead run; with none (the CLI alone), the next run does."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(DEPLOY, home / "dagster.yaml")  # pools of one writer per table, the run queue, run monitoring
    write_csv(tmp_path / "landing", "movies.csv", "movieId,title,genres\n1,One (1990),Drama\n")
    write_csv(tmp_path / "landing", "ratings.csv", HEADER + "1,1,4.0,10\n2,1,3.0,11\n")
    select = ("asset", "materialize", "--select", "ratings_bronze")
    first = start(str(tmp_path), {}, home, tmp_path / "first.log", *select)
    log, deadline = tmp_path / "first.log", time.monotonic() + 300
    while 'STEP_START - Started execution of step "ratings_bronze"' not in log.read_text(errors="replace"):
        assert first.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-2000:]
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # in bronze's step, which holds the pool's one slot
    first.wait()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [dead] = instance.get_run_records()
        assert dead.dagster_run.status == dg.DagsterRunStatus.STARTED  # it never reported its end
        held = instance.event_log_storage.get_concurrency_info("delta_ratings_bronze").claimed_slots
        assert [slot.run_id for slot in held] == [dead.dagster_run.run_id]
        if cleaner == "dead_runs_sensor":
            skip = dead_runs_sensor(dg.build_sensor_context(instance=instance))
            assert skip.skip_message == f"marked 1 dead run(s) failed: {[dead.dagster_run.run_id]}"
            assert instance.event_log_storage.get_concurrency_info("delta_ratings_bronze").claimed_slots == []

    write_csv(tmp_path / "landing", "ratings_2.csv", HEADER + "3,1,5.0,12\n")
    second = start(str(tmp_path), {}, home, tmp_path / "second.log", *select)
    try:
        second.wait(timeout=120)  # the bound the README states; blocked by the slot, it would wait for ever
    except subprocess.TimeoutExpired:
        os.killpg(second.pid, signal.SIGKILL)
        raise AssertionError((tmp_path / "second.log").read_text()[-3000:]) from None
    text = (tmp_path / "second.log").read_text()
    assert second.returncode == 0 and "RUN_SUCCESS" in text, text[-3000:]
    assert (f"run {dead.dagster_run.run_id} died without ending" in text) == (cleaner == "next run")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        statuses = {r.dagster_run.run_id: r.dagster_run.status for r in instance.get_run_records()}
    assert statuses[dead.dagster_run.run_id] == dg.DagsterRunStatus.FAILURE
    assert sorted(statuses.values(), key=str) == [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS]
    bronze = DeltaTable(str(tmp_path / "delta" / "ratings_bronze")).to_pyarrow_table(columns=["userId", "source_file"])
    assert sorted(zip(*bronze.to_pydict().values(), strict=True)) == [
        (1, "ratings.csv"),
        (2, "ratings.csv"),
        (3, "ratings_2.csv"),
    ]
