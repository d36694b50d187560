"""Machine learning: the ALS item factors that answer, and the rating model's held-out RMSE.

Both read the ALS configurations from the `als` resource, defined once (`resources/als_models.py`).
"""

import time
from collections.abc import Iterator

import dagster as dg
import pyarrow as pa
from pyspark.sql import DataFrame

from movie_assets import als, keys, promotion
from movie_assets import answer_quality as Q
from movie_assets import schemas as S
from movie_assets.automation import REFRESH, AssetArgs
from movie_assets.delta_rs import open_table
from movie_assets.delta_tables import MissingTableError, markdown_table
from movie_assets.neighbors import collect_factors
from movie_assets.progress import spark_progress
from movie_assets.resources.als_models import AlsConfig, AlsModels
from movie_assets.resources.delta_io_manager import PREVIEW_ROWS_KEY
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import DeltaSparkResource

ML = AssetArgs(group_name="ml", kinds={"spark", "delta"})


def prepare(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> None:
    """A checkpoint directory, so that many ALS iterations do not overflow the stack."""
    pyspark.spark_context.setCheckpointDir(lakehouse.checkpoint_dir)


def served(context: dg.AssetExecutionContext, lakehouse: Lakehouse) -> tuple[pa.Table | None, AlsConfig | None]:
    """The factors answering now (this asset's own table, as last promoted) and the configuration they were fitted
    with (the promotion's recorded parameters); None for what is missing."""
    try:
        table = open_table(lakehouse.table_path(keys.ALS_ITEM_FACTORS), keys.ALS_ITEM_FACTORS)
    except MissingTableError:
        return None, None
    factors = table.to_pyarrow_table(columns=[S.MOVIE_ID, S.FEATURES, S.COUNT])
    event = context.instance.get_latest_materialization_event(context.asset_key)
    recorded = event.asset_materialization.metadata.get("parameters") if event and event.asset_materialization else None
    if not isinstance(recorded, dg.JsonMetadataValue) or not isinstance(recorded.value, dict):
        return factors, None
    return factors, AlsConfig(**recorded.value)


class PromotionConfig(Q.SplitConfig):
    """The held-out split the promotion gate judges new factors on (the answer evaluation's, by default)."""


@dg.asset(
    **AssetArgs(**ML, automation_condition=REFRESH),
    metadata={PREVIEW_ROWS_KEY: 5, **S.column_schema(keys.ALS_ITEM_FACTORS)},
    pool=keys.pool(keys.ALS_ITEM_FACTORS),
    check_specs=[
        dg.AssetCheckSpec(
            promotion.CHECK,
            asset=keys.ALS_ITEM_FACTORS,
            blocking=True,
            description="New factors answer only when not worse than the served ones on held-out likes",
        )
    ],
)
def als_item_factors(
    context: dg.AssetExecutionContext,
    config: PromotionConfig,
    ratings_silver: DataFrame,
    als_models: AlsModels,
    pyspark: DeltaSparkResource,
    lakehouse: Lakehouse,
) -> Iterator[dg.Output[DataFrame] | dg.AssetCheckResult]:
    """ALS item factors (movieId, features, count) of the configuration that answers, fitted on the current ratings,
    promoted only past the gate (`promotion.py`); a refusal leaves the served factors and every answer as they are."""
    prepare(pyspark, lakehouse)
    candidate = als_models.answer
    previous, served_config = served(context, lakehouse)
    with spark_progress(context.log, pyspark.started_context, "promotion gate: the answer evaluation"):
        verdict = promotion.judge(pyspark.spark_session, ratings_silver, candidate, served_config, config)
    context.log.info(verdict.reason)
    if not verdict.promoted:
        yield dg.AssetCheckResult(passed=False, metadata=verdict.metadata, description=verdict.reason)
        raise dg.Failure(verdict.reason, metadata=verdict.metadata)
    params = candidate.params()
    started = time.perf_counter()
    with spark_progress(
        context.log, pyspark.started_context, f"ALS fit, rank {params.rank}, {params.max_iter} iterations"
    ):
        model = als.fit(ratings_silver, params)
    fit_seconds = time.perf_counter() - started
    model.write().overwrite().save(lakehouse.model_path("als"))
    factors = als.item_factors(model, ratings_silver)
    diff = {} if previous is None else promotion.neighbour_changes(previous, collect_factors(factors), candidate.rule())
    yield dg.AssetCheckResult(passed=True, metadata={**verdict.metadata, **diff}, description=verdict.reason)
    metadata = {
        "answers_from": als_models.answers_from,
        "users": model.userFactors.count(),
        "fit_seconds": round(fit_seconds, 2),
        "model_uri": dg.MetadataValue.path(lakehouse.model_path("als")),
        "parameters": dg.MetadataValue.json(candidate.model_dump()),
        "promotion": verdict.reason,
    }
    yield dg.Output(factors, metadata={**metadata, **diff})


@dg.asset(**ML)
def als_evaluation(
    context: dg.AssetExecutionContext,
    ratings_silver: DataFrame,
    als_models: AlsModels,
    pyspark: DeltaSparkResource,
    lakehouse: Lakehouse,
) -> dg.MaterializeResult:
    """RMSE and MAE of the explicit rating model (the original's ALS) on a seeded 80/20 split of the current ratings."""
    prepare(pyspark, lakehouse)
    config = als_models.rating
    with spark_progress(context.log, pyspark.started_context, "ALS fit and scoring on the 80/20 split"):
        result = als.evaluate(ratings_silver, config.params())
    rows = [
        {"metric": "RMSE", "value": result.rmse},
        {"metric": "MAE", "value": result.mae},
        {"metric": "training rows", "value": result.train_rows},
        {"metric": "held-out rows", "value": result.test_rows},
        {"metric": "held-out rows scored", "value": result.scored_rows},
    ]
    return dg.MaterializeResult(
        metadata={
            "rmse": dg.MetadataValue.float(result.rmse),
            "mae": dg.MetadataValue.float(result.mae),
            "held_out_rows": result.test_rows,
            "scored_rows": result.scored_rows,
            "parameters": dg.MetadataValue.json(config.model_dump()),
            "quality": dg.MetadataValue.md(markdown_table(rows, ["metric", "value"])),
        }
    )
