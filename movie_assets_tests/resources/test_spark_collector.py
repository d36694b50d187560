"""The session's JVM collects garbage with the parallel collector that `java_options` names."""

from pyspark.sql import SparkSession


def test_the_session_runs_the_parallel_collector(spark: SparkSession) -> None:
    beans = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()
    assert sorted(b.getName() for b in beans) == ["PS MarkSweep", "PS Scavenge"]
