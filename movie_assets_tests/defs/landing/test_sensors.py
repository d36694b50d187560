"""The landing sensor with build_sensor_context: stability, content identity, batching, cursor across restarts."""

import os
from pathlib import Path

import dagster as dg

from movie_assets.defs.landing.sensors import landing_sensor
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.tables import ingest, ingest_log
from movie_assets.tables.ingest import file_sha256
from movie_assets_tests.conftest import write_csv

LANDING_SENSOR = landing_sensor(interval_seconds=15)

RATINGS = "userId,movieId,rating,timestamp\n1,1,4.0,10\n"


class Ticks:
    """Evaluates the sensor tick after tick, carrying the cursor like the daemon does."""

    def __init__(self, root: Path) -> None:
        self.root, self.cursor, self.instance = root, None, dg.DagsterInstance.ephemeral()

    def __call__(self) -> dg.SensorResult:
        context = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"lakehouse": Lakehouse(data_dir=str(self.root))}
        )
        result = LANDING_SENSOR(context)
        self.cursor = result.cursor
        return result


def requested(result: dg.SensorResult) -> list[set[str]]:
    return [{k.to_user_string() for k in r.asset_selection} for r in result.run_requests or []]


def landed(result: dg.SensorResult) -> list[str]:
    return sorted(Path(e.metadata["path"].value).name for e in result.asset_events or [])


def test_a_new_file_is_taken_once_it_is_stable(tmp_path: Path) -> None:
    tick = Ticks(tmp_path)
    write_csv(tmp_path / "landing", "ratings.csv", RATINGS)
    assert requested(tick()) == []  # first sight: maybe still being written
    result = tick()
    assert requested(result) == [{"ratings_bronze", "ratings_quarantine"}]
    assert landed(result) == ["ratings.csv"]
    assert [e.asset_key.to_user_string() for e in result.asset_events] == ["ratings_csv"]
    assert requested(tick()) == []


def test_the_same_content_again_launches_nothing(tmp_path: Path) -> None:
    tick = Ticks(tmp_path)
    path = write_csv(tmp_path / "landing", "ratings.csv", RATINGS)
    tick(), tick()
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # copied in again: new mtime
    assert requested(tick()) == [] and requested(tick()) == []


def test_a_changed_file_is_taken_again(tmp_path: Path) -> None:
    tick = Ticks(tmp_path)
    path = write_csv(tmp_path / "landing", "ratings.csv", RATINGS)
    first = (tick(), tick())[1]
    path.write_text(RATINGS + "2,1,3.0,11\n")
    assert requested(tick()) == []
    second = tick()
    assert requested(second) == [{"ratings_bronze", "ratings_quarantine"}]
    assert first.run_requests[0].run_key != second.run_requests[0].run_key


def test_a_file_still_being_written_waits(tmp_path: Path) -> None:
    tick = Ticks(tmp_path)
    path = write_csv(tmp_path / "landing", "ratings_big.csv", RATINGS)
    write_csv(tmp_path / "landing", ".ratings_next.csv.partial", RATINGS)  # temporary name: ignored
    tick()
    with open(path, "a") as handle:
        handle.write("2,2,2.0,12\n")  # grew since the last tick
    assert requested(tick()) == []
    result = tick()
    assert landed(result) == ["ratings_big.csv"]


def test_many_files_at_once_make_one_run(tmp_path: Path) -> None:
    tick = Ticks(tmp_path)
    for i in range(5):
        write_csv(tmp_path / "landing", f"ratings_{i}.csv", RATINGS + f"{i + 2},1,3.0,{i}\n")
    write_csv(tmp_path / "landing", "movies.csv", "movieId,title,genres\n1,One (1990),Drama\n")
    tick()
    result = tick()
    assert len(result.run_requests) == 1
    assert requested(result) == [{"ratings_bronze", "ratings_quarantine", "movies_bronze", "movies_quarantine"}]
    assert len(landed(result)) == 6


def test_the_cursor_survives_a_restart(tmp_path: Path) -> None:
    tick = Ticks(tmp_path)
    write_csv(tmp_path / "landing", "ratings.csv", RATINGS)
    tick(), tick()
    restarted = Ticks(tmp_path)
    restarted.cursor = tick.cursor  # the daemon stores the cursor in DAGSTER_HOME
    assert requested(restarted()) == [] and requested(restarted()) == []
    forgotten = Ticks(tmp_path)  # without the cursor, the same file would be sent again
    assert requested(forgotten()) == [] and len(requested(forgotten())) == 1


def test_contents_already_in_bronze_launch_nothing(tmp_path: Path) -> None:
    """A new instance (no cursor) over a landing folder that bronze already took in, as after `make demo`."""
    write_csv(tmp_path / "landing", "ratings.csv", RATINGS)
    instance = dg.DagsterInstance.ephemeral()
    taken = ingest.inspect(str(tmp_path / "landing/ratings.csv"), ingest.RATINGS, 0)
    assert taken.sha256 == file_sha256(taken.path)  # one hash for the sensor and bronze
    counts = {"source_file": "ratings.csv", "lines": 2, "header": 1, "blank": 0, "kept": 1, "quarantined": 0}
    log = str(tmp_path / "delta" / ingest_log.LOG_TABLE)
    ingest_log.record(log, ingest.RATINGS.name, [taken], [counts], full=False)  # what bronze records
    context = lambda cursor: dg.build_sensor_context(  # noqa: E731
        instance=instance, cursor=cursor, resources={"lakehouse": Lakehouse(data_dir=str(tmp_path))}
    )
    first = LANDING_SENSOR(context(None))
    assert requested(LANDING_SENSOR(context(first.cursor))) == []
    write_csv(tmp_path / "landing", "ratings.csv", RATINGS + "2,1,3.0,11\n")  # changed content: taken
    second = LANDING_SENSOR(context(first.cursor))
    assert requested(LANDING_SENSOR(context(second.cursor))) == [{"ratings_bronze", "ratings_quarantine"}]
