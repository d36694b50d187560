"""The whole graph on a local root, on an object store, and on the store with a standalone Spark cluster, in one
sitting: `movie-assets materialize` on ml-latest-small, wall time each, then every bronze and silver table
compared across the three. `.venv/bin/python -m benchmarks.deployments` (after `make test-deploy`, which builds
the S3 server); the figures are in docs/deploying.md.
"""

import os
import subprocess
import tempfile
import time
from pathlib import Path

from movie_assets_tests.servers import put, rows, s3_server
from movie_assets_tests.spark_cluster import standalone_cluster
from movie_assets_tests.test_on_a_store import CLI, TABLES, landing_files

ML_SMALL = Path(__file__).resolve().parents[1] / "samples" / "ml-latest-small"
STORE_ROOTS = {"object store": "s3a://lake/movies", "object store + cluster": "s3a://lake/cluster"}


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="movie_assets-deployments-"))
    os.environ["MOVIE_ASSETS_LANDING_SETTLE_SECONDS"] = "0"  # the files are written whole, just before the run
    with s3_server("lake") as env, standalone_cluster(work / "cluster", workers=2, cores=1, memory="1500m") as cluster:
        os.environ.update(env)
        on_cluster = {
            "MOVIE_ASSETS_SPARK_MASTER": cluster.master_url,
            "MOVIE_ASSETS_SPARK_EXECUTOR_MEMORY": "1g",
            "MOVIE_ASSETS_SPARK_EXECUTOR_CORES": "1",
        }
        setups = {
            "local root": (str(work / "local"), {"MOVIE_ASSETS_SPARK_MASTER": "local[2]"}),
            "object store": (STORE_ROOTS["object store"], {"MOVIE_ASSETS_SPARK_MASTER": "local[2]"}),
            "object store + cluster": (STORE_ROOTS["object store + cluster"], on_cluster),
        }
        for name, (root, spark) in setups.items():
            for file, data in landing_files(ML_SMALL).items():
                put(env, root, file, data)
            home = work / f"home {name}"
            home.mkdir()
            variables = {**os.environ, "MOVIE_ASSETS_DATA_DIR": root, "DAGSTER_HOME": str(home), **spark}
            started = time.perf_counter()
            done = subprocess.run([str(CLI), "materialize"], env=variables, capture_output=True, text=True)
            print(f"{name}: {time.perf_counter() - started:.1f} s, exit {done.returncode}", flush=True)
            print(done.stdout if done.returncode == 0 else done.stderr[-3000:], flush=True)
        for table in TABLES:
            found = [rows(env, root, table) for root, _ in setups.values()]
            print(f"{table}: {len(found[0]):,} rows, {'equal' if all(f == found[0] for f in found) else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
