"""The class archive that `make install` writes: a new session maps Spark's classes from it."""

import subprocess
import sys
from pathlib import Path

import pytest

from movie_assets.resources.spark import class_archive

# A session as a run starts it, logging where each class came from.
SESSION = (
    "import sys; from movie_assets.resources.spark import DeltaSparkResource, driver_java_options; "
    "options = driver_java_options() + ' -Xlog:class+load=info:file=' + sys.argv[1]; "
    "DeltaSparkResource(spark_config={'spark.driver.extraJavaOptions': options}).spark_session.stop()"
)


@pytest.mark.slow
def test_a_new_session_maps_spark_classes_from_the_archive(tmp_path: Path) -> None:
    assert class_archive().is_file(), f"{class_archive()} is missing: run make install"
    log = tmp_path / "class-load.log"
    subprocess.run([sys.executable, "-c", SESSION, str(log)], check=True, capture_output=True, timeout=300)
    sources = {}
    for line in log.read_text().splitlines():
        name, _, source = line.partition(" source: ")
        sources[name.rsplit(" ", 1)[-1]] = source
    assert sources["org.apache.spark.SparkContext"] == "shared objects file (top)"
    assert sources["org.apache.spark.sql.SparkSession"] == "shared objects file (top)"
