"""The checks' measurements on tiny Delta tables written here with delta-rs: exact counts, no JVM."""

import math
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from movie_assets.lake.delta_rs import row_count
from movie_assets.tables import quality


def table(tmp_path: Path, name: str, rows: list[dict], schema: pa.Schema) -> DeltaTable:
    write_deltalake(str(tmp_path / name), pa.Table.from_pylist(rows, schema=schema))
    return DeltaTable(str(tmp_path / name))


PAIRS = pa.schema([("userId", pa.int32()), ("movieId", pa.int32()), ("rating", pa.float64())])
QUARANTINE = pa.schema([("source_file", pa.string()), ("reason", pa.string())])


def test_duplicate_pairs_counts_keys_on_more_than_one_row(tmp_path: Path) -> None:
    rows = [(1, 1, 3.0), (1, 2, 2.0), (2, 1, 1.0), (1, 2, 4.0), (1, 2, 5.0), (3, 3, 1.0), (3, 3, 2.0)]
    ratings = table(tmp_path, "r", [dict(zip(PAIRS.names, r, strict=True)) for r in rows], PAIRS)
    assert quality.duplicate_pairs(ratings) == {"pairs": 4, "duplicate_pairs": 2}
    assert row_count(ratings) == 7
    assert quality.duplicate_keys(ratings, "movieId") == 3
    empty = table(tmp_path, "empty", [], PAIRS)
    assert quality.duplicate_pairs(empty) == {"pairs": 0, "duplicate_pairs": 0}


def test_duplicate_keys_counts_each_repeated_value_once(tmp_path: Path) -> None:
    movies = table(tmp_path, "m", [{"movieId": m} for m in (1, 2, 2, 2, 3, 3, 4)], pa.schema([("movieId", pa.int32())]))
    assert quality.duplicate_keys(movies, "movieId") == 2


def test_reasons_and_files_are_counted_most_frequent_first(tmp_path: Path) -> None:
    lines = [("b.csv", "rating is NaN"), ("a.csv", "userId is missing"), ("b.csv", "userId is missing")]
    lines += [("a.csv", "rating is NaN"), ("a.csv", "rating is NaN"), ("c.csv", "timestamp is missing")]
    quarantine = table(tmp_path, "q", [{"source_file": f, "reason": r} for f, r in lines], QUARANTINE)
    assert quality.reason_counts(quarantine) == {"rating is NaN": 3, "userId is missing": 2, "timestamp is missing": 1}
    assert list(quality.reason_counts(quarantine)) == ["rating is NaN", "userId is missing", "timestamp is missing"]
    assert quality.files_with_reasons(quarantine) == ["a.csv (3)", "b.csv (2)", "c.csv (1)"]
    assert quality.files_with_reasons(quarantine, limit=1) == ["a.csv (3)"]


def test_unknown_movies_counts_rows_and_distinct_ids(tmp_path: Path) -> None:
    rows = [(1, 1, 3.0), (1, 7, 2.0), (2, 7, 1.0), (2, 8, 4.0), (3, 2, 5.0)]
    ratings = table(tmp_path, "r", [dict(zip(PAIRS.names, r, strict=True)) for r in rows], PAIRS)
    movies = table(tmp_path, "m", [{"movieId": m} for m in (1, 2, 3)], pa.schema([("movieId", pa.int32())]))
    assert quality.unknown_movies(ratings, movies) == (3, 2)


def test_mean_count_violations_flags_nan_out_of_range_and_empty_counts(tmp_path: Path) -> None:
    schema = pa.schema([("userId", pa.int32()), ("mean", pa.float64()), ("count", pa.int64())])
    values = [(1, 3.0, 2), (2, 5.5, 1), (3, math.nan, 4), (4, 0.4, 0), (5, None, 3), (6, 0.5, -1)]
    means = table(tmp_path, "t", [dict(zip(schema.names, v, strict=True)) for v in values], schema)
    assert quality.mean_count_violations(means) == {"mean_out_of_range": 3, "count_not_positive": 2, "rows": 6}


def test_factor_violations_counts_rows_with_nan_null_or_no_vector(tmp_path: Path) -> None:
    schema = pa.schema([("movieId", pa.int32()), ("features", pa.list_(pa.float32()))])
    vectors = [(1, [0.1, 0.2]), (2, [math.nan, 0.2]), (3, [None, math.nan]), (4, None), (4, [0.3, 0.4])]
    factors = table(tmp_path, "f", [dict(zip(schema.names, v, strict=True)) for v in vectors], schema)
    rows = [(1, 1, 3.0), (1, 2, 2.0), (2, 2, 1.0), (2, 9, 4.0)]
    ratings = table(tmp_path, "r", [dict(zip(PAIRS.names, r, strict=True)) for r in rows], PAIRS)
    found = quality.factor_violations(factors, ratings)
    assert found == {"rows": 5, "distinct_movies": 4, "rows_with_nan": 3, "rated_movies": 3}
