"""Progress of long Spark work in the Dagster log: the active stages and their finished tasks, every few seconds."""

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
from pyspark import SparkContext

DEFAULT_EVERY_S = 15.0


def active_stages(sc: SparkContext) -> list[str]:
    """One line per running stage: its id and tasks done of total (Spark's stage names are code call sites)."""
    tracker = sc.statusTracker()
    lines = []
    for stage_id in sorted(tracker.getActiveStageIds()):
        info = tracker.getStageInfo(stage_id)
        if info is not None:
            lines.append(f"stage {stage_id}: {info.numCompletedTasks}/{info.numTasks} tasks")
    return lines


@contextmanager
def spark_progress(
    log: logging.Logger | dg.DagsterLogManager,
    context: Callable[[], SparkContext | None],
    what: str,
    every_s: float = DEFAULT_EVERY_S,
) -> Iterator[None]:
    """While the block runs, log `what` and Spark's active stages through `log.info` every `every_s` seconds.

    `context` gives the SparkContext once a session is started (`DeltaSparkResource.started_context`), and None
    before: a block that may need no Spark at all does not start it to report progress.
    """
    done = threading.Event()

    def report() -> None:
        while not done.wait(every_s):
            sc = context()
            stages = active_stages(sc) if sc is not None else []
            if stages:
                log.info(f"{what}: " + "; ".join(stages))

    thread = threading.Thread(target=report, name=f"progress: {what}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
