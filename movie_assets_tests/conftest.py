"""One session-scoped Delta-enabled Spark session for the whole suite, tiny CSV writers, the real sample."""

import os
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from hypothesis import settings
from pyspark.sql import DataFrame, SparkSession

from movie_assets.definitions import build_resources
from movie_assets.lake import commits
from movie_assets.resources.lakehouse import SETTLE_ENV
from movie_assets.resources.spark import delta_spark_resource
from movie_assets_tests.graph import ASSETS
from movie_assets_tests.ml_small import SELECTION, land

ML_SMALL = Path(__file__).resolve().parents[1] / "samples" / "ml-latest-small"
TEST_SPARK = {"master": "local[2]", "shuffle_partitions": 2, "driver_memory": "2g"}
# `make test` hands whole files to two pytest-xdist workers in collection order: the daemon's file, the longest,
# starts on one worker while the other runs the files that share the real sample's run (`ml_small_run`, once per
# worker), the longest of them first. `make test-deploy` starts the store's file (four tests, one sample run) on one
# worker and the other files on the other.
# Tests write landing files and ingest them at once: no settle time (a test that checks it sets its own). The
# servers and CLIs the tests start inherit this.
os.environ[SETTLE_ENV] = "0"
# Property-based tests: 200 examples each in make test, 10 in make test-fast (--hypothesis-profile=fast).
settings.register_profile("default", max_examples=200)
settings.register_profile("fast", max_examples=10)
FIRST = ["test_daemon_e2e.py", "test_on_a_store.py", "test_e2e_ml_small.py", "test_concurrent_runs.py",
         "test_streamlit_app.py"]  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Those files first, in that order; every other test keeps its place (a stable sort)."""
    items.sort(key=lambda item: FIRST.index(item.path.name) if item.path.name in FIRST else len(FIRST))


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """The suite's one Spark session; Dagster resources built in tests reuse it (getOrCreate)."""
    session = delta_spark_resource(**TEST_SPARK).spark_session
    yield session
    session.stop()


@pytest.fixture
def resources(tmp_path: Path, spark: SparkSession) -> dict[str, object]:
    """Dagster resources over a fresh data root in tmp_path."""
    return build_resources(str(tmp_path), **TEST_SPARK)


def write_csv(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def merge_into(path: str, rows: DataFrame, on: list[str]) -> dict[str, int]:
    """MERGE `rows` into the Delta table at `path` through the engine seam (a change like silver's)."""
    return commits.refresh(path, Path(path).name, lambda table: commits.merge(table, rows, on, {}))


def optimized_plan(frame: DataFrame) -> str:
    """The optimized logical plan Spark will run for `frame`, as text."""
    return frame._jdf.queryExecution().optimizedPlan().toString()


@pytest.fixture(scope="session")
def ml_small() -> Path:
    """The real ml-latest-small sample, shipped in the repository."""
    return ML_SMALL


@pytest.fixture(scope="session")
def ml_small_run(
    ml_small: Path, tmp_path_factory: pytest.TempPathFactory, spark: SparkSession
) -> tuple[dg.ExecuteInProcessResult, Path]:
    """ml-latest-small materialized through the graph (but similar_movies) in local mode, once per session."""
    root = tmp_path_factory.mktemp("ml_small")
    land(ml_small, root / "landing")
    result = dg.materialize(ASSETS, resources=build_resources(str(root), **TEST_SPARK), selection=SELECTION)
    assert result.success
    return result, root
