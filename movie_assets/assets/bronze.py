"""Bronze: the landing CSVs as Delta tables, with the lines that fail expectations kept aside."""

from collections.abc import Callable, Iterator

import dagster as dg
from pyspark.sql import Column

from movie_assets import ingest
from movie_assets.delta_tables import markdown_table, table_metadata, write_table
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import DeltaSparkResource


def _bronze(
    source: ingest.Source, csv: str, rules: Callable[[], list[tuple[Column, str]]], dedupe_key: str | None
) -> dg.AssetsDefinition:
    bronze_key, quarantine_key = f"{source.name}_bronze", f"{source.name}_quarantine"

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
        context: dg.AssetExecutionContext, lakehouse: Lakehouse, pyspark: DeltaSparkResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
        try:
            files = ingest.landing_files(lakehouse.landing, source)
            for path in files:
                ingest.check_header(path, source)
        except ingest.LandingError as err:
            raise dg.Failure(str(err)) from None
        spark = pyspark.spark_session
        lines = ingest.parse_lines(spark, files, source, rules())
        if dedupe_key:
            lines = ingest.latest_per_key(lines, dedupe_key)
        accounting = ingest.line_accounting(lines)
        totals = {
            k: sum(int(row[k]) for row in accounting) for k in ("lines", "header", "blank", "kept", "quarantined")
        }
        context.log.info(f"{source.name}: {len(files)} file(s), {totals}")
        shared = {
            "files": dg.MetadataValue.md(
                markdown_table(accounting, ["source_file", "lines", "header", "blank", "kept", "quarantined"])
            ),
            **{f"lines_{k}": dg.MetadataValue.int(v) for k, v in totals.items()},
        }
        outputs = {
            bronze_key: (ingest.kept_rows(lines, source), totals["kept"], 0),
            quarantine_key: (ingest.quarantined_rows(lines), totals["quarantined"], 10),
        }
        for key, (df, rows, preview) in outputs.items():
            path = lakehouse.table_path(key)
            write_table(df, path)
            metadata = {**table_metadata(spark, path, preview_rows=preview, row_count=rows), **shared}
            if dg.AssetKey(key) in context.selected_asset_keys:
                yield dg.MaterializeResult(asset_key=key, metadata=metadata)
            else:
                yield dg.AssetMaterialization(asset_key=key, metadata=metadata)
        lines.unpersist()

    return _asset


ratings_bronze = _bronze(ingest.RATINGS, "ratings_csv", ingest.rating_rules, dedupe_key=None)
movies_bronze = _bronze(ingest.MOVIES, "movies_csv", ingest.movie_rules, dedupe_key="movieId")
