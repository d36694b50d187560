"""The landing sensor: new or changed landing files are recorded and ingested into bronze, in one run.

A file is taken once its size and mtime are unchanged across two ticks (or write it under a name that does
not match, e.g. `.ratings_new.csv.partial`, and rename it when complete). Contents are identified by SHA-256,
so the same content dropped again, even with a new mtime, launches nothing.
"""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from movie_assets.defs.automation import sensor_interval
from movie_assets.lake import storage
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.tables import ingest, ingest_log
from movie_assets.tables.ingest import file_sha256

BRONZE_KEYS = [key for source in ingest.SOURCES for key in (source.bronze_key, source.quarantine_key)]


@dataclass
class LandingState:
    """The sensor's cursor: what was seen last tick, hashes by (size, mtime), and the contents already sent."""

    seen: dict[str, list[int]] = field(default_factory=dict)
    hashed: dict[str, list] = field(default_factory=dict)
    sent: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, cursor: str | None) -> "LandingState":
        return cls(**json.loads(cursor)) if cursor else cls()

    def dump(self) -> str:
        return json.dumps({"seen": self.seen, "hashed": self.hashed, "sent": self.sent}, sort_keys=True)


@dataclass(frozen=True)
class NewContent:
    path: str
    sha256: str
    size: int
    source: ingest.Source


def landing_candidates(landing: str) -> dict[str, tuple[ingest.Source, list[int]]]:
    found = {}
    for source in ingest.SOURCES:
        for path in ingest.list_landing(landing, source):
            stat = storage.stat(path)
            found[path] = (source, [stat.size, stat.mtime_ns])
    return found


def scan(
    landing: str, state: LandingState, ingested: dict[str, str] | None = None
) -> tuple[list[NewContent], LandingState]:
    """New file contents that are stable (unchanged since the last tick), not sent before and not in bronze.

    `ingested`: file name -> SHA-256 of the content bronze last took from it (from bronze's ingest log).
    """
    ingested = ingested or {}
    candidates = landing_candidates(landing)
    new: list[NewContent] = []
    hashed = {p: h for p, h in state.hashed.items() if p in candidates}
    sent = dict(state.sent)
    for path, (source, stat) in candidates.items():
        if state.seen.get(path) != stat:
            continue  # new or still changing: look again next tick
        if hashed.get(path, [None, None])[:2] != stat:
            hashed[path] = [*stat, file_sha256(path)]
        sha = hashed[path][2]
        if sent.get(path) != sha and ingested.get(Path(path).name) != sha:
            new.append(NewContent(path, sha, stat[0], source))
            sent[path] = sha
    return new, LandingState({p: s for p, (_, s) in candidates.items()}, hashed, sent)


def run_key(new: list[NewContent]) -> str:
    return hashlib.sha256("\n".join(f"{c.path}:{c.sha256}" for c in new).encode()).hexdigest()[:32]


def landing(context: dg.SensorEvaluationContext, lakehouse: Lakehouse) -> dg.SensorResult:
    """New or changed ratings*.csv / movies*.csv in landing/: record the CSV asset and ingest them, in one run."""
    held = ingest_log.held(lakehouse.table_path(ingest_log.LOG_TABLE))  # bronze's own record, as bronze reads it
    new, state = scan(lakehouse.landing, LandingState.load(context.cursor), held)
    if not new:
        return dg.SensorResult(cursor=state.dump())
    events = [
        dg.AssetMaterialization(
            asset_key=c.source.csv_key,
            description=f"{Path(c.path).name} landed",
            metadata={"path": dg.MetadataValue.path(c.path), "sha256": c.sha256, "size_bytes": c.size},
        )
        for c in new
    ]
    keys = sorted({key for c in new for key in (c.source.bronze_key, c.source.quarantine_key)})
    context.log.info(f"{len(new)} new file content(s): {[Path(c.path).name for c in new]}")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=run_key(new), asset_selection=[dg.AssetKey(k) for k in keys])],
        asset_events=events,
        cursor=state.dump(),
    )


def landing_sensor(interval_seconds: int) -> dg.SensorDefinition:
    return dg.sensor(
        name="landing_sensor",
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        target=dg.AssetSelection.assets(*BRONZE_KEYS),
    )(landing)


@dg.definitions
def sensors() -> dg.Definitions:
    """The landing sensor, ticking as often as the settings in force when the definitions load say."""
    return dg.Definitions(sensors=[landing_sensor(sensor_interval())])
