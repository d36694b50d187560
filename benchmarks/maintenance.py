"""Table maintenance, measured: 20 incremental landing files, then maintenance_job; live files and read time.

`python -m benchmarks.maintenance` (about 3 minutes): ml-latest-small lands, then 20 small ratings files one
run after another, as a sensor would ingest them; then OPTIMIZE and VACUUM (retention 0, allowed here because
no other run reads these tables). Prints and writes benchmarks/results/maintenance.json.
"""

import json
import shutil
import tempfile
import time
from pathlib import Path

import dagster as dg
from delta.tables import DeltaTable

from movie_assets.definitions import build_resources, defs
from movie_assets.defs.maintenance.jobs import MaintenanceSettings
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.tables import keys
from movie_assets_tests.graph import ASSETS

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "samples" / "ml-latest-small"
TABLES = [keys.RATINGS_BRONZE, keys.RATINGS_QUARANTINE, keys.RATINGS_SILVER, keys.USER_MOVIE_TITLE_RATING]
INCREMENTAL = [keys.RATINGS_BRONZE, keys.RATINGS_SILVER, keys.USER_MOVIE_TITLE_RATING]


def live_files(spark: object, root: Path) -> dict[str, int]:
    return {t: DeltaTable.forPath(spark, str(root / "delta" / t)).detail().first()["numFiles"] for t in TABLES}


def read_seconds(spark: object, root: Path, repeat: int = 5) -> float:
    """Best of `repeat` full scans of ratings_bronze (a sum over every row)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        spark.read.format("delta").load(str(root / "delta" / keys.RATINGS_BRONZE)).selectExpr("sum(rating)").collect()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> dict:
    root = Path(tempfile.mkdtemp(prefix="movie_assets_maintenance_"))
    (root / "landing").mkdir()
    for name in ("ratings.csv", "movies.csv"):
        shutil.copy(SAMPLE / name, root / "landing" / name)
    resources = {**build_resources(str(root)), "lakehouse": Lakehouse(data_dir=str(root), settle_seconds=0)}
    selection = [keys.MOVIES_BRONZE, *INCREMENTAL]
    assert dg.materialize(ASSETS, resources=resources, selection=selection).success
    for i in range(20):
        lines = "".join(f"{700 + i},{m},4.0,{1_700_000_000 + m}\n" for m in range(1, 51))
        (root / "landing" / f"ratings_{i:02d}.csv").write_text("userId,movieId,rating,timestamp\n" + lines)
        assert dg.materialize(ASSETS, resources=resources, selection=INCREMENTAL).success
    spark = resources["pyspark"].spark_session
    before, read_before = live_files(spark, root), read_seconds(spark, root)
    job = defs().resolve_job_def("maintenance_job")
    settings = MaintenanceSettings(retention_hours=0, allow_short_retention=True)
    started = time.perf_counter()
    assert job.execute_in_process(resources={**resources, "maintenance": settings}).success
    seconds = time.perf_counter() - started
    after, read_after = live_files(spark, root), read_seconds(spark, root)
    results = {
        "live_files_before": before,
        "live_files_after": after,
        "bronze_read_s_before": read_before,
        "bronze_read_s_after": read_after,
        "bronze_read_ratio_after_before": read_after / read_before,
        "maintenance_job_s": seconds,
    }
    print(json.dumps(results, indent=2))
    (HERE / "results" / "maintenance.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(root, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
