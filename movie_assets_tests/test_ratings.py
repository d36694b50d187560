"""ratings_silver's uniqueness measure on tiny tables written here: merged keys only, or every row."""

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from movie_assets import ratings
from movie_assets.delta_tables import TableRef, merge_rows, table_version, write_table

pytestmark = pytest.mark.slow  # Delta commits through Spark: not in make test-fast

RATINGS = "userId int, movieId int, rating double, timestamp int, source_file string"


def test_duplicates_are_counted_over_the_keys_merged_since_the_rebuild(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "silver")
    found = lambda: ratings.duplicate_pairs(spark, TableRef("ratings_silver", path, table_version(spark, path)))  # noqa: E731
    write_table(spark.createDataFrame([(1, 1, 3.0, 9, "a"), (1, 2, 2.0, 9, "a"), (2, 1, 1.0, 9, "a")], RATINGS), path)
    assert found() == {"pairs": 3, "duplicate_pairs": 0, "checked": "every row"}
    merge_rows(spark.createDataFrame([(3, 1, 3.0, 9, "b")], RATINGS), path, ["userId", "movieId"], {})
    # A faulty MERGE: a source with one key twice inserts both rows; only the two merged keys are read.
    twice = spark.createDataFrame([(4, 4, 1.0, 9, "c")] * 2, RATINGS)
    merge_rows(twice, path, ["userId", "movieId"], {})
    assert found() == {"pairs": 2, "duplicate_pairs": 1, "checked": "keys merged since the rebuild at v0"}
    # A rebuild (here with a repeated key) is checked whole.
    write_table(spark.createDataFrame([(1, 1, 3.0, 9, "a")] * 2 + [(5, 5, 1.0, 9, "a")], RATINGS), path)
    assert found() == {"pairs": 2, "duplicate_pairs": 1, "checked": "every row"}
