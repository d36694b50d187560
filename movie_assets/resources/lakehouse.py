"""Where the lakehouse's files live: one data root with landing/, delta/, results/ and Spark scratch space."""

import os
import re
from pathlib import Path

import dagster as dg
from pydantic import Field

from movie_assets import run_workers

DATA_DIR_ENV = "MOVIE_ASSETS_DATA_DIR"
LANDING_DIR_ENV = "MOVIE_ASSETS_LANDING_DIR"
SETTLE_ENV = "MOVIE_ASSETS_LANDING_SETTLE_SECONDS"
DEFAULT_SETTLE_SECONDS = 5.0
DEFAULT_DATA_DIR = "data"
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def default_data_dir() -> str:
    return os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR


def default_landing_dir() -> str | None:
    return os.environ.get(LANDING_DIR_ENV) or None


def is_uri(path: str) -> bool:
    return bool(_URI.match(path))


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

    The data root may be a Hadoop-compatible URI (s3a://, abfss://, hdfs://): tables, models and checkpoints
    then live there (the serving steps reach the same tables through delta-rs, which reads s3a:// as s3://).
    Landing files are listed, hashed and header-checked by the driver, so they stay in a folder: `landing_dir`
    (default <data root>/landing), which executors must see at the same path.
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
        if landing:
            return resolve_data_root(landing)
        if is_uri(self.root):
            raise ValueError(
                f"the data root {self.root} is a URI, but landing files are read from a folder: set "
                f"{LANDING_DIR_ENV} to a folder that the driver and the executors see at the same path."
            )
        return f"{self.root}/landing"

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """At a run's start: record its process, and fail the runs of this host whose process died (a CLI run
        with no daemon finds the slots they held freed; see `run_workers`)."""
        if context.instance is not None and context.run is not None and context.log is not None:
            context.instance.add_run_tags(context.run.run_id, run_workers.worker_tags())
            for run_id in run_workers.fail_dead_runs(context.instance):
                context.log.warning(f"run {run_id} died without ending: marked failed and its pool slots freed")

    def table_path(self, name: str) -> str:
        return f"{self.root}/delta/{name}"

    @property
    def checkpoint_dir(self) -> str:
        return f"{self.root}/spark/checkpoints"

    def model_path(self, name: str) -> str:
        return f"{self.root}/models/{name}"
