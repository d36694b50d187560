"""Runs whose process died: found by the process each run records, marked failed, their slots given back.

A run killed with SIGKILL, or by the kernel for memory, never reports its end: it stays STARTED and keeps its
pool slots (one writer per table) and its place in the run queue, so every later run of the same tables waits
for ever. Dagster's run monitoring asks the run launcher whether a run's worker lives, which the default
launcher cannot tell. So each run records its worker process (host, pid and the kernel's start time, which a
reused pid does not share) as tags when its resources start, and a STARTED run of this host whose process is
gone is marked failed and its slots freed: by `dead_runs_sensor` (defs/maintenance/sensors.py) under the
daemon, and by every run as it starts (a CLI run with no daemon).
"""

import os
import socket
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

HOST, PID, STARTED = "movie_assets/worker_host", "movie_assets/worker_pid", "movie_assets/worker_started"


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, or None without such a process (or no /proc)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def worker_tags() -> dict[str, str]:
    """Tags naming this process, so that another process can tell whether it still runs."""
    fields = _stat(os.getpid())
    return {HOST: socket.gethostname(), PID: str(os.getpid()), STARTED: fields[19] if fields else ""}


def is_dead(tags: Mapping[str, str]) -> bool:
    """Whether the worker the tags name is gone: no such process, a zombie, or another process with its pid.
    A run of another host, or one that recorded no worker, is never called dead: nothing here can tell."""
    if tags.get(HOST) != socket.gethostname() or not tags.get(PID):
        return False
    pid = int(tags[PID])
    fields = _stat(pid)
    if fields is None:
        try:
            os.kill(pid, 0)  # no /proc (not Linux): whether the pid exists at all
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return fields[0] == "Z" or (bool(tags.get(STARTED)) and fields[19] != tags[STARTED])


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark every STARTED run of this host whose worker is gone as failed, free its slots; their run ids."""
    failed = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        run = record.dagster_run
        if is_dead(run.tags):
            message = f"the run's process (pid {run.tags[PID]}) is gone: marked failed and its pool slots freed"
            instance.report_run_failed(run, message)
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            failed.append(run.run_id)
    return failed
