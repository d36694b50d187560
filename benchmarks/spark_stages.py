"""Where a run's Spark time goes: its event log summed per stage (name and call site), longest first.

mkdir -p /tmp/spark-events
MOVIE_ASSETS_SPARK_CONF='{"spark.eventLog.enabled": "true", "spark.eventLog.dir": "/tmp/spark-events",
    "spark.eventLog.compress": "false"}' .venv/bin/dagster asset materialize -m movie_assets.definitions ...
.venv/bin/python -m benchmarks.spark_stages /tmp/spark-events/eventlog_v2_<application id> [--top 25]
"""

import argparse
import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path


def events(log: Path) -> Iterator[str]:
    """The lines of an event log: one file, or Spark 4's folder of rolled `events_<n>_<app>` files."""
    files = sorted(log.glob("events_*"), key=lambda p: int(p.name.split("_")[1])) if log.is_dir() else [log]
    for file in files:
        with open(file, encoding="utf-8") as handle:
            yield from handle


def stage_seconds(log: Path) -> tuple[dict[str, float], dict[str, int], float]:
    """Seconds and stage counts per stage name, and the application's wall time."""
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    start = end = None
    for line in events(log):
        event = json.loads(line)
        kind = event.get("Event")
        if kind == "SparkListenerApplicationStart":
            start = event["Timestamp"]
        elif kind == "SparkListenerApplicationEnd":
            end = event["Timestamp"]
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            if "Submission Time" in info and "Completion Time" in info:
                name = info["Stage Name"]
                seconds[name] += (info["Completion Time"] - info["Submission Time"]) / 1000
                counts[name] += 1
    wall = (end - start) / 1000 if start and end else 0.0
    return seconds, counts, wall


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    seconds, counts, wall = stage_seconds(args.log)
    total = sum(seconds.values())
    print(f"application wall {wall:.1f} s; stages {total:.1f} s in all (stages may overlap)")
    for name, secs in sorted(seconds.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{secs:8.1f} s  {counts[name]:4d} x  {name}")


if __name__ == "__main__":
    main()
