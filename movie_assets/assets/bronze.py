"""Bronze: the landing CSVs as Delta tables, with the lines that fail expectations kept aside.

Ratings are ingested incrementally and exactly once: only files whose content is not in the table yet are
read, and their rows replace that file's earlier rows in one commit. Movies, a small table whose rows replace
each other across files, are rebuilt from every file.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
from pydantic import Field
from pyspark.sql import Column, DataFrame

from movie_assets import ingest, ingest_log
from movie_assets import schemas as S
from movie_assets.delta_tables import markdown_table, table_exists, table_metadata, write_table
from movie_assets.progress import spark_progress
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import DeltaSparkResource

ACCOUNTING_COLUMNS = [S.SOURCE_FILE, *ingest_log.COUNTS]


class BronzeConfig(dg.Config):
    full_refresh: bool = Field(default=False, description="re-read every landing file and rebuild the tables")


def _bronze(
    source: ingest.Source,
    rules: Callable[[], list[tuple[Column, str]]],
    dedupe_key: str | None,
    incremental: bool,
) -> dg.AssetsDefinition:
    csv, bronze_key, quarantine_key = source.csv_key, source.bronze_key, source.quarantine_key

    @dg.multi_asset(
        name=bronze_key,
        specs=[
            dg.AssetSpec(
                bronze_key,
                deps=[csv],
                group_name="bronze",
                kinds={"delta", "spark"},
                description=f"Every {source.pattern} row that meets the expectations, typed by an explicit schema.",
            ),
            dg.AssetSpec(
                quarantine_key,
                deps=[csv],
                group_name="bronze",
                kinds={"delta"},
                description=f"Lines of {source.pattern} that fail the expectations, raw, with file and reason.",
            ),
        ],
        can_subset=True,
    )
    def _asset(
        context: dg.AssetExecutionContext, config: BronzeConfig, lakehouse: Lakehouse, pyspark: DeltaSparkResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
        try:
            files = ingest.landing_files(lakehouse.landing, source)
            for path in files:
                ingest.check_header(path, source)
        except ingest.LandingError as err:
            raise dg.Failure(str(err)) from None
        spark = pyspark.spark_session
        bronze_path, log_path = lakehouse.table_path(bronze_key), lakehouse.table_path(ingest_log.LOG_TABLE)
        digests = {path: (Path(path).name, ingest_log.file_sha256(path)) for path in files}
        full = config.full_refresh or not incremental or not table_exists(spark, bronze_path)
        done = {} if full else ingest_log.ingested(spark, log_path, source.name)
        pending = {p: (name, sha) for p, (name, sha) in digests.items() if done.get(name) != sha}
        context.log.info(f"{source.name}: {len(files)} file(s) in landing, {len(pending)} to ingest (full={full})")

        accounting: list[dict] = []
        written = {bronze_key: 0, quarantine_key: 0}
        if pending:
            with spark_progress(context.log, spark.sparkContext, f"ingesting {len(pending)} {source.name} file(s)"):
                parsed = ingest.parse_lines(spark, list(pending), source, rules())
                replace = None if full else ingest_log.files_predicate([name for name, _ in pending.values()])
                keys = {ingest.KEPT: bronze_key, ingest.QUARANTINED: quarantine_key}

                def write(kind: str, rows: DataFrame) -> None:
                    path = lakehouse.table_path(keys[kind])
                    write_table(rows, path, replace_where=replace if table_exists(spark, path) else None)

                names = sorted(name for name, _ in pending.values())
                accounting = ingest.write_lines(parsed, source, names, dedupe_key, write)
                ingest_log.record(spark, log_path, source.name, pending, accounting, full)
                written = {
                    bronze_key: sum(r["kept"] for r in accounting),
                    quarantine_key: sum(r["quarantined"] for r in accounting),
                }

        run_metadata = {
            ingest_log.LANDING_FILES: dg.MetadataValue.json(dict(sorted(digests.values()))),
            "files_ingested": dg.MetadataValue.int(len(pending)),
            "full_refresh": full,
            "ingested_this_run": dg.MetadataValue.md(markdown_table(accounting, ACCOUNTING_COLUMNS)),
            **{f"lines_{k}": dg.MetadataValue.int(sum(int(r[k]) for r in accounting)) for k in ingest_log.COUNTS},
        }
        for key, rows_written in written.items():
            metadata = {
                **table_metadata(spark, lakehouse.table_path(key), preview_rows=10),
                **run_metadata,
                "rows_written": rows_written,
            }
            if dg.AssetKey(key) in context.selected_asset_keys:
                yield dg.MaterializeResult(asset_key=key, metadata=metadata)
            else:
                yield dg.AssetMaterialization(asset_key=key, metadata=metadata)

    return _asset


ratings_bronze = _bronze(ingest.RATINGS, ingest.rating_rules, dedupe_key=None, incremental=True)
movies_bronze = _bronze(ingest.MOVIES, ingest.movie_rules, dedupe_key=S.MOVIE_ID, incremental=False)
