"""The one Spark session of a run: Delta-enabled, sized for a laptop, every knob overridable."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, PrivateAttr
from pyspark import SparkContext
from pyspark.sql import SparkSession

from movie_assets.lake import storage

MASTER_ENV = "MOVIE_ASSETS_SPARK_MASTER"
DRIVER_MEMORY_ENV = "MOVIE_ASSETS_SPARK_DRIVER_MEMORY"
EXECUTOR_MEMORY_ENV = "MOVIE_ASSETS_SPARK_EXECUTOR_MEMORY"
EXECUTOR_CORES_ENV = "MOVIE_ASSETS_SPARK_EXECUTOR_CORES"
CONF_ENV = "MOVIE_ASSETS_SPARK_CONF"
SHUFFLE_PARTITIONS_ENV = "MOVIE_ASSETS_SPARK_SHUFFLE_PARTITIONS"
UI_ENV = "MOVIE_ASSETS_SPARK_UI"
JARS_DIR_ENV = "MOVIE_ASSETS_DELTA_JARS_DIR"
MIN_JAVA = 17
LOG4J2 = Path(__file__).with_name("log4j2.properties")
LOOPBACK = "127.0.0.1"
CLASS_ARCHIVE = "spark-classes.jsa"  # in the virtualenv, written by `make install` (movie_assets.scripts.class_archive)


SCALA_BINARY = "2.13"  # Spark 4's only Scala


def delta_packages() -> str:
    """The Delta Lake Maven coordinates of the installed delta-spark and pyspark, from their package metadata:
    io.delta:delta-spark_<Spark major.minor>_<Scala>:<delta-spark version>, as delta-spark's pip helper names them."""
    spark_minor = ".".join(metadata.version("pyspark").split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_{SCALA_BINARY}:{metadata.version('delta-spark')}"


def jars_dir() -> Path:
    """Where `make install` put the Delta jars (inside the virtualenv), or MOVIE_ASSETS_DELTA_JARS_DIR."""
    return Path(os.environ.get(JARS_DIR_ENV) or Path(sys.prefix) / "delta-jars").expanduser()


def delta_jars_config() -> dict[str, str]:
    """The Delta jars as local files: resolved once at install, so no session resolves packages at start."""
    folder = jars_dir()
    group, artifact, version = delta_packages().split(":")
    main = folder / f"{artifact}-{version}.jar"
    if not main.is_file():
        raise dg.Failure(
            f"the Delta jar {main.name} is not in {folder}: run `make install` (it resolves {group}:{artifact}:"
            f"{version} with Maven), or set {JARS_DIR_ENV} to a folder that holds it."
        )
    return {"spark.jars": ",".join(sorted(str(p) for p in folder.glob("*.jar")))}


def java_options() -> str:
    """The JVM options of the driver and of the executors (in local mode, the driver's JVM runs the tasks).

    The parallel collector, not Java's default (G1): batch work wants throughput, not short pauses. At 25M on 2
    cores, alternated in fresh sessions: the explicit ALS fit 55.9-56.9 s against 59.4-60.2 s with G1,
    ratings_silver's rebuild 31.9-32.1 s against 32.8-33.6 s, the session start 3.1 s against 3.3 s.
    """
    return f"-Xss16m -XX:+UseParallelGC -Dlog4j2.configurationFile={LOG4J2.as_uri()}"


def class_archive() -> Path:
    return Path(sys.prefix) / CLASS_ARCHIVE


def driver_java_options() -> str:
    """`java_options()`, plus the class archive when `make install` wrote one: the JVM maps the classes a session
    loads instead of loading and verifying them (2.5 s less to start, 2 s less for the first Delta write).
    An archive from another JVM or Spark is ignored silently (its warnings are off); the session starts as
    without one.
    """
    archive = class_archive()
    if not archive.is_file():
        return java_options()
    return f"{java_options()} -XX:SharedArchiveFile={archive} -Xlog:cds=off,cds+dynamic=off"


def default_shuffle_partitions() -> int:
    """Two tasks per core: enough parallelism, few tiny files. AQE coalesces further."""
    return 2 * (os.cpu_count() or 2)


def extra_conf_from_env() -> dict[str, str]:
    """Any Spark settings, as a JSON object in MOVIE_ASSETS_SPARK_CONF (values may hold commas and '=')."""
    text = os.environ.get(CONF_ENV, "").strip()
    if not text:
        return {}
    try:
        conf = json.loads(text)
    except json.JSONDecodeError:
        conf = None
    if not isinstance(conf, dict):
        raise ValueError(f'{CONF_ENV} must be a JSON object of Spark settings, like {{"spark.executor.cores": "2"}}.')
    return {str(k): str(v) for k, v in conf.items()}


def spark_config(
    master: str | None = None,
    driver_memory: str | None = None,
    shuffle_partitions: int | None = None,
    ui: bool | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The session configuration; arguments win over environment variables, which win over defaults.

    On a cluster (a `spark://`, `yarn` or `k8s://` master) set the executors' memory and cores, and any other
    setting through MOVIE_ASSETS_SPARK_CONF; local mode ignores the executor settings.
    """
    partitions = shuffle_partitions or int(os.environ.get(SHUFFLE_PARTITIONS_ENV, default_shuffle_partitions()))
    ui_on = ui if ui is not None else os.environ.get(UI_ENV, "") in {"1", "true", "yes"}
    spark_master = master or os.environ.get(MASTER_ENV, "local[*]")
    conf: dict[str, Any] = {
        "spark.master": spark_master,
        "spark.app.name": "movie_assets",
        "spark.driver.memory": driver_memory or os.environ.get(DRIVER_MEMORY_ENV, "4g"),
        **delta_jars_config(),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.default.parallelism": str(partitions),
        # ALS shuffles its factor blocks as objects, which Kryo writes faster than Java serialization at scale
        # (explicit fit at 25M: 49-53 s against 57-58 s; implicit at 5M the same; at 1M 3-7% slower, about a
        # second; measured side by side). The buffer fits a factor block at a high rank.
        "spark.serializer": "org.apache.spark.serializer.KryoSerializer",
        "spark.kryoserializer.buffer.max": "1g",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        # Delta reads its log with 50 partitions by default: far too many for a small log on a laptop.
        "spark.databricks.delta.snapshotPartitions": "2",
        # VACUUM lists a table's folders in this many tasks; Spark's default of 10,000 made VACUUM of a table of
        # a few files take 31-43 s on 2 cores instead of 2.6-2.9 s (measured side by side).
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(partitions),
        "spark.ui.enabled": str(ui_on).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        # Tables are addressed by path; the unused warehouse folder stays out of the working directory.
        "spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "movie_assets-spark-warehouse"),
        # New tables record their changes, so ratings_silver can merge only what bronze gained.
        "spark.databricks.delta.properties.defaults.enableChangeDataFeed": "true",
        "spark.driver.extraJavaOptions": driver_java_options(),
        "spark.executor.extraJavaOptions": java_options(),
    }
    if spark_master.startswith("local"):  # nothing listens beyond this machine
        conf |= {"spark.driver.host": LOOPBACK, "spark.driver.bindAddress": LOOPBACK}
    for env, key in ((EXECUTOR_MEMORY_ENV, "spark.executor.memory"), (EXECUTOR_CORES_ENV, "spark.executor.cores")):
        if os.environ.get(env):
            conf[key] = os.environ[env]
    conf.update(storage.spark_conf(os.environ))
    conf.update(extra_conf_from_env())
    conf.update(extra or {})
    return conf


def java_major_version(java: str = "java") -> int | None:
    """The major version of the JVM Spark will start, or None when there is none."""
    home = os.environ.get("JAVA_HOME")
    exe = os.path.join(home, "bin", "java") if home else shutil.which(java)
    if not exe or not os.path.exists(exe):
        return None
    out = subprocess.run([exe, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def ensure_java() -> None:
    """Fail with one clear line, not a JVM stack trace, when Java 17+ is missing."""
    version = java_major_version()
    if version is None:
        raise dg.Failure(
            f"Spark needs Java {MIN_JAVA}+ and none was found: install OpenJDK {MIN_JAVA} "
            "(apt-get install openjdk-17-jre-headless) or set JAVA_HOME."
        )
    if version < MIN_JAVA:
        raise dg.Failure(
            f"Spark needs Java {MIN_JAVA}+ but found Java {version}: install a newer JDK or set JAVA_HOME."
        )


@contextmanager
def launch_env(variables: dict[str, str]) -> Iterator[None]:
    """Environment variables for the JVM that starts inside the block only; afterwards each is as it was."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update({name: value for name, value in variables.items() if before[name] is None})
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)


class DeltaSparkResource(dg.ConfigurableResource):
    """The run's one Spark session, started when a step first asks for it (a run that needs none starts none),
    checked for Java first, with Delta Lake on and logs kept quiet.

    Its settings come from `spark_config()` (the environment) when the session starts; the fields here only
    override them, so that the Launchpad shows no machine-specific values.
    """

    spark_config: dict[str, Any] = Field(default_factory=dict, description="Spark settings over the project's")
    master: str | None = Field(default=None, description=f"Spark master (default: {MASTER_ENV} or local[*])")
    driver_memory: str | None = Field(default=None, description=f"driver memory (default: {DRIVER_MEMORY_ENV} or 4g)")
    shuffle_partitions: int | None = Field(default=None, description="shuffle partitions (default: 2 per core)")

    def session_config(self) -> dict[str, Any]:
        return spark_config(self.master, self.driver_memory, self.shuffle_partitions, extra=self.spark_config)

    _session: SparkSession | None = PrivateAttr(default=None)

    @property
    def spark_session(self) -> SparkSession:
        """The session, started (or, in a process that has one, reused) on the first call."""
        if self._session is None:
            ensure_java()
            conf, builder = self.session_config(), SparkSession.builder
            for key, value in conf.items():
                builder = builder.config(key, value)
            local = conf.get("spark.driver.bindAddress") == LOOPBACK
            # Python workers (a UDF's) run this interpreter, with its packages: PySpark reads PYSPARK_PYTHON when
            # the context starts (not spark.pyspark.python, which only spark-submit reads). Locally, the loopback
            # address spares a warning about the hostname.
            variables = {"PYSPARK_PYTHON": sys.executable} | ({"SPARK_LOCAL_IP": LOOPBACK} if local else {})
            with launch_env(variables):
                self._session = builder.getOrCreate()
            self._session.sparkContext.setLogLevel("WARN")
        return self._session

    @property
    def spark_context(self) -> SparkContext:
        return self.spark_session.sparkContext

    def started_context(self) -> SparkContext | None:
        """The session's SparkContext if a step has started it, else None (this starts nothing)."""
        return None if self._session is None else self._session.sparkContext


def delta_spark_resource(
    master: str | None = None, driver_memory: str | None = None, shuffle_partitions: int | None = None
) -> DeltaSparkResource:
    return DeltaSparkResource(master=master, driver_memory=driver_memory, shuffle_partitions=shuffle_partitions)
