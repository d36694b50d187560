"""Reading landing CSVs line by line: explicit schemas, header checks, expectations and a quarantine.

Every line of every file is accounted for: it is the header, blank, kept, or quarantined with a reason.
"""

import codecs
import fnmatch
import gzip
import hashlib
import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path
from typing import IO, cast

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DoubleType, IntegerType, StringType, StructType

from movie_assets.lake import storage
from movie_assets.tables import keys
from movie_assets.tables import schemas as S

LINE_KIND = "line_kind"
HEADER, BLANK, KEPT, QUARANTINED = "header", "blank", "kept", "quarantined"
_CORRUPT = "_corrupt_record"
_PARTS = "_parts"
_MAX_LINE = 2**31 - 1  # "the rest of the line", for substring
_BOM = "\ufeff"
CHUNK_BYTES = 1 << 22  # landing files are hashed and checked in pieces of 4 MiB
MAX_VALUE_IN_REASON = 100  # a reason quotes at most this much of the bad value; the raw line is kept whole
CSV_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT, "quote": '"', "escape": '"'}


class LandingError(ValueError):
    """Landing files that cannot be ingested at all: missing, or with the wrong header."""


@dataclass(frozen=True)
class Source:
    """One kind of landing file, for the sensor and bronze alike: name pattern, schema, and its assets."""

    name: str
    pattern: str
    schema: StructType
    csv_key: str
    bronze_key: str
    quarantine_key: str
    required: tuple[str, ...]  # a line without one of these is quarantined: "<column> is missing"
    expectations: tuple["Expectation", ...]  # bounds on the typed values, after the types themselves

    @property
    def header(self) -> list[str]:
        return S.header_of(self.schema)

    @property
    def patterns(self) -> list[str]:
        """Its file names: plain, or gzip-compressed (Spark and Python read both as text)."""
        return [self.pattern, f"{self.pattern}{GZIP}"]


@dataclass(frozen=True)
class Expectation:
    """A bound on one column's typed value, as data: rendered as a Spark condition (`spark_rules`) and as an Arrow
    mask (`plain_rows`), each true where a value fails it, so both engines apply the same rule."""

    column: str
    reason: str
    below: float | None = None  # fails under this
    above: float | None = None  # fails over this
    step: float | None = None  # fails when not a multiple of this

    def spark(self) -> Column:
        value, tests = F.col(self.column), []
        if self.below is not None:
            tests.append(value < self.below)
        if self.above is not None:
            tests.append(value > self.above)
        if self.step is not None:
            tests.append(value / self.step != F.round(value / self.step))
        return reduce(Column.__or__, tests)

    def arrow(self, value: pa.Array) -> pa.Array:
        tests = []
        if self.below is not None:
            tests.append(pc.less(value, self.below))
        if self.above is not None:
            tests.append(pc.greater(value, self.above))
        if self.step is not None:
            steps = pc.divide(value, self.step)
            tests.append(pc.not_equal(steps, pc.round(steps)))
        return reduce(pc.or_, tests)


RATINGS = Source(
    "ratings",
    "ratings*.csv",
    S.RATINGS_CSV_SCHEMA,
    keys.RATINGS_CSV,
    keys.RATINGS_BRONZE,
    keys.RATINGS_QUARANTINE,
    required=(S.USER_ID, S.MOVIE_ID, S.RATING, S.TIMESTAMP),
    expectations=(
        Expectation(S.USER_ID, "userId is not > 0", below=1),
        Expectation(S.MOVIE_ID, "movieId is not > 0", below=1),
        Expectation(S.RATING, "rating is outside 0.5-5.0", below=0.5, above=5.0),
        Expectation(S.RATING, "rating is not a multiple of 0.5", step=0.5),
        Expectation(S.TIMESTAMP, "timestamp is negative", below=0),
    ),
)
MOVIES = Source(
    "movies",
    "movies*.csv",
    S.MOVIES_CSV_SCHEMA,
    keys.MOVIES_CSV,
    keys.MOVIES_BRONZE,
    keys.MOVIES_QUARANTINE,
    required=(S.MOVIE_ID, S.TITLE),
    expectations=(Expectation(S.MOVIE_ID, "movieId is not > 0", below=1),),
)
SOURCES = [RATINGS, MOVIES]


GZIP = ".gz"
STILL_WRITTEN = "still being written"  # the reason a file modified within the settle time waits for a later run
# A writer's name for a file it has not finished: such files are never taken, whatever their name once renamed.
IN_PROGRESS = (".tmp", ".part", ".partial", ".crdownload", ".inprogress")


def in_progress(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(IN_PROGRESS)


def list_landing(landing: str, source: Source) -> list[str]:
    """The landing files of a source, sorted by name (the sensor and bronze list them alike). `landing` is a
    folder or a store prefix (s3a://bucket/root/landing): the paths keep its form."""
    return [
        f.path
        for f in storage.files_in(landing)
        if not in_progress(f.name) and any(fnmatch.fnmatchcase(f.name, p) for p in source.patterns)
    ]


def not_taken(landing: str) -> dict[str, str]:
    """Landing files that no source takes, by name, with why: nothing in landing is ignored without a word."""
    taken = {Path(p).name for source in SOURCES for p in list_landing(landing, source)}
    names = " or ".join(p for source in SOURCES for p in source.patterns)
    return {
        f.name: "a name for a file still being written (it is taken once renamed into place)"
        if in_progress(f.name)
        else f"not a landing file name ({names})"
        for f in storage.files_in(landing)
        if f.name not in taken
    }


def landing_files(landing: str, source: Source) -> list[str]:
    """The landing files of a source, sorted by name; fails with what to do when there are none."""
    hint = "put MovieLens CSVs there or run `python -m movie_assets.scripts.sample_data`"
    if not storage.is_folder(landing):
        raise LandingError(f"landing folder {landing} does not exist: {hint}.")
    files = list_landing(landing, source)
    if not files:
        raise LandingError(f"no {source.pattern} files in {landing}: {hint}.")
    return files


@dataclass(frozen=True)
class LandingFile:
    """A landing file as bronze sees it: its content's SHA-256, and why it is refused, if it is."""

    path: str
    name: str
    sha256: str
    size: int
    refused: str | None = None


def open_text_bytes(path: str) -> IO[bytes]:
    """The file's text as bytes (a local file or a store object): a `.gz` file decompressed."""
    raw = storage.open_bytes(path)
    return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")) if path.endswith(GZIP) else raw


def inspect(path: str, source: Source, settle_seconds: float) -> LandingFile:
    """Hash the file's bytes, check that its text is UTF-8 throughout (a BOM is allowed) and starts with the
    source's header; a file modified in the last `settle_seconds` (still being written) is left for a later run.
    A plain file is hashed and checked in one pass over its bytes; a `.gz` file's text is read in a second."""
    name, stat = Path(path).name, storage.stat(path)
    if (age := time.time() - stat.mtime_ns / 1e9) < settle_seconds:
        reason = f"{STILL_WRITTEN} (modified {age:.1f} s ago; taken once unmodified for {settle_seconds:g} s)"
        return LandingFile(path, name, "", stat.size, reason)
    compressed = path.endswith(GZIP)
    digest, text = hashlib.sha256(), _TextCheck()
    with storage.open_bytes(path) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
            if not compressed:
                text.feed(chunk)
    refused = None
    if any(unicodedata.category(c) == "Cc" for c in name) or "\\" in name:
        refused = "its name has a control character or a backslash: rename the file"
    refused = refused or (_gzip_problem(path) if compressed else text.problem()) or header_problem(path, source)
    return LandingFile(path, name, digest.hexdigest(), stat.size, refused)


def file_sha256(path: str) -> str:
    """The SHA-256 of a landing file's bytes: what identifies its content, for the sensor and bronze alike."""
    digest = hashlib.sha256()
    with storage.open_bytes(path) as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class _TextCheck:
    """Whether the bytes fed to it, in order, are UTF-8 text (a BOM allowed), and where they stop being."""

    def __init__(self) -> None:
        self._decoder, self._offset = codecs.getincrementaldecoder("utf-8-sig")(), 0
        self._found: str | None = None

    def feed(self, chunk: bytes) -> None:
        cut = self._decoder.getstate()[0]  # the start of a character the last chunk ended in
        # ASCII is UTF-8: only a chunk with other bytes, or after a cut character, is decoded.
        if self._found is None and not (chunk.isascii() and not cut):
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError as err:  # err.start counts from the cut character's first byte
                at = self._offset - len(cut) + err.start
                self._found = f"not UTF-8 (byte 0x{(cut + chunk)[err.start]:02x} at offset {at:,}): save it as UTF-8"
        self._offset += len(chunk)

    def problem(self) -> str | None:
        """Why the text cannot be read (not UTF-8, empty), or None."""
        if self._found is not None:
            return self._found
        if self._offset == 0:
            return "empty (0 bytes of text): a file still being created is taken once it has its header"
        try:
            self._decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "not UTF-8 (it ends inside a character): save it as UTF-8"
        return None


def _gzip_problem(path: str) -> str | None:
    """Why a `.gz` file's text cannot be read (not gzip, not UTF-8, empty), or None."""
    text = _TextCheck()
    try:
        with open_text_bytes(path) as handle:
            while chunk := handle.read(CHUNK_BYTES):
                text.feed(chunk)
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        return f"not a readable gzip file ({err}): compress it again with gzip"
    return text.problem()


def literal_path(path: str) -> str:
    """`path` with Hadoop's glob characters escaped, so that Spark reads exactly that file."""
    return re.sub(r"([{}\[\]*?])", r"\\\1", path)


HEADER_BYTES = 1 << 16  # a header is read from the first this many bytes (MovieLens headers take 30)


def read_header(path: str) -> list[str]:
    with open_text_bytes(path) as handle:
        first = handle.read(HEADER_BYTES).split(b"\n", 1)[0]
    return first.decode("utf-8-sig", errors="replace").rstrip("\r").split(",")


def header_problem(path: str, source: Source) -> str | None:
    """Why the file's header is not the expected one (naming the difference and what to do), or None."""
    found = read_header(path)
    if found == source.header:
        return None
    missing = [c for c in source.header if c not in found]
    extra = [c for c in found if c not in source.header]
    diff = "; ".join(
        part
        for part in (
            f"missing {missing}" if missing else "",
            f"unexpected {extra}" if extra else "",
            "" if missing or extra else f"columns in the wrong order {found}",
        )
        if part
    )
    return (
        f"header {','.join(found)!r} does not match {','.join(source.header)!r} ({diff}): "
        "fix the file's header and drop it into landing/ again"
    )


def _typed(column: Column, data_type: DataType) -> Column:
    return column.try_cast(data_type) if data_type in (IntegerType(), DoubleType()) else column


_WHOLE_NUMBER = r"^\s*[+-]?[0-9]+\s*$"
# What a whole number beyond an int means for a column, where it has a meaning: Unix seconds end in 2038.
_BEYOND = {S.TIMESTAMP: ("after 2038-01-19", "before 1901-12-13")}


def _out_of_range(name: str, raw: Column) -> Column:
    """The reason for a whole number outside the 32-bit int range of the original schema, naming the value."""
    after, before = _BEYOND.get(name, (f"above {2**31 - 1:,}", f"below {-(2**31):,}"))
    value = F.trim(F.substring(raw, 1, MAX_VALUE_IN_REASON))
    side = F.when(value.startswith("-"), F.lit(before)).otherwise(F.lit(after))
    return F.concat(F.lit(f"{name} "), value, F.lit(" is beyond the schema's 32-bit range ("), side, F.lit(")"))


def _type_reasons(schema: StructType) -> list[tuple[Column, Column]]:
    """A value present but not of its column's type; a whole number too large for an int says so."""
    reasons = []
    for field in schema.fields:
        if field.dataType in (IntegerType(), DoubleType()):
            kind = "an integer" if field.dataType == IntegerType() else "a number"
            raw = F.col(f"_raw.{field.name}")
            bad = raw.isNotNull() & _typed(raw, field.dataType).isNull()
            if field.dataType == IntegerType():
                reasons.append((bad & raw.rlike(_WHOLE_NUMBER), _out_of_range(field.name, raw)))
            reasons.append(
                (
                    bad,
                    F.concat(
                        F.lit(f"{field.name} is not {kind}: '"), F.substring(raw, 1, MAX_VALUE_IN_REASON), F.lit("'")
                    ),
                )
            )
    return reasons


def spark_rules(source: Source) -> list[tuple[Column, str]]:
    """The source's expectations as Spark conditions with their reasons (a failing row goes to the quarantine):
    per column in the file's order, missing first, then NaN, then its bounds."""
    rules: list[tuple[Column, str]] = []
    for field in source.schema.fields:
        value = F.col(field.name)
        if field.name in source.required:
            missing = value.isNull() | (F.trim(value) == "") if field.dataType == StringType() else value.isNull()
            rules.append((missing, f"{field.name} is missing"))
        if field.dataType == DoubleType():
            rules.append((F.isnan(value), f"{field.name} is NaN"))
        rules += [(e.spark(), e.reason) for e in source.expectations if e.column == field.name]
    return rules


def rating_rules() -> list[tuple[Column, str]]:
    return spark_rules(RATINGS)


def movie_rules() -> list[tuple[Column, str]]:
    return spark_rules(MOVIES)


def _first_reason(source: Source, rules: list[tuple[Column, str]]) -> Column:
    n = len(source.schema.fields)
    reason = F.when(F.col(_CORRUPT).isNotNull(), F.lit(f"expected {n} fields ({','.join(source.header)})"))
    for condition, because in _type_reasons(source.schema):
        reason = reason.when(condition, because)
    for condition, message in rules:
        reason = reason.when(condition, F.lit(message))
    return reason


def read_lines(spark: SparkSession, files: dict[str, str]) -> DataFrame:
    """The lines of each file (path -> name), with its name as given: paths are literal, never patterns."""
    frames = [
        spark.read.text(literal_path(path)).select(
            F.when(F.col("value").startswith(_BOM), F.substring("value", 2, _MAX_LINE))
            .otherwise(F.col("value"))
            .alias(S.RAW_LINE),
            F.lit(name).alias(S.SOURCE_FILE),
            F.monotonically_increasing_id().alias("_position"),
        )
        for path, name in files.items()
    ]
    return reduce(DataFrame.unionAll, frames)


def _split_fields(source: Source) -> Column:
    """A line without quotes (split into the column _PARTS), as from_csv reads it at less cost: the parts, an
    empty part as null, and the whole line as the corrupt record when the count of parts is not the header's."""
    parts = F.col(_PARTS)
    return F.struct(
        *[F.nullif(F.get(parts, i), F.lit("")).alias(c) for i, c in enumerate(source.header)],
        F.when(F.size(parts) != len(source.header), F.col(S.RAW_LINE)).alias(_CORRUPT),
    )


def parse_lines(
    spark: SparkSession, files: dict[str, str], source: Source, rules: list[tuple[Column, str]]
) -> DataFrame:
    """Every line of `files` (path -> name) with its kind (header/blank/kept/quarantined), typed columns, reason."""
    string_schema = ", ".join(f"`{c}` STRING" for c in source.header) + f", `{_CORRUPT}` STRING"
    lines = read_lines(spark, files)
    quoted = F.col(S.RAW_LINE).contains('"')
    parts = lines.withColumn(_PARTS, F.when(~quoted, F.split(S.RAW_LINE, ",", -1)))
    fields = F.when(quoted, F.from_csv(S.RAW_LINE, string_schema, CSV_OPTIONS)).otherwise(_split_fields(source))
    parsed = (
        parts.withColumn("_raw", fields)
        .drop(_PARTS)
        .select(
            "*",
            F.col(f"_raw.{_CORRUPT}").alias(_CORRUPT),
            *[_typed(F.col(f"_raw.{f.name}"), f.dataType).alias(f.name) for f in source.schema.fields],
        )
    )
    kind = F.when(F.trim(S.RAW_LINE) == "", F.lit(BLANK)).when(
        F.col(S.RAW_LINE) == ",".join(source.header), F.lit(HEADER)
    )
    reason = _first_reason(source, rules)
    result = parsed.select(
        S.SOURCE_FILE,
        "_position",
        S.RAW_LINE,
        *[f.name for f in source.schema.fields],
        F.when(kind.isNull(), reason).alias(S.REASON),
        F.coalesce(kind, F.when(reason.isNotNull(), F.lit(QUARANTINED)).otherwise(F.lit(KEPT))).alias(LINE_KIND),
    )
    return result


def latest_per_key(lines: DataFrame, key: str) -> DataFrame:
    """Mark all but the last kept row per key (later file, then later line) as quarantined duplicates."""
    window = Window.partitionBy(key).orderBy(F.col(S.SOURCE_FILE).desc(), F.col("_position").desc())
    ranked = lines.withColumn("_n", F.when(F.col(LINE_KIND) == KEPT, F.row_number().over(window)))
    duplicate = F.col("_n") > 1
    return ranked.select(
        *[c for c in lines.columns if c not in (S.REASON, LINE_KIND)],
        F.when(
            duplicate,
            F.concat(F.lit(f"duplicate {key} "), F.col(key).cast("string"), F.lit(": a later row replaces it")),
        )
        .otherwise(F.col(S.REASON))
        .alias(S.REASON),
        F.when(duplicate, F.lit(QUARANTINED)).otherwise(F.col(LINE_KIND)).alias(LINE_KIND),
    )


# The values the Arrow parse reads itself, as a line's fields (RE2): unsigned decimals, which Spark's casts and
# Arrow's read alike; anything else (signs, spaces, exponents, quotes, text) is left to Spark's parse.
_PLAIN_FIELD: dict[DataType, str] = {IntegerType(): "[0-9]{1,10}", DoubleType(): r"[0-9]{1,10}(?:\.[0-9]{1,10})?"}
_MAX_INT = 2**31 - 1  # the shape has no sign: only the top of an int can be passed


def plain_shape(source: Source) -> str | None:
    """The form of a line `plain_rows` reads, from the source's schema; None when a column is not a number."""
    if any(f.dataType not in _PLAIN_FIELD for f in source.schema.fields):
        return None
    return "^" + ",".join(_PLAIN_FIELD[f.dataType] for f in source.schema.fields) + "$"


def plain_rows(lines: pa.Array, source: Source) -> pa.Table | None:
    """The typed rows of `lines` (each of the plain shape) when every value is within its type and meets every
    expectation, as Spark's parse would keep them; None when any is not (Spark's parse then says why)."""
    parts = pc.split_pattern(lines, ",")
    columns: dict[str, pa.Array] = {}
    for i, field in enumerate(source.schema.fields):
        text = pc.list_element(parts, i)
        if field.dataType == IntegerType():
            wide = pc.cast(text, pa.int64())
            if (pc.max(wide).as_py() or 0) > _MAX_INT:
                return None
            columns[field.name] = pc.cast(wide, pa.int32())
        else:
            columns[field.name] = pc.cast(text, pa.float64())
    for expectation in source.expectations:
        if len(lines) and pc.any(expectation.arrow(columns[expectation.column])).as_py():
            return None
    return pa.table(columns)


def read_plain(files: list[LandingFile], source: Source) -> tuple[pa.Table, list[dict[str, int | str]]] | None:
    """The kept rows and per-file accounting of `files`, read without Spark, when each of their lines is the
    header, empty, or plain (`plain_shape`, within `plain_rows`' rules); None when any line is not, or the source
    has no plain form.

    Lines end at a newline only: a file with a carriage return goes to Spark, which also ends lines there.
    """
    shape = plain_shape(source)
    if shape is None:
        return None
    header, now = ",".join(source.header), pa.scalar(datetime.now(UTC), pa.timestamp("us", tz="UTC"))
    rows, accounting = [], []
    for file in sorted(files, key=lambda f: f.name):
        with open_text_bytes(file.path) as handle:
            data = handle.read()
        if b"\r" in data:
            return None
        lines = data.decode("utf-8-sig").split("\n")  # the BOM, if any (Spark drops it too)
        if lines[-1] == "":
            lines.pop()  # after the last newline
        text = pa.array(lines, pa.string())
        counts = {
            HEADER: pc.sum(pc.equal(text, header)).as_py() or 0,
            BLANK: pc.sum(pc.equal(text, "")).as_py() or 0,
        }
        plain = pc.match_substring_regex(text, shape)
        counts[KEPT] = pc.sum(plain).as_py() or 0
        if sum(counts.values()) != len(lines):
            return None
        kept = plain_rows(text.filter(plain), source)
        if kept is None:
            return None
        n = counts[KEPT]
        rows.append(
            kept.append_column(S.SOURCE_FILE, pa.repeat(file.name, n)).append_column(S.INGESTED_AT, pa.repeat(now, n))
        )
        accounting.append({S.SOURCE_FILE: file.name, "lines": len(lines), **counts, QUARANTINED: 0})
    return pa.concat_tables(rows), accounting


def kept_rows(lines: DataFrame, source: Source) -> DataFrame:
    return lines.where(F.col(LINE_KIND) == KEPT).select(
        *[f.name for f in source.schema.fields], S.SOURCE_FILE, F.current_timestamp().alias(S.INGESTED_AT)
    )


def quarantined_rows(lines: DataFrame) -> DataFrame:
    return lines.where(F.col(LINE_KIND) == QUARANTINED).select(
        S.SOURCE_FILE, S.RAW_LINE, S.REASON, F.current_timestamp().alias(S.INGESTED_AT)
    )


def write_lines(
    lines: DataFrame,
    source: Source,
    file_names: list[str],
    dedupe_key: str | None,
    write: Callable[[str, DataFrame], None],
) -> list[dict[str, int | str]]:
    """Write the kept rows (`write(KEPT, rows)`) and the quarantined lines (`write(QUARANTINED, rows)`).

    Returns the per-file accounting, counted while the kept rows are written (no pass of its own). With a
    dedupe key (small tables whose rows replace each other), all but the last kept row per key are quarantined
    as duplicates first. The files are read again only when a line was quarantined.
    """
    if dedupe_key:
        lines = latest_per_key(lines, dedupe_key)
    counted, observation = with_accounting(lines, file_names)
    write(KEPT, kept_rows(counted, source))
    accounting = observed_accounting(observation, file_names)
    # Through the observed frame: its CollectMetrics node keeps Spark from pushing the line_kind filter into the
    # parse, which would copy the parse into the filter once per reference (26 from_csv and 226 split calls per
    # line; one bad line in a million made bronze 40 s slower). The observation keeps its first values.
    quarantined = quarantined_rows(counted)
    # An empty write still replaces these files' earlier quarantine rows, without reading the files again.
    write(QUARANTINED, quarantined if any(row[QUARANTINED] for row in accounting) else quarantined.limit(0))
    return accounting


KINDS = [HEADER, BLANK, KEPT, QUARANTINED]


def with_accounting(lines: DataFrame, file_names: list[str]) -> tuple[DataFrame, Observation]:
    """`lines`, counting each file's lines by kind while the next action reads them (no extra pass)."""
    observation = Observation("line_accounting")
    counts = []
    for i, name in enumerate(file_names):
        in_file = F.col(S.SOURCE_FILE) == name
        counts.append(F.count_if(in_file).alias(f"{i}:lines"))
        counts += [F.count_if(in_file & (F.col(LINE_KIND) == kind)).alias(f"{i}:{kind}") for kind in KINDS]
    return lines.observe(observation, *counts), observation


def observed_accounting(observation: Observation, file_names: list[str]) -> list[dict[str, int | str]]:
    values = observation.get
    return [
        {S.SOURCE_FILE: name, "lines": values[f"{i}:lines"], **{kind: values[f"{i}:{kind}"] for kind in KINDS}}
        for i, name in enumerate(file_names)
    ]
