"""Progress lines for long Spark work: the active stage and its finished tasks."""

import time

from pyspark.sql import SparkSession

from movie_assets.resources.progress import spark_progress


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str) -> None:
        self.lines.append(message)


def test_reports_the_running_stage_and_its_tasks(spark: SparkSession) -> None:
    log = Log()
    slow = spark.range(0, 4, numPartitions=4).selectExpr("reflect('java.lang.Thread', 'sleep', cast(400 as bigint))")
    with spark_progress(log, lambda: spark.sparkContext, "sleeping", every_s=0.1):
        assert len(slow.collect()) == 4  # 4 tasks of 400 ms on 2 cores: about 0.8 s
    assert log.lines, "no progress reported"
    assert all(line.startswith("sleeping: stage ") for line in log.lines)
    assert any(line.endswith("/4 tasks") for line in log.lines)


def test_reports_nothing_and_starts_nothing_before_a_session() -> None:
    log, asked = Log(), []

    def no_session() -> None:
        asked.append("context")

    with spark_progress(log, no_session, "merging", every_s=0.01):
        time.sleep(0.1)
    assert asked and log.lines == []  # asked several times, never a line
