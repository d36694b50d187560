"""Bronze parsing on tiny files written here: exact rows, exact quarantine, exact line accounting."""

import hashlib
import random
import re
from pathlib import Path

import pyarrow as pa
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema

from movie_assets.tables import ingest
from movie_assets.tables import schemas as S
from movie_assets_tests.conftest import optimized_plan, write_csv

HARD_MOVIES = (
    "movieId,title,genres\n"
    '11,"American President, The (1995)",Comedy|Drama|Romance\n'
    '12,"Film ""Quoted"" (2000)",Drama\n'
    "13,Amélie (Fabuleux destin d'Amélie Poulain) (2001),Comedy|Romance\n"
    "14,Ōkami (2003),(no genres listed)\n"
)


def parse(spark: SparkSession, files: list[Path], source: ingest.Source):
    rules = ingest.rating_rules() if source is ingest.RATINGS else ingest.movie_rules()
    lines = ingest.parse_lines(spark, {str(f): f.name for f in files}, source, rules)
    if source is ingest.MOVIES:
        lines = ingest.latest_per_key(lines, S.MOVIE_ID)
    return lines


def line_counts(lines: DataFrame) -> list[dict[str, int | str]]:
    """Per file, counted on their own: lines read, header, blank, kept, quarantined."""
    kinds = [F.sum((F.col(ingest.LINE_KIND) == k).cast("long")).alias(k) for k in ingest.KINDS]
    rows = lines.groupBy(S.SOURCE_FILE).agg(F.count("*").alias("lines"), *kinds).orderBy(S.SOURCE_FILE).collect()
    return [r.asDict() for r in rows]


def test_hard_titles_come_through_exactly(spark: SparkSession, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "movies.csv", HARD_MOVIES)
    rows = ingest.kept_rows(parse(spark, [path], ingest.MOVIES), ingest.MOVIES).orderBy(S.MOVIE_ID).collect()
    assert [(r.movieId, r.title, r.genres, r.source_file) for r in rows] == [
        (11, "American President, The (1995)", "Comedy|Drama|Romance", "movies.csv"),
        (12, 'Film "Quoted" (2000)', "Drama", "movies.csv"),
        (13, "Amélie (Fabuleux destin d'Amélie Poulain) (2001)", "Comedy|Romance", "movies.csv"),
        (14, "Ōkami (2003)", "(no genres listed)", "movies.csv"),
    ]


def test_bom_crlf_and_blank_lines(spark: SparkSession, tmp_path: Path) -> None:
    text = "\ufeff" + HARD_MOVIES.replace("\n", "\r\n") + "\r\n\r\n"
    path = write_csv(tmp_path, "movies_bom.csv", text)
    assert ingest.header_problem(str(path), ingest.MOVIES) is None
    lines = parse(spark, [path], ingest.MOVIES)
    titles = [r.title for r in ingest.kept_rows(lines, ingest.MOVIES).orderBy(S.MOVIE_ID).collect()]
    assert titles[0] == "American President, The (1995)" and titles[1] == 'Film "Quoted" (2000)'
    assert line_counts(lines) == [
        {"source_file": "movies_bom.csv", "lines": 7, "header": 1, "blank": 2, "kept": 4, "quarantined": 0}
    ]


BAD_RATINGS = {
    "1,2": "expected 4 fields (userId,movieId,rating,timestamp)",
    "1,2,3.0,4,5": "expected 4 fields (userId,movieId,rating,timestamp)",
    "x,2,3.0,4": "userId is not an integer: 'x'",
    "1,2,abc,4": "rating is not a number: 'abc'",
    "1,2,NaN,5": "rating is NaN",
    "1,,3.0,4": "movieId is missing",
    "0,2,3.0,4": "userId is not > 0",
    "1,-2,3.0,4": "movieId is not > 0",
    "1,2,5.5,4": "rating is outside 0.5-5.0",
    "1,2,0.0,4": "rating is outside 0.5-5.0",
    "1,2,3.25,4": "rating is not a multiple of 0.5",
    "1,2,3.0,-1": "timestamp is negative",
    "1,2,3.0,": "timestamp is missing",
    "1,2,3.0,32503680000": "timestamp 32503680000 is beyond the schema's 32-bit range (after 2038-01-19)",
    "1,2,3.0,-2147483649": "timestamp -2147483649 is beyond the schema's 32-bit range (before 1901-12-13)",
    "2147483648,2,3.0,4": "userId 2147483648 is beyond the schema's 32-bit range (above 2,147,483,647)",
    "1,2,3.0,1.5": "timestamp is not an integer: '1.5'",
}


def test_bad_ratings_go_to_quarantine_with_reasons(spark: SparkSession, tmp_path: Path) -> None:
    good = ["1,10,4.0,964982703", "2,10,0.5,964982224", "2,11,5.0,0"]
    text = "userId,movieId,rating,timestamp\n" + "\n".join(good[:2] + list(BAD_RATINGS) + good[2:]) + "\n"
    path = write_csv(tmp_path, "ratings.csv", text)
    lines = parse(spark, [path], ingest.RATINGS)
    kept = ingest.kept_rows(lines, ingest.RATINGS).orderBy(S.USER_ID, S.MOVIE_ID).collect()
    assert [tuple(r)[:4] for r in kept] == [(1, 10, 4.0, 964982703), (2, 10, 0.5, 964982224), (2, 11, 5.0, 0)]
    bad = {r.raw_line: r.reason for r in ingest.quarantined_rows(lines).collect()}
    assert bad == BAD_RATINGS
    assert line_counts(lines) == [
        {"source_file": "ratings.csv", "lines": 21, "header": 1, "blank": 0, "kept": 3, "quarantined": 17}
    ]


def test_later_file_replaces_a_movie(spark: SparkSession, tmp_path: Path) -> None:
    first = write_csv(tmp_path, "movies.csv", "movieId,title,genres\n1,Old Title (1995),Drama\n2,Two (1996),Comedy\n")
    second = write_csv(tmp_path, "movies_update.csv", "movieId,title,genres\n1,New Title (1995),Drama|War\n")
    lines = ingest.parse_lines(spark, {str(f): f.name for f in (first, second)}, ingest.MOVIES, ingest.movie_rules())
    written: dict[str, list] = {}
    names = [first.name, second.name]

    def write(kind: str, rows: DataFrame) -> None:
        written[kind] = rows.collect()

    accounting = ingest.write_lines(lines, ingest.MOVIES, names, S.MOVIE_ID, write)
    kept = {r.movieId: (r.title, r.source_file) for r in written[ingest.KEPT]}
    assert kept == {1: ("New Title (1995)", "movies_update.csv"), 2: ("Two (1996)", "movies.csv")}
    [dropped] = written[ingest.QUARANTINED]
    assert (dropped.raw_line, dropped.reason) == (
        "1,Old Title (1995),Drama",
        "duplicate movieId 1: a later row replaces it",
    )
    assert accounting == [
        {"source_file": "movies.csv", "lines": 3, "header": 1, "blank": 0, "kept": 1, "quarantined": 1},
        {"source_file": "movies_update.csv", "lines": 2, "header": 1, "blank": 0, "kept": 1, "quarantined": 0},
    ]


def test_each_write_parses_a_line_once(spark: SparkSession, tmp_path: Path) -> None:
    """The quarantine's filter on line_kind must not be pushed into the parse: Spark would copy the parse into
    it once per reference (26 from_csv calls per line), which made one bad line cost 40 s per million lines."""
    text = 'userId,movieId,rating,timestamp\n1,10,4.0,964982703\n"2",10,x,1\n3,10,9.0,1\n'
    path = write_csv(tmp_path, "ratings.csv", text)
    lines = ingest.parse_lines(spark, {str(path): path.name}, ingest.RATINGS, ingest.rating_rules())
    written: dict[str, list] = {}
    parses: dict[str, tuple[int, int]] = {}

    def write(kind: str, rows: DataFrame) -> None:
        plan = optimized_plan(rows)
        parses[kind] = (plan.count("from_csv("), plan.count("split("))
        written[kind] = rows.collect()

    ingest.write_lines(lines, ingest.RATINGS, [path.name], None, write)
    assert parses == {ingest.KEPT: (1, 1), ingest.QUARANTINED: (1, 1)}
    assert [tuple(r)[:4] for r in written[ingest.KEPT]] == [(1, 10, 4.0, 964982703)]
    assert sorted((r.raw_line, r.reason) for r in written[ingest.QUARANTINED]) == [
        ('"2",10,x,1', "rating is not a number: 'x'"),
        ("3,10,9.0,1", "rating is outside 0.5-5.0"),
    ]


@pytest.mark.parametrize(
    ("header", "difference"),
    [
        ("userId,movieId,rating", "missing ['timestamp']"),
        ("userId,movieId,rating,timestamp,extra", "unexpected ['extra']"),
        ("user,movieId,rating,timestamp", "missing ['userId']; unexpected ['user']"),
        ("movieId,userId,rating,timestamp", "columns in the wrong order"),
    ],
)
def test_wrong_header_names_the_difference(tmp_path: Path, header: str, difference: str) -> None:
    path = write_csv(tmp_path, "ratings_bad.csv", header + "\n1,2,3.0,4\n")
    refused = ingest.inspect(str(path), ingest.RATINGS, settle_seconds=0).refused
    assert refused is not None and refused.startswith(f"header '{header}' does not match")
    assert difference in refused and refused.endswith("fix the file's header and drop it into landing/ again")


def test_missing_landing_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ingest.LandingError, match=r"does not exist: put MovieLens CSVs there or run"):
        ingest.landing_files(str(tmp_path / "landing"), ingest.RATINGS)
    (tmp_path / "landing").mkdir()
    with pytest.raises(ingest.LandingError, match=r"no ratings\*\.csv files in .*movie_assets.scripts.sample_data"):
        ingest.landing_files(str(tmp_path / "landing"), ingest.RATINGS)


EDGE = ingest.CHUNK_BYTES  # where inspect's first piece of a file ends


@pytest.mark.parametrize(
    ("tail", "refused"),
    [
        ("é".encode() + b"\n", None),  # a character across the edge of two pieces
        ("€".encode()[:2] + b"b\n", f"not UTF-8 (byte 0xe2 at offset {EDGE - 1:,}): save it as UTF-8"),
        (b"\xc3", "not UTF-8 (it ends inside a character): save it as UTF-8"),
        (b"\n" * 9 + b"\xff\n", f"not UTF-8 (byte 0xff at offset {EDGE + 8:,}): save it as UTF-8"),
    ],
)
def test_inspect_finds_the_first_byte_that_is_not_utf8(tmp_path: Path, tail: bytes, refused: str | None) -> None:
    data = b"userId,movieId,rating,timestamp\n".ljust(EDGE - 1, b"1") + tail
    path = tmp_path / "ratings.csv"
    path.write_bytes(data)
    found = ingest.inspect(str(path), ingest.RATINGS, 0)
    assert (found.refused, found.size, found.sha256) == (refused, len(data), hashlib.sha256(data).hexdigest())


def random_bad_line(rng: random.Random) -> str:
    u, m, t = rng.randint(1, 500), rng.randint(1, 500), rng.randint(0, 2**31 - 1)
    r = rng.choice([0.5, 1.0, 3.5, 5.0])
    return rng.choice(
        [
            f"{u},{m}",
            f"{u},{m},{r}",
            f"{u},{m},{r},{t},{t}",
            f"{u}x,{m},{r},{t}",
            f"{u},{m},NaN,{t}",
            f"{u},{m},{r + 0.25},{t}",
            f"{u},{m},{rng.choice([0.0, 5.5, -1.0, 100.0])},{t}",
            f"0,{m},{r},{t}",
            f"{u},-{m},{r},{t}",
            f"{u},{m},{r},-{t + 1}",
            f",{m},{r},{t}",
            f"{u},{m},,{t}",
            f'"{u},{m}",{r},{t}',
            f"{u};{m};{r};{t}",
            "garbage",
        ]
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_line_is_accounted_for(spark: SparkSession, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    good_rows, bad_lines, expected = [], [], []
    files = []
    for f in range(3):
        good = [
            (rng.randint(1, 500), rng.randint(1, 500), rng.randint(1, 10) / 2, rng.randint(0, 2**31 - 1))
            for _ in range(rng.randint(0, 60))
        ]
        bad = [random_bad_line(rng) for _ in range(rng.randint(0, 30))]
        blanks = rng.randint(0, 3)
        lines = [f"{u},{m},{r},{t}" for u, m, r, t in good] + bad + [""] * blanks
        rng.shuffle(lines)
        name = f"ratings_{f}.csv"
        files.append(write_csv(tmp_path, name, "userId,movieId,rating,timestamp\n" + "\n".join(lines) + "\n"))
        good_rows += good
        bad_lines += bad
        expected.append(
            {
                "source_file": name,
                "lines": 1 + len(lines),
                "header": 1,
                "blank": blanks,
                "kept": len(good),
                "quarantined": len(bad),
            }
        )
    lines = parse(spark, files, ingest.RATINGS)
    assert line_counts(lines) == expected
    # The one-pass path: the counts observed while the kept rows are written equal the separate count.
    written: dict[str, list] = {}
    names = [row["source_file"] for row in expected]
    accounting = ingest.write_lines(lines, ingest.RATINGS, names, None, lambda k, df: written.update({k: df.collect()}))
    assert accounting == expected
    assert sorted(tuple(r)[:4] for r in written[ingest.KEPT]) == sorted(good_rows)
    assert sorted(r.raw_line for r in written[ingest.QUARANTINED]) == sorted(bad_lines)
    assert all(r.reason for r in written[ingest.QUARANTINED])


UNQUOTED = {
    ingest.RATINGS: [
        *BAD_RATINGS, "1,2,3.0,4", " 1 ,2, 3.0 ,4", "1,2,3.0,4,", ",,,", ",", "a", "1,2,3.0,4\t", "ü,2,3.0,4",
        "1;2;3.0;4", "1,2,3.0,4 ", "1,2,,",
    ],
    ingest.MOVIES: ["1,Title (2000),Drama", "1,Title, The (2000),Drama", "1,,Drama", "1,Title (2000),", "1", "1,2,3,4"],
}  # fmt: skip


@pytest.mark.parametrize("source", [ingest.RATINGS, ingest.MOVIES], ids=["ratings", "movies"])
def test_unquoted_lines_split_exactly_as_from_csv_reads_them(spark: SparkSession, source: ingest.Source) -> None:
    lines = spark.createDataFrame([(line,) for line in UNQUOTED[source]], f"{S.RAW_LINE} string")
    schema = ", ".join(f"`{c}` STRING" for c in source.header) + f", `{ingest._CORRUPT}` STRING"
    by_csv = lines.select(F.from_csv(S.RAW_LINE, schema, ingest.CSV_OPTIONS).alias("f"))
    parts = lines.withColumn(ingest._PARTS, F.split(S.RAW_LINE, ",", -1))
    by_split = parts.select(ingest._split_fields(source).alias("f"))
    assert [tuple(r.f) for r in by_split.collect()] == [tuple(r.f) for r in by_csv.collect()]


PLAIN_CANDIDATES = [
    *BAD_RATINGS, *UNQUOTED[ingest.RATINGS],
    "1,1,0.5,0", "999999999,999999999,5.0,2099999999", "1,1,5,1", "7,3,4.5,1000000000", "2,3,1,964982703",
    "1000000000,1,3.0,1", "01,1,3.0,1", "+1,1,3.0,1", "1,1,3.,1", "1,1,.5,1", "1,1,5.00,1", "1,1,3.0,2147483647",
    "1,1,3.0,2147483648", "1,1,3.0,01", "1,1,3e0,1", "1,1,0.5,-0", "\ufeff1,1,3.0,1", "1,1,3.0,1\x0b", "1,1,3.0,1\x00",
]  # fmt: skip


def test_plain_lines_are_read_as_spark_parses_them(spark: SparkSession, tmp_path: Path) -> None:
    """Each line that `read_plain` reads, Spark's parse keeps with the same values; a file with any other line is
    left to Spark (None), as is one with a carriage return."""
    rng = random.Random(7)
    lines = PLAIN_CANDIDATES + [
        f"{rng.randint(1, 10**9)},{rng.randint(1, 10**9)},{rng.randint(1, 10) / 2},{rng.randint(0, 2**31 - 1)}"
        for _ in range(200)
    ]
    header = "userId,movieId,rating,timestamp\n"
    every = write_csv(tmp_path, "ratings_every.csv", header + "\n".join(lines) + "\n")
    spark_rows = {r.raw_line: r for r in parse(spark, [every], ingest.RATINGS).collect()}
    shape = ingest.plain_shape(ingest.RATINGS) or "never"
    plain = [
        line
        for line in lines
        if re.fullmatch(shape, line) and ingest.plain_rows(pa.array([line]), ingest.RATINGS) is not None
    ]
    assert len(plain) > 150 and 0 < len(lines) - len(plain) < 70  # random lines beyond the plain range included
    for line in plain:
        parsed = spark_rows[line]
        assert (parsed.line_kind, parsed.reason) == (ingest.KEPT, None), line

    files = [write_csv(tmp_path, "ratings_plain.csv", "\ufeff" + header + "\n".join(plain) + "\n\n")]
    files.append(write_csv(tmp_path, "ratings_header_only.csv", header))
    rows, accounting = ingest.read_plain([ingest.inspect(str(f), ingest.RATINGS, 0) for f in files], ingest.RATINGS)
    typed = rows.select(ingest.RATINGS.header).cast(to_arrow_schema(ingest.RATINGS.schema))  # as bronze's does
    expected = [spark_rows[line] for line in plain]
    assert [tuple(r.values()) for r in typed.to_pylist()] == [
        (r.userId, r.movieId, r.rating, r.timestamp) for r in expected
    ]
    assert set(rows.column(S.SOURCE_FILE).to_pylist()) == {"ratings_plain.csv"}
    assert accounting == [
        {"source_file": "ratings_header_only.csv", "lines": 1, "header": 1, "blank": 0, "kept": 0, "quarantined": 0},
        {
            "source_file": "ratings_plain.csv",
            "lines": len(plain) + 2,
            "header": 1,
            "blank": 1,
            "kept": len(plain),
            "quarantined": 0,
        },
    ]
    for i, line in enumerate(sorted(set(lines) - set(plain))):  # each other line alone
        path = write_csv(tmp_path, f"ratings_other_{i}.csv", header + line + "\n")
        assert ingest.read_plain([ingest.inspect(str(path), ingest.RATINGS, 0)], ingest.RATINGS) is None, line
    for name, text in (
        ("ratings_crlf.csv", header.replace("\n", "\r\n") + "1,1,3.0,1\r\n"),
        ("ratings_blank.csv", header + "1,1,3.0,1\n \n"),
    ):
        landed = ingest.inspect(str(write_csv(tmp_path, name, text)), ingest.RATINGS, 0)
        assert ingest.read_plain([landed], ingest.RATINGS) is None, name
    movies = [ingest.inspect(str(files[0]), ingest.RATINGS, 0)]
    assert ingest.read_plain(movies, ingest.MOVIES) is None  # movies have no plain form
