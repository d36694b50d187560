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
from pyspark.sql.types import DataType, DoubleType, IntegerType, StructType

from movie_assets import keys
from movie_assets import schemas as S
from movie_assets.lake import storage

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
    # A line that every expectation keeps, in a form Spark's parse and Arrow's casts read alike (RE2 syntax):
    # files of such lines (and headers and empty lines) are read without Spark (`read_plain`).
    plain: str | None = None

    @property
    def header(self) -> list[str]:
        return S.header_of(self.schema)

    @property
    def patterns(self) -> list[str]:
        """Its file names: plain, or gzip-compressed (Spark and Python read both as text)."""
        return [self.pattern, f"{self.pattern}{GZIP}"]


_ID = "[1-9][0-9]{0,8}"  # 1 to 999,999,999: positive, within an int, no sign, no leading zero
_HALF_STAR = r"0\.5|[1-4](?:\.[05])?|5(?:\.0)?"  # 0.5 to 5.0 in half stars
_SECONDS = "0|[1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}"  # 0 to 2,099,999,999: within an int
# Narrower than `rating_rules`: a rule added there must reject no line this matches (or narrow this).
PLAIN_RATING = f"^({_ID}),({_ID}),({_HALF_STAR}),({_SECONDS})$"
RATINGS = Source(
    "ratings",
    "ratings*.csv",
    S.RATINGS_CSV_SCHEMA,
    keys.RATINGS_CSV,
    keys.RATINGS_BRONZE,
    keys.RATINGS_QUARANTINE,
    plain=PLAIN_RATING,
)
MOVIES = Source(
    "movies", "movies*.csv", S.MOVIES_CSV_SCHEMA, keys.MOVIES_CSV, keys.MOVIES_BRONZE, keys.MOVIES_QUARANTINE
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
    hint = "put MovieLens CSVs there or run `python -m movie_assets.sample_data`"
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


def rating_rules() -> list[tuple[Column, str]]:
    """Ratings expectations (the failing rows go to ratings_quarantine). A line PLAIN_RATING matches is read
    without them: a rule added here must pass every such line, or PLAIN_RATING be narrowed."""
    r = F.col(S.RATING)
    return [
        (F.col(S.USER_ID).isNull(), "userId is missing"),
        (F.col(S.USER_ID) <= 0, "userId is not > 0"),
        (F.col(S.MOVIE_ID).isNull(), "movieId is missing"),
        (F.col(S.MOVIE_ID) <= 0, "movieId is not > 0"),
        (r.isNull(), "rating is missing"),
        (F.isnan(r), "rating is NaN"),
        ((r < 0.5) | (r > 5.0), "rating is outside 0.5-5.0"),
        (r * 2 != F.round(r * 2), "rating is not a multiple of 0.5"),
        (F.col(S.TIMESTAMP).isNull(), "timestamp is missing"),
        (F.col(S.TIMESTAMP) < 0, "timestamp is negative"),
    ]


def movie_rules() -> list[tuple[Column, str]]:
    """Movies expectations (the failing rows go to movies_quarantine)."""
    return [
        (F.col(S.MOVIE_ID).isNull(), "movieId is missing"),
        (F.col(S.MOVIE_ID) <= 0, "movieId is not > 0"),
        (F.col(S.TITLE).isNull() | (F.trim(F.col(S.TITLE)) == ""), "title is missing"),
    ]


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


def read_plain(files: list[LandingFile], source: Source) -> tuple[pa.Table, list[dict[str, int | str]]] | None:
    """The kept rows and per-file accounting of `files`, read without Spark, when each of their lines is the
    header, empty, or plain (`source.plain`); None when any line is not, or the source has no plain form.

    A plain line meets every expectation and its values read the same whatever parses them: it is kept, as
    Spark's parse would keep it. Lines end at a newline only: a file with a carriage return goes to Spark, which
    also ends lines there. The rows come as strings, which the table's schema casts.
    """
    if source.plain is None:
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
        plain = pc.match_substring_regex(text, source.plain)
        counts[KEPT] = pc.sum(plain).as_py() or 0
        if sum(counts.values()) != len(lines):
            return None
        parts = pc.split_pattern(text.filter(plain), ",")
        columns = {name: pc.list_element(parts, i) for i, name in enumerate(source.header)}
        n = counts[KEPT]
        columns |= {S.SOURCE_FILE: pa.repeat(file.name, n), S.INGESTED_AT: pa.repeat(now, n)}
        rows.append(pa.table(columns))
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
