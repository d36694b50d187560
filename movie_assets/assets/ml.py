"""Machine learning: the ALS item factors that answer, and the rating model's held-out RMSE.

Both read the ALS configurations from the `als` resource, defined once (`resources/als_models.py`).
"""

import time

import dagster as dg
from pyspark.sql import DataFrame

from movie_assets import als, keys
from movie_assets import schemas as S
from movie_assets.automation import REFRESH, AssetArgs
from movie_assets.delta_tables import markdown_table
from movie_assets.progress import spark_progress
from movie_assets.resources.als_models import AlsModels
from movie_assets.resources.delta_io_manager import PREVIEW_ROWS_KEY
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import DeltaSparkResource

ML = AssetArgs(group_name="ml", kinds={"spark", "delta"})


def prepare(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> None:
    """A checkpoint directory, so that many ALS iterations do not overflow the stack."""
    pyspark.spark_context.setCheckpointDir(lakehouse.checkpoint_dir)


@dg.asset(
    **AssetArgs(**ML, automation_condition=REFRESH),
    metadata={PREVIEW_ROWS_KEY: 5, **S.column_schema(keys.ALS_ITEM_FACTORS)},
    pool=keys.pool(keys.ALS_ITEM_FACTORS),
)
def als_item_factors(
    context: dg.AssetExecutionContext,
    ratings_silver: DataFrame,
    als_models: AlsModels,
    pyspark: DeltaSparkResource,
    lakehouse: Lakehouse,
) -> DataFrame:
    """ALS item factors (movieId, features, count) of the configuration that answers, fitted on the current ratings."""
    prepare(pyspark, lakehouse)
    config = als_models.answer
    params = config.params()
    started = time.perf_counter()
    with spark_progress(
        context.log, pyspark.started_context, f"ALS fit, rank {params.rank}, {params.max_iter} iterations"
    ):
        model = als.fit(ratings_silver, params)
    fit_seconds = time.perf_counter() - started
    model.write().overwrite().save(lakehouse.model_path("als"))
    context.add_output_metadata(
        {
            "answers_from": als_models.answers_from,
            "users": model.userFactors.count(),
            "fit_seconds": round(fit_seconds, 2),
            "model_uri": dg.MetadataValue.path(lakehouse.model_path("als")),
            "parameters": dg.MetadataValue.json(config.model_dump()),
        }
    )
    return als.item_factors(model, ratings_silver)


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
