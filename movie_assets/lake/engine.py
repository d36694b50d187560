"""Which engine does a step's work: one measure (rows), one threshold.

Rows that fit the run process (DRIVER_ROWS, about 40 MB of ratings in Arrow) are read, merged and written there,
with delta-rs, pyarrow and DataFusion: milliseconds, no JVM. Anything larger, or of unknown size, goes to Spark.
A landing file's rows are not known before it is read: its bytes bound them (no ratings line is shorter than
MIN_LINE_BYTES), so files of at most DRIVER_ROWS * MIN_LINE_BYTES bytes in all (8 MB) are small.
"""

DRIVER_ROWS = 1_000_000
MIN_LINE_BYTES = len("1,1,1,0\n")  # the shortest line a rating can be kept from


def in_driver(rows: int | None) -> bool:
    """Whether `rows` (None: not known) are few enough for the run process rather than Spark."""
    return rows is not None and rows <= DRIVER_ROWS


def rows_at_most(file_bytes: int) -> int:
    """The most rating rows landing files of `file_bytes` bytes can hold."""
    return file_bytes // MIN_LINE_BYTES
