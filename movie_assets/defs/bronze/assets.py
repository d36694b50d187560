"""Bronze: the landing CSVs as Delta tables, with the lines that fail expectations kept aside.

Ratings are ingested incrementally and exactly once: only files whose content is not in the table yet are
read, and their rows replace that file's earlier rows in one commit. Movies, a small table whose rows replace
each other across files, are rebuilt from every file when one was added, changed or removed (else the run
reads nothing and starts no Spark session). A file that is not UTF-8 (anywhere in it) is refused
whole, by name, and the other files of its source are ingested all the same.
"""

from collections.abc import Callable, Iterator

import dagster as dg
import pyarrow as pa
from pydantic import Field
from pyspark.sql import Column, DataFrame

from movie_assets.lake import commits, engine
from movie_assets.lake.delta_rs import has_table
from movie_assets.lake.delta_tables import MissingTableError, markdown_table
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.own_tables import OwnTables
from movie_assets.resources.progress import spark_progress
from movie_assets.resources.spark import DeltaSparkResource
from movie_assets.tables import ingest, ingest_log, keys
from movie_assets.tables import schemas as S

ACCOUNTING_COLUMNS = [S.SOURCE_FILE, *ingest_log.COUNTS]
READABLE, PRESENT = "landing_files_readable", "landing_files_present"


class BronzeConfig(dg.Config):
    full_refresh: bool = Field(default=False, description="re-read every landing file and rebuild the tables")


def _refused_check(key: str, refused: list[ingest.LandingFile]) -> dg.AssetCheckResult:
    rows = [{S.SOURCE_FILE: f.name, "refused": f.refused} for f in refused[:50]]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=READABLE,
        passed=not refused,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"refused: {', '.join(f.name for f in refused[:20])}" if refused else None,
        metadata={
            "refused_files": len(refused),
            "files": dg.MetadataValue.md(markdown_table(rows, ["source_file", "refused"])),
        },
    )


def _removed_check(key: str, removed: dict[str, int]) -> dg.AssetCheckResult:
    rows = [{S.SOURCE_FILE: name, "rows": n} for name, n in sorted(removed.items())[:50]]
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=PRESENT,
        passed=not removed,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{len(removed)} file(s) no longer in landing still have {sum(removed.values()):,} rows in {key}: "
            "materialize it with full_refresh: true to drop them"
        )
        if removed
        else None,
        metadata={
            "removed_files": len(removed),
            "files": dg.MetadataValue.md(markdown_table(rows, ["source_file", "rows"])),
        },
    )


def write_small(tables: OwnTables, key: str, rows: pa.Table | None, names: list[str]) -> None:
    """Replace the rows of files `names` in `key`'s table with `rows` (None: with nothing), cast to its schema,
    through delta-rs.

    For a few new files delta-rs commits in milliseconds, where a Spark `replaceWhere` first rebuilds the table's
    file list with Spark jobs: in a fresh JVM, the bronze write of 1,000 ratings onto the 25M table took 7.3-7.7 s
    that way. delta-rs detects the same conflicts (another run's rows of these files committed first: the write
    is retried and replaces them) and writes the change feed silver reads (the replaced rows as deletes).
    """
    batch = S.arrow_schema(key).empty_table() if rows is None else commits.declared(key, rows)
    tables.replace_where(key, batch, {S.SOURCE_FILE: names})


def ingest_files(
    context: dg.AssetExecutionContext,
    source: ingest.Source,
    files: list[ingest.LandingFile],
    full: bool,
    rules: Callable[[], list[tuple[Column, str]]],
    dedupe_key: str | None,
    tables: OwnTables,
    pyspark: DeltaSparkResource,
) -> tuple[list[dict], str]:
    """Write the kept rows and the quarantined lines of `files` (replacing their earlier rows, or all rows when
    `full`); returns the per-file accounting and what parsed the lines ("arrow" or "spark").

    New files of no more rows than the driver takes (`engine`) are written through delta-rs; if every line of them
    is plain (`ingest.read_plain`), they are read without Spark too, and the run starts no JVM for them (about 5 s).
    """
    names = sorted(f.name for f in files)
    keys_of = {ingest.KEPT: source.bronze_key, ingest.QUARANTINED: source.quarantine_key}
    rows = engine.rows_at_most(sum(f.size for f in files))
    small = not full and engine.in_driver(rows) and all(has_table(tables.path(key)) for key in keys_of.values())
    plain = ingest.read_plain(files, source) if small else None
    if plain is not None:
        rows, accounting = plain
        context.log.info(f"{source.name}: every line is plain, read without Spark")
        write_small(tables, keys_of[ingest.KEPT], rows, names)
        write_small(tables, keys_of[ingest.QUARANTINED], None, names)
        return accounting, "arrow"

    def write(kind: str, rows: DataFrame) -> None:
        if small:
            write_small(tables, keys_of[kind], rows.toArrow(), names)
        elif full:
            tables.overwrite(keys_of[kind], rows)
        else:
            tables.replace_where(keys_of[kind], rows, {S.SOURCE_FILE: names})

    spark = pyspark.spark_session
    with spark_progress(context.log, pyspark.started_context, f"ingesting {len(files)} {source.name} file(s)"):
        parsed = ingest.parse_lines(spark, {f.path: f.name for f in files}, source, rules())
        return ingest.write_lines(parsed, source, names, dedupe_key, write), "spark"


def _bronze(
    source: ingest.Source,
    rules: Callable[[], list[tuple[Column, str]]],
    dedupe_key: str | None,
    incremental: bool,
) -> dg.AssetsDefinition:
    csv, bronze_key, quarantine_key = source.csv_key, source.bronze_key, source.quarantine_key
    check_names = [READABLE, PRESENT] if incremental else [READABLE]

    @dg.multi_asset(
        name=bronze_key,
        specs=[
            dg.AssetSpec(
                bronze_key,
                deps=[csv],
                group_name="bronze",
                kinds={"delta", "spark"},
                metadata=S.column_schema(bronze_key),
                description=f"Every {source.pattern} row that meets the expectations, typed by an explicit schema.",
            ),
            dg.AssetSpec(
                quarantine_key,
                deps=[csv],
                group_name="bronze",
                kinds={"delta"},
                metadata=S.column_schema(quarantine_key),
                description=f"Lines of {source.pattern} that fail the expectations, raw, with file and reason.",
            ),
        ],
        check_specs=[dg.AssetCheckSpec(name, asset=bronze_key) for name in check_names],
        can_subset=True,
        pool=keys.pool(bronze_key),
    )
    def _asset(
        context: dg.AssetExecutionContext, config: BronzeConfig, lakehouse: Lakehouse, pyspark: DeltaSparkResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization | dg.AssetCheckResult]:
        try:
            found = ingest.landing_files(lakehouse.landing, source)
        except ingest.LandingError as err:
            raise dg.Failure(str(err)) from None
        inspected = [ingest.inspect(path, source, lakehouse.landing_settle_seconds) for path in found]
        readable = [f for f in inspected if f.refused is None]
        refused = [f for f in inspected if f.refused]
        refused += [ingest.LandingFile("", n, "", 0, why) for n, why in ingest.not_taken(lakehouse.landing).items()]
        for f in refused:
            context.log.warning(f"{f.name} is refused: {f.refused}")
        # both tables of the source, whichever were selected (an unselected one still takes its rows), and the log
        tables = lakehouse.own(context, bronze_key, quarantine_key, ingest_log.LOG_TABLE)
        bronze_path, log_path = tables.path(bronze_key), tables.path(ingest_log.LOG_TABLE)
        fresh = config.full_refresh or not has_table(bronze_path)
        done = {} if fresh else ingest_log.ingested(log_path, source.name)
        changed = [f for f in readable if f.name not in done or done[f.name].sha256 != f.sha256]
        if incremental:
            full, pending = fresh, changed
        else:  # rebuilt from every file, but only when one was added, changed or removed since the last build
            unchanged = not fresh and not changed and set(done) == {f.name for f in readable}
            # and not while one is still being written: a rebuild without it would drop its rows until it settles
            waiting = any((f.refused or "").startswith(ingest.STILL_WRITTEN) for f in inspected)
            full, pending = True, [] if unchanged or waiting else readable
        context.log.info(
            f"{source.name}: {len(inspected)} file(s) in landing, {len(pending)} to ingest, {len(refused)} refused"
            f" (full={full})"
        )

        accounting: list[dict] = []
        written, parser = {bronze_key: 0, quarantine_key: 0}, None
        if pending:
            accounting, parser = ingest_files(context, source, pending, full, rules, dedupe_key, tables, pyspark)
            ingest_log.record(log_path, source.name, pending, accounting, full)
            written = {
                bronze_key: sum(r["kept"] for r in accounting),
                quarantine_key: sum(r["quarantined"] for r in accounting),
            }

        run_metadata = {
            "files_ingested": dg.MetadataValue.int(len(pending)),
            "files_refused": dg.MetadataValue.int(len(refused)),
            "full_refresh": full,
            "parsed_by": dg.MetadataValue.text(parser or "nothing to ingest"),
            "ingested_this_run": dg.MetadataValue.md(markdown_table(accounting[:100], ACCOUNTING_COLUMNS)),
            **{f"lines_{k}": dg.MetadataValue.int(sum(int(r[k]) for r in accounting)) for k in ingest_log.COUNTS},
        }
        for key, rows_written in written.items():
            try:
                table = tables.metadata(key)
            except MissingTableError:  # nothing was ever ingested into it
                table = {}
            metadata = {**table, **run_metadata, "rows_written": rows_written}
            if dg.AssetKey(key) in context.selected_asset_keys:
                yield dg.MaterializeResult(asset_key=key, metadata=metadata)
            else:
                yield dg.AssetMaterialization(asset_key=key, metadata=metadata)
        selected = {k.name for k in context.selected_asset_check_keys}
        if READABLE in selected:
            yield _refused_check(bronze_key, refused)
        if PRESENT in selected:
            landed = {f.name for f in inspected}
            removed = {name: entry.kept for name, entry in done.items() if name not in landed}
            yield _removed_check(bronze_key, removed)

    return _asset


ratings_bronze = _bronze(ingest.RATINGS, ingest.rating_rules, dedupe_key=None, incremental=True)
movies_bronze = _bronze(ingest.MOVIES, ingest.movie_rules, dedupe_key=S.MOVIE_ID, incremental=False)
