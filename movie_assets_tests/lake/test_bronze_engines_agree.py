"""Property-based: bronze is the same through delta-rs, through Spark and as one full rebuild.

Random sequences of landing changes (a new file, a file replaced by other content, a file removed) are ingested
the way `ratings_bronze` does (`ingest_files`): file by file through the Arrow parse and delta-rs (each draw's
new and replaced files at once, and shrunk on failure), and, for the first 15 draws at once, through Spark's parse
and Spark's replace-where (the driver's threshold set to nothing), a removal rebuilding bronze from the files left
(the full refresh bronze asks for when a file is removed), and as one full rebuild at the end. Each equals the
rows of the files left, read in plain Python.
"""

import logging
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from deltalake import DeltaTable, write_deltalake
from hypothesis import given
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from movie_assets.defs.bronze.assets import ingest_files
from movie_assets.lake import engine
from movie_assets.resources.own_tables import OwnTables
from movie_assets.resources.spark import DeltaSparkResource
from movie_assets.tables import ingest, keys
from movie_assets.tables import schemas as S
from movie_assets_tests.lake.test_engines_agree import HEADER, RUN, valid_line

SOURCE = ingest.RATINGS
TABLES = (SOURCE.bronze_key, SOURCE.quarantine_key)
COLUMNS = [*S.header_of(SOURCE.schema), S.SOURCE_FILE]
SPARK_DRAWS = 15
CONTEXT: Any = SimpleNamespace(log=logging.getLogger(__name__))  # ingest_files only logs through its context

Change = tuple[str, list[str] | None]  # a file's name, and its new lines (None: the file is removed)
content = st.lists(st.one_of(valid_line.map(",".join), valid_line.map(",".join), st.just("")), max_size=4)
changes = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.one_of(content, content, st.none())), max_size=4)


def landed(changes: list[Change], prefix: str = "") -> dict[str, list[str]]:
    """The files left after `changes`, each with its last content."""
    files: dict[str, list[str]] = {}
    for name, lines in changes:
        if lines is None:
            files.pop(f"ratings_{prefix}{name}.csv", None)
        else:
            files[f"ratings_{prefix}{name}.csv"] = lines
    return files


def expected(files: dict[str, list[str]]) -> list[tuple]:
    """Each kept line of each file as bronze's row, read in plain Python (every drawn line is valid or blank)."""
    rows = []
    for name, lines in files.items():
        for line in filter(None, lines):
            user, movie, rating, seconds = line.split(",")
            rows.append((int(user), int(movie), float(rating), int(seconds), name))
    return sorted(rows)


def empty_bronze(root: Path) -> OwnTables:
    """Bronze's two tables, created empty (as after a first build of empty files), owned by the test's step."""
    for key in TABLES:
        write_deltalake(str(root / key), S.arrow_schema(key).empty_table())
    return OwnTables(lambda key: str(root / key), frozenset(TABLES))


def apply(
    landing: Path, tables: OwnTables, changes: list[list[Change]], pyspark: DeltaSparkResource, prefixes: list[str]
) -> None:
    """Each step's changes written into landing and ingested at once, as one bronze run: the changed files merged
    in, or, when a file was removed, bronze rebuilt from every file left (the full refresh that drops its rows)."""
    for step in changes:
        changed: set[str] = set()
        removed = False
        for prefix, (name, lines) in zip(prefixes, step, strict=True):
            path = landing / f"ratings_{prefix}{name}.csv"
            if lines is None:
                removed |= path.exists()
                path.unlink(missing_ok=True)
            else:
                path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
                changed.add(str(path))
        left = sorted(str(p) for p in landing.glob("ratings_*.csv"))
        ingest_now = left if removed else sorted(changed)
        if ingest_now or removed:
            files = [ingest.inspect(path, SOURCE, 0) for path in ingest_now]
            ingest_files(CONTEXT, SOURCE, files, removed, ingest.rating_rules, None, tables, pyspark)


def bronze_rows(tables: OwnTables) -> list[tuple]:
    table = DeltaTable(tables.path(SOURCE.bronze_key)).to_pyarrow_table(columns=COLUMNS)
    return sorted(zip(*(table.column(c).to_pylist() for c in COLUMNS), strict=True))


def quarantined(tables: OwnTables) -> int:
    return DeltaTable(tables.path(SOURCE.quarantine_key)).to_pyarrow_dataset().count_rows()


def test_bronze_is_the_same_through_delta_rs_spark_and_a_rebuild(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pyspark = DeltaSparkResource(master="local[2]", shuffle_partitions=2, driver_memory="2g")
    drawn: list[list[Change]] = []

    @RUN
    @given(changes)
    def through_delta_rs(draw: list[Change]) -> None:
        root = Path(tempfile.mkdtemp(dir=tmp_path))
        (root / "landing").mkdir()
        tables = empty_bronze(root)
        written = [change for change in draw if change[1] is not None]  # a removal is Spark's full refresh
        apply(root / "landing", tables, [[change] for change in written], pyspark, [""])
        assert bronze_rows(tables) == expected(landed(written))
        assert quarantined(tables) == 0
        drawn.append(draw)

    through_delta_rs()

    # The first SPARK_DRAWS draws at once through Spark: draw i's files are named ratings_<i>_<name>.csv, so no
    # two share a file; step n applies change n of every draw that has one. (Spark's cost is per file, not per
    # row: all 200 draws' files would take minutes.)
    drawn = drawn[:SPARK_DRAWS]
    landing = tmp_path / "spark" / "landing"
    landing.mkdir(parents=True)
    tables = empty_bronze(tmp_path / "spark")
    monkeypatch.setattr(engine, "DRIVER_ROWS", -1)  # every file is more than the driver takes: Spark's paths
    for n in range(max(map(len, drawn), default=0)):
        step = [(i, draw[n]) for i, draw in enumerate(drawn) if len(draw) > n]
        apply(landing, tables, [[change for _, change in step]], pyspark, [f"{i}_" for i, _ in step])
    everything = {name: lines for i, draw in enumerate(drawn) for name, lines in landed(draw, f"{i}_").items()}
    assert bronze_rows(tables) == expected(everything)

    rebuilt = empty_bronze(tmp_path / "rebuilt")
    files = [ingest.inspect(str(path), SOURCE, 0) for path in sorted(landing.glob("ratings_*.csv"))]
    ingest_files(CONTEXT, SOURCE, files, True, ingest.rating_rules, None, rebuilt, pyspark)
    assert bronze_rows(rebuilt) == expected(everything)
    assert quarantined(tables) == quarantined(rebuilt) == 0
    assert keys.RATINGS_BRONZE in TABLES
