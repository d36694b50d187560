"""Property-based: the two engines agree, on random data hypothesis draws.

Silver: random sequences of landing batches (new pairs; later, earlier and equal timestamps; ties on file name
and rating) merged into ratings_silver batch by batch through delta-rs (DataFusion renders the "later wins"
condition), through Delta Spark, and rebuilt at once by Spark's window over every row, give the same table as an
independent reading of `schemas.LATER_WINS` in plain Python. Derived: after each of those MERGEs, the two
aggregates and the title join refreshed through delta-rs (no Spark) and through Spark equal plain Python and
Spark's rebuild. Lines: random rating lines (valid, bad, quoted, blank, odd whitespace, huge numbers) read by the
Arrow parse, when it takes the file, keep exactly the rows Spark's parse keeps, and every line the Arrow parse
reads alone is one Spark keeps with the same values.

Hypothesis draws each example and checks delta-rs on it at once (and shrinks a failure); Spark, whose every job
costs a fraction of a second, then checks all the examples in a few jobs: each example's userIds are offset so
that no two examples share a key. `make test` runs 200 examples of each, `make test-fast` 10 (conftest's
hypothesis profiles).
"""

import re
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from movie_assets.lake import commits, engine
from movie_assets.lake.commits import Snapshot
from movie_assets.lake.delta_tables import TableRef
from movie_assets.tables import aggregates, ingest, keys, title_join
from movie_assets.tables import schemas as S
from movie_assets.tables.ratings import SILVER_VERSION, later
from movie_assets.tables.title_join import MOVIES_VERSION
from movie_assets.tables.transforms import SILVER_COLUMNS, latest_ratings, mean_count, ratings_with_titles

ON = [S.USER_ID, S.MOVIE_ID]
USERS = 3  # few users, movies, times, files and ratings: most draws repeat a pair and tie on some column
OFFSET = 10  # example i's user u is userId i * OFFSET + u in the Spark checks
RUN = settings(deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

Row = tuple[int, int, float, int, str]  # userId, movieId, rating, timestamp, source_file: silver's columns

rows = st.tuples(
    st.integers(1, USERS),
    st.integers(1, 3),
    st.sampled_from([0.5, 3.0, 5.0]),
    st.integers(1, 3),
    st.sampled_from(["ratings_a.csv", "ratings_b.csv"]),
)
# A batch holds one row per pair, as bronze's new rows are once deduplicated (the step before the MERGE).
batches = st.lists(st.lists(rows, min_size=1, max_size=9, unique_by=lambda r: (r[0], r[1])), min_size=1, max_size=4)


def reference(example: list[list[Row]]) -> set[Row]:
    """The later row of each pair by (timestamp, source_file, rating): LATER_WINS read independently."""
    best: dict[tuple[int, int], Row] = {}
    for row in (r for batch in example for r in batch):
        pair = (row[0], row[1])
        if pair not in best or (row[3], row[4], row[2]) > (best[pair][3], best[pair][4], best[pair][2]):
            best[pair] = row
    return set(best.values())


def arrow(batch: list[Row]) -> pa.Table:
    return pa.table({c: [r[i] for r in batch] for i, c in enumerate(SILVER_COLUMNS)})


def apply(path: Path, example: list[list[Any]]) -> None:
    """The first batch builds the table, each later one is MERGEd under the "later wins" condition, as silver is
    refreshed; the engine is the one that holds the rows (an Arrow table: delta-rs; a DataFrame: Spark)."""
    first, *rest = example
    commits.overwrite(Snapshot.read(str(path), keys.RATINGS_SILVER), first, {"batch": 0})
    for n, batch in enumerate(rest, 1):
        snapshot = Snapshot.read(str(path), keys.RATINGS_SILVER)
        commits.merge(snapshot, batch, ON, {"batch": n}, update_when=later("s", "t"), range_key=S.USER_ID)


def table_rows(path: Path) -> set[Row]:
    table = Snapshot.read(str(path), keys.RATINGS_SILVER).existing.to_pyarrow_table(columns=SILVER_COLUMNS)
    return set(zip(*(table.column(c).to_pylist() for c in SILVER_COLUMNS), strict=True))


def test_silver_is_the_same_through_delta_rs_spark_and_a_rebuild(spark: SparkSession, tmp_path: Path) -> None:
    examples: list[list[list[Row]]] = []

    @RUN
    @given(batches)
    def through_delta_rs(example: list[list[Row]]) -> None:
        path = tmp_path / f"delta_rs_{len(examples)}"
        apply(path, [arrow(batch) for batch in example])
        assert table_rows(path) == reference(example)
        examples.append(example)

    through_delta_rs()

    def offset(i: int, batch: list[Row]) -> list[Row]:
        return [(i * OFFSET + u, m, r, t, f) for u, m, r, t, f in batch]

    expected = {row for i, example in enumerate(examples) for row in offset(i, list(reference(example)))}
    schema = S.TABLES[keys.RATINGS_SILVER]
    depth = max(len(example) for example in examples)
    together = [
        spark.createDataFrame([r for i, e in enumerate(examples) if len(e) > n for r in offset(i, e[n])], schema)
        for n in range(depth)
    ]  # batch n of every example that has one: no two examples share a key, so one MERGE does each example's
    apply(tmp_path / "spark", together)
    assert table_rows(tmp_path / "spark") == expected
    every_row = spark.createDataFrame([r for i, e in enumerate(examples) for b in e for r in offset(i, b)], schema)
    assert {tuple(r) for r in latest_ratings(every_row).collect()} == expected


VALID_RATINGS = ["0.5", "1", "1.0", "1.5", "2", "2.5", "3", "3.0", "3.5", "4", "4.5", "5", "5.0"]
ODD_VALUES = ["", " ", " 1", "1 ", "01", "+1", "-1", "0", "1e3", "4.25", "5.5", "0.0", "NaN", "2147483648",
              "32503680000", "99999999999999999999", '"1"', '"1,5"', "abc", "\uff11", "1.", ".5"]  # fmt: skip
# Values at the edges of the plain grammar: some are in it, some only look so.
EDGES = ["0", "00", "01", "1000000000", "2147483647", "2147483648", "2099999999", "2100000000", "0.0", "5.5", "4.0"]


IDS, SECONDS = st.integers(1, 999_999_999).map(str), st.integers(0, 2_099_999_999).map(str)
valid_line = st.tuples(IDS, IDS, st.sampled_from(VALID_RATINGS), SECONDS)


def edge(valid: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly valid values, one in four at an edge of the grammar."""
    return st.one_of(valid, valid, valid, st.sampled_from(EDGES))


edge_line = st.tuples(edge(IDS), edge(IDS), edge(st.sampled_from(VALID_RATINGS)), edge(SECONDS))


@st.composite
def odd_line(draw: st.DrawFn) -> str:
    """A valid line with one field replaced by an odd value, or a field added or dropped."""
    fields = list(draw(valid_line))
    change = draw(st.sampled_from(["replace", "add", "drop"]))
    if change == "replace":
        fields[draw(st.integers(0, 3))] = draw(st.sampled_from(ODD_VALUES))
    elif change == "add":
        fields.append(draw(st.sampled_from(ODD_VALUES)))
    else:
        fields.pop(draw(st.integers(0, 3)))
    return ",".join(fields)


HEADER = ",".join(ingest.RATINGS.header)
# Each value just past an expectation's bound, and on it, one line each: the file goes to Spark, and each line
# is checked alone.
BOUNDS = ["0,1,1,1", "1,1,1,1", "1,0,1,1", "1,1,0,1", "1,1,0.5,1", "1,1,5.5,1", "1,1,5,1", "1,1,4.75,1", "1,1,1,0"]
line = st.one_of(
    valid_line.map(",".join),
    edge_line.map(",".join),
    odd_line(),
    st.sampled_from(["", "   ", HEADER, "\t", "1,1,4.0,1\r"]),
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\n"), max_size=12),
)
# Half the files only valid, blank and header lines (the files the Arrow parse takes), half anything.
files = st.one_of(
    st.lists(st.one_of(valid_line.map(",".join), st.sampled_from(["", HEADER])), min_size=1, max_size=12),
    st.lists(line, min_size=1, max_size=12),
)


def test_the_arrow_parse_keeps_what_the_spark_parse_keeps(spark: SparkSession, tmp_path: Path) -> None:
    written: list[list[str]] = []  # each example's lines
    taken: dict[int, list[tuple]] = {}  # example -> the rows the Arrow parse kept, when it took the file
    names = S.RATINGS_CSV_SCHEMA.fieldNames()
    typed = pa.schema([S.arrow_schema(keys.RATINGS_BRONZE).field(c) for c in names])

    @RUN
    @given(files)
    @example(BOUNDS)  # every expectation's edge, in every run
    def through_arrow(lines: list[str]) -> None:
        path = tmp_path / f"ratings_{len(written)}.csv"
        path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
        parsed = ingest.read_plain([ingest.LandingFile(str(path), path.name, "", 0)], ingest.RATINGS)
        if parsed is not None:
            taken[len(written)] = list(zip(*parsed[0].select(names).cast(typed).to_pydict().values(), strict=True))
        written.append(lines)

    through_arrow()
    # Spark parses each line on its own: every example without a carriage return (where Spark also ends a line,
    # and the Arrow parse never takes the file) goes into one file, each after a header, in one job.
    checked = [i for i, lines in enumerate(written) if not any("\r" in text for text in lines)]
    together = tmp_path / "ratings_together.csv"
    together.write_text("".join("\n".join([HEADER, *written[i]]) + "\n" for i in checked), encoding="utf-8")
    lines = ingest.parse_lines(spark, {str(together): together.name}, ingest.RATINGS, ingest.rating_rules())
    parsed = lines.orderBy("_position").collect()
    assert len(parsed) == sum(1 + len(written[i]) for i in checked)
    start = 0
    for i in checked:
        rows, start = parsed[start + 1 : start + 1 + len(written[i])], start + 1 + len(written[i])
        kept = [tuple(r[c] for c in names) for r in rows if r[ingest.LINE_KIND] == ingest.KEPT]
        if i in taken:
            assert taken[i] == kept, written[i]
            assert all(r[ingest.LINE_KIND] != ingest.QUARANTINED for r in rows), written[i]
        for text, row in zip(written[i], rows, strict=True):
            alone = plain_line(text)
            if alone is not None:  # a line the Arrow parse reads alone, Spark keeps with the same values
                assert row[ingest.LINE_KIND] == ingest.KEPT, (text, row[S.REASON])
                assert tuple(row[c] for c in names) == alone
    assert len(taken) > len(written) // 10 and len(checked) > len(written) // 2  # the draws exercised both


def plain_line(text: str) -> tuple | None:
    """The values the Arrow parse reads from this one line, or None when it leaves the line to Spark."""
    shape = ingest.plain_shape(ingest.RATINGS)
    if shape is None or not re.fullmatch(shape, text):
        return None
    rows = ingest.plain_rows(pa.array([text]), ingest.RATINGS)
    return None if rows is None else tuple(rows.to_pylist()[0].values())


# The tables kept from silver: the two aggregates and the title join, refreshed after each batch's MERGE.
DERIVED = {keys.USER_MEAN_COUNT_SILVER: S.USER_ID, keys.MOVIE_MEAN_COUNT_SILVER: S.MOVIE_ID}
TITLED = (1, 2)  # movies 1 and 2 have titles; 3 is unknown to movies_bronze (a null title, as the left join keeps)


def no_spark() -> SparkSession:
    raise AssertionError("the delta-rs path started Spark")


def empty_lake(root: Path, movie_ids: list[int]) -> TableRef:
    """An empty ratings_silver with its change feed, movies_bronze with titles for `movie_ids`, and the derived
    tables empty, each recording that it reflects silver's version 0."""
    silver = S.arrow_schema(keys.RATINGS_SILVER)
    feed = {"delta.enableChangeDataFeed": "true"}
    write_deltalake(str(root / keys.RATINGS_SILVER), silver.empty_table(), configuration=feed)
    movies = pa.table({S.MOVIE_ID: movie_ids, S.TITLE: [f"movie {m}" for m in movie_ids]})
    movies = movies.append_column(S.GENRES, pa.repeat("Drama", len(movie_ids)))
    movies = movies.append_column(S.SOURCE_FILE, pa.repeat("movies.csv", len(movie_ids)))
    movies = movies.append_column(S.INGESTED_AT, pa.repeat(pa.scalar(0, pa.timestamp("us", tz="UTC")), len(movie_ids)))
    write_deltalake(str(root / keys.MOVIES_BRONZE), commits.declared(keys.MOVIES_BRONZE, movies))
    stamp = {SILVER_VERSION: 0, MOVIES_VERSION: 0}
    for name in [*DERIVED, keys.USER_MOVIE_TITLE_RATING]:
        commits.overwrite(Snapshot.read(str(root / name), name), S.arrow_schema(name).empty_table(), stamp)
    return TableRef(keys.MOVIES_BRONZE, str(root / keys.MOVIES_BRONZE), 0)


def refresh_derived(root: Path, movies: TableRef, spark: Any) -> list[str]:
    """Each derived table refreshed from silver as it now is; the modes the plans chose."""
    path = str(root / keys.RATINGS_SILVER)
    silver = TableRef(keys.RATINGS_SILVER, path, Snapshot.read(path, keys.RATINGS_SILVER).existing.version())
    modes = [
        aggregates.refresh(spark, Snapshot.read(str(root / name), name), silver, key, False).mode
        for name, key in DERIVED.items()
    ]
    title = Snapshot.read(str(root / keys.USER_MOVIE_TITLE_RATING), keys.USER_MOVIE_TITLE_RATING)
    return [*modes, title_join.refresh(spark, title, silver, movies, False)[0].mode]


def derived_rows(root: Path) -> dict[str, set[tuple]]:
    found = {}
    for name in [*DERIVED, keys.USER_MOVIE_TITLE_RATING]:
        table = Snapshot.read(str(root / name), name).existing.to_pyarrow_table()
        found[name] = set(zip(*(c.to_pylist() for c in table.columns), strict=True))
    return found


def derived_reference(current: set[Row], titled: dict[int, str]) -> dict[str, set[tuple]]:
    """The aggregates and the title join of the current ratings, computed in plain Python."""
    found: dict[str, set[tuple]] = {}
    for name, column in DERIVED.items():
        groups: dict[int, list[float]] = {}
        for row in current:
            groups.setdefault(row[0] if column == S.USER_ID else row[1], []).append(row[2])
        found[name] = {(k, sum(v) / len(v), len(v)) for k, v in groups.items()}
    found[keys.USER_MOVIE_TITLE_RATING] = {(u, m, titled.get(m), r) for u, m, r, _, _ in current}
    return found


def test_aggregates_and_titles_are_the_same_through_delta_rs_spark_and_a_rebuild(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After each MERGE into silver, the derived tables are refreshed: through delta-rs (the change feed read in
    Arrow; no Spark at all), and through Spark (the driver's threshold set to nothing: the aggregates rebuilt, the
    title join MERGEd from Spark's feed); both equal plain Python, and Spark's rebuild of the final silver."""
    examples: list[list[list[Row]]] = []

    @RUN
    @given(batches)
    def through_delta_rs(example: list[list[Row]]) -> None:
        root = Path(tempfile.mkdtemp(dir=tmp_path))  # a draw of its own, replayed or shrunk too
        movies = empty_lake(root, list(TITLED))
        for batch in example:
            snapshot = Snapshot.read(str(root / keys.RATINGS_SILVER), keys.RATINGS_SILVER)
            commits.merge(snapshot, arrow(batch), ON, {}, update_when=later("s", "t"), range_key=S.USER_ID)
            modes = refresh_derived(root, movies, no_spark)  # current: the MERGE changed no row
            assert set(modes) <= {"update", "merge", "current"} and modes.count("current") in (0, 3), modes
        assert derived_rows(root) == derived_reference(reference(example), {m: f"movie {m}" for m in TITLED})
        examples.append(example)

    through_delta_rs()

    def offset(i: int, batch: list[Row]) -> list[Row]:  # users and movies apart per example
        return [(i * OFFSET + u, i * OFFSET + m, r, t, f) for u, m, r, t, f in batch]

    titled = [i * OFFSET + m for i in range(len(examples)) for m in TITLED]
    root = tmp_path / "spark"
    movies = empty_lake(root, titled)
    monkeypatch.setattr(engine, "DRIVER_ROWS", -1)  # every change is more than the driver takes: Spark's paths
    modes = []
    for n in range(max(map(len, examples))):
        rows = [r for i, e in enumerate(examples) if len(e) > n for r in offset(i, e[n])]
        batch = spark.createDataFrame(rows, S.TABLES[keys.RATINGS_SILVER])
        snapshot = Snapshot.read(str(root / keys.RATINGS_SILVER), keys.RATINGS_SILVER)
        commits.merge(snapshot, batch, ON, {}, update_when=later("s", "t"), range_key=S.USER_ID)
        modes.append(refresh_derived(root, movies, lambda: spark))
    assert ["rebuild", "rebuild", "merge"] in modes and all(set(m) <= {"rebuild", "merge", "current"} for m in modes)
    current = {row for i, example in enumerate(examples) for row in offset(i, list(reference(example)))}
    expected = derived_reference(current, {m: f"movie {m}" for m in titled})
    assert derived_rows(root) == expected
    silver = spark.read.format("delta").load(str(root / keys.RATINGS_SILVER))
    rebuilt = {name: {tuple(r) for r in mean_count(silver, key).collect()} for name, key in DERIVED.items()}
    movies_df = spark.read.format("delta").load(movies.path)
    rebuilt[keys.USER_MOVIE_TITLE_RATING] = {tuple(r) for r in ratings_with_titles(silver, movies_df).collect()}
    assert rebuilt == expected
