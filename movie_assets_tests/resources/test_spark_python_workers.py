"""A UDF's Python workers run the driver's interpreter, so they import its packages."""

import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F


def test_python_workers_run_the_drivers_interpreter(spark: SparkSession) -> None:
    """PySpark starts workers with PYSPARK_PYTHON (else `python3` on PATH, which may lack numpy)."""

    @F.udf("string")
    def interpreter(_: int) -> str:
        import numpy  # noqa: F401  (what the original's similarity UDF imports)

        return sys.executable

    assert spark.range(1).select(interpreter("id")).first()[0] == sys.executable
