"""Where the lakehouse's files live: one data root with landing/, delta/, results/ and Spark scratch space."""

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from movie_assets.lake.storage import is_uri
from movie_assets.resources import run_workers
from movie_assets.resources.own_tables import OwnTables

DATA_DIR_ENV = "MOVIE_ASSETS_DATA_DIR"
LANDING_DIR_ENV = "MOVIE_ASSETS_LANDING_DIR"
SETTLE_ENV = "MOVIE_ASSETS_LANDING_SETTLE_SECONDS"
DEFAULT_SETTLE_SECONDS = 5.0
DEFAULT_DATA_DIR = "data"


def default_data_dir() -> str:
    return os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR


def default_landing_dir() -> str | None:
    return os.environ.get(LANDING_DIR_ENV) or None


def resolve_data_root(data_dir: str) -> str:
    """An absolute local path (created if missing) or a Hadoop-compatible URI, kept as given."""
    if not data_dir.strip():
        raise ValueError(f"{DATA_DIR_ENV} is empty: set it to a folder (or a URI such as s3a://bucket/movies).")
    if is_uri(data_dir):
        return data_dir.rstrip("/")
    root = Path(data_dir).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ValueError(f"data root {root} is a file, not a folder: point {DATA_DIR_ENV} at a folder.")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot create data root {root} ({err.strerror}): choose a writable folder.") from err
    return str(root)


class Lakehouse(dg.ConfigurableResource):
    """The data root and the layout under it, from the environment unless set (so no path shows as config).

    The data root may be an object store (s3a://bucket/prefix, or s3://): landing files, tables, models and
    checkpoints all live there; the run process lists and reads landing objects with pyarrow, Spark reads them
    through S3A, delta-rs reaches the tables as s3:// (`lake/storage.py` holds the settings). `landing_dir`
    (default <data root>/landing) moves landing elsewhere.
    """

    data_dir: str | None = Field(default=None, description=f"the data root (default: ${DATA_DIR_ENV} or data/)")
    landing_dir: str | None = Field(default=None, description=f"landing folder (default: ${LANDING_DIR_ENV})")
    settle_seconds: float | None = Field(
        default=None,
        description=f"a landing file is taken once unmodified this long (default: ${SETTLE_ENV} or "
        f"{DEFAULT_SETTLE_SECONDS:g})",
    )

    @property
    def landing_settle_seconds(self) -> float:
        if self.settle_seconds is not None:
            return self.settle_seconds
        return float(os.environ.get(SETTLE_ENV) or DEFAULT_SETTLE_SECONDS)

    @property
    def root(self) -> str:
        return resolve_data_root(self.data_dir or default_data_dir())

    @property
    def landing(self) -> str:
        landing = self.landing_dir or default_landing_dir()
        return resolve_data_root(landing) if landing else f"{self.root}/landing"

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """At a run's start: record its process, and fail the runs of this host whose process died (a CLI run
        with no daemon finds the slots they held freed; see `run_workers`)."""
        if context.instance is not None and context.run is not None and context.log is not None:
            context.instance.add_run_tags(context.run.run_id, run_workers.worker_tags())
            for run_id in run_workers.fail_dead_runs(context.instance):
                context.log.warning(f"run {run_id} died without ending: marked failed and its pool slots freed")

    def table_path(self, name: str) -> str:
        return f"{self.root}/delta/{name}"

    def own(self, context: dg.AssetExecutionContext, *also: str) -> OwnTables:
        """What the running step writes: its assets' tables (and `also`), by key."""
        return OwnTables.of(context, self.table_path, *also)

    @property
    def checkpoint_dir(self) -> str:
        return f"{self.root}/spark/checkpoints"

    def model_path(self, name: str) -> str:
        return f"{self.root}/models/{name}"
