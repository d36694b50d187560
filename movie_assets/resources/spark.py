"""The one Spark session of a run: Delta-enabled, sized for a laptop, every knob overridable."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from delta.pip_utils import configure_spark_with_delta_pip
from pydantic import PrivateAttr
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

MASTER_ENV = "MOVIE_ASSETS_SPARK_MASTER"
DRIVER_MEMORY_ENV = "MOVIE_ASSETS_SPARK_DRIVER_MEMORY"
EXECUTOR_MEMORY_ENV = "MOVIE_ASSETS_SPARK_EXECUTOR_MEMORY"
EXECUTOR_CORES_ENV = "MOVIE_ASSETS_SPARK_EXECUTOR_CORES"
CONF_ENV = "MOVIE_ASSETS_SPARK_CONF"
SHUFFLE_PARTITIONS_ENV = "MOVIE_ASSETS_SPARK_SHUFFLE_PARTITIONS"
UI_ENV = "MOVIE_ASSETS_SPARK_UI"
JARS_DIR_ENV = "MOVIE_ASSETS_DELTA_JARS_DIR"
JARS_CACHE_ENV = "MOVIE_ASSETS_CACHE_DIR"
MIN_JAVA = 17
LOG4J2 = Path(__file__).with_name("log4j2.properties")
LOOPBACK = "127.0.0.1"


def delta_packages() -> str:
    """The Delta Lake Maven coordinates, exactly as delta-spark's pip helper names them."""
    return configure_spark_with_delta_pip(SparkSession.Builder())._options["spark.jars.packages"]


def jars_cache() -> Path:
    """Where the local paths of the resolved Delta jars are remembered, per Maven coordinate."""
    folder = Path(os.environ.get(JARS_CACHE_ENV, "~/.cache/movie_assets")).expanduser()
    return folder / (delta_packages().replace(":", "_") + ".jars")


def delta_jars_config() -> dict[str, str]:
    """The Delta jars for the session: a folder of jars if given, the jars resolved before, else Maven.

    Spark resolves `spark.jars.packages` through Ivy at every start (about 3 s, and it needs the registry
    reachable). Once resolved, the jar paths are remembered and handed to Spark directly.
    """
    folder = os.environ.get(JARS_DIR_ENV)
    if folder:
        jars = sorted(str(p) for p in Path(folder).glob("*.jar"))
        if not jars:
            raise ValueError(f"{JARS_DIR_ENV}={folder} holds no .jar files: resolve the Delta jars into it first.")
        return {"spark.jars": ",".join(jars)}
    cache = jars_cache()
    if cache.exists():
        jars = cache.read_text().split()
        if jars and all(os.path.exists(j.removeprefix("file:")) for j in jars):
            return {"spark.jars": ",".join(jars)}
    return {"spark.jars.packages": delta_packages()}


def remember_jars(session: SparkSession) -> None:
    """After Ivy resolved the packages, remember the local jars for the next session."""
    jars = [j for j in session.sparkContext.getConf().get("spark.jars", "").split(",") if j]
    if jars:
        cache = jars_cache()
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text("\n".join(jars) + "\n")


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
    java_options = f"-Xss16m -Dlog4j2.configurationFile={LOG4J2.as_uri()}"
    conf: dict[str, Any] = {
        "spark.master": spark_master,
        "spark.app.name": "movie_assets",
        "spark.driver.memory": driver_memory or os.environ.get(DRIVER_MEMORY_ENV, "4g"),
        **delta_jars_config(),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.default.parallelism": str(partitions),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        # Delta reads its log with 50 partitions by default: far too many for a small log on a laptop.
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.ui.enabled": str(ui_on).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        # Tables are addressed by path; the unused warehouse folder stays out of the working directory.
        "spark.sql.warehouse.dir": str(Path(tempfile.gettempdir()) / "movie_assets-spark-warehouse"),
        # New tables record their changes, so ratings_silver can merge only what bronze gained.
        "spark.databricks.delta.properties.defaults.enableChangeDataFeed": "true",
        "spark.driver.extraJavaOptions": java_options,
        "spark.executor.extraJavaOptions": java_options,
    }
    if spark_master.startswith("local"):  # nothing listens beyond this machine
        conf |= {"spark.driver.host": LOOPBACK, "spark.driver.bindAddress": LOOPBACK}
    for env, key in ((EXECUTOR_MEMORY_ENV, "spark.executor.memory"), (EXECUTOR_CORES_ENV, "spark.executor.cores")):
        if os.environ.get(env):
            conf[key] = os.environ[env]
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


class DeltaSparkResource(LazyPySparkResource):
    """dagster-pyspark's lazy session, checked for Java first, with Delta Lake on and logs kept quiet.

    It also keeps DataFrames that several steps of a run reuse, persisted once (see `cached`).
    """

    _cache: dict[Hashable, DataFrame] = PrivateAttr(default_factory=dict)

    def cached(self, key: Hashable, build: Callable[[], DataFrame]) -> DataFrame:
        """`build()` persisted once per run under `key` (include a table version in it), then reused."""
        if key not in self._cache:
            self._cache[key] = build().persist(StorageLevel.MEMORY_AND_DISK)
        return self._cache[key]

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for frame in self._cache.values():
            frame.unpersist()
        self._cache.clear()

    def _init_session(self) -> None:
        if self._spark_session is None:
            ensure_java()
            # Python workers (if a step ever needs them) run the driver's interpreter, with its packages.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            if self.spark_config.get("spark.driver.bindAddress") == LOOPBACK:
                os.environ.setdefault("SPARK_LOCAL_IP", LOOPBACK)  # and Spark need not warn about the hostname
            super()._init_session()
            self._spark_session.sparkContext.setLogLevel("WARN")
            if "spark.jars.packages" in self.spark_config:
                remember_jars(self._spark_session)


def delta_spark_resource(**overrides: Any) -> DeltaSparkResource:
    return DeltaSparkResource(spark_config=spark_config(**overrides))
