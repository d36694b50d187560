"""Machine learning: the ALS item factors that answer, and the rating model's held-out RMSE.

Both read the ALS configurations from the `als` resource, defined once (`resources/als_models.py`).
"""

import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pyarrow as pa
from pydantic import Field
from pyspark.sql import DataFrame

from movie_assets.defs.automation import REFRESH, AssetArgs
from movie_assets.lake.delta_rs import open_table
from movie_assets.lake.delta_tables import MissingTableError, markdown_table
from movie_assets.recommend import als, promotion
from movie_assets.recommend import answer_quality as Q
from movie_assets.recommend.neighbors import collect_factors, index_from_arrow
from movie_assets.resources.als_models import AlsConfig, AlsModels
from movie_assets.resources.delta_io_manager import PREVIEW_ROWS_KEY
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.own_tables import OwnTables
from movie_assets.resources.progress import spark_progress
from movie_assets.resources.spark import DeltaSparkResource
from movie_assets.tables import keys
from movie_assets.tables import schemas as S

ML = AssetArgs(group_name="ml", kinds={"spark", "delta"})
PARAMETERS, SPLIT, TRAINING_RATINGS = "parameters", "split", "training_ratings"  # the factors' recorded fit


def prepare(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> None:
    """A checkpoint directory, so that many ALS iterations do not overflow the stack."""
    pyspark.spark_context.setCheckpointDir(lakehouse.checkpoint_dir)


def recorded(instance: dg.DagsterInstance, key: dg.AssetKey, name: str) -> object:
    """A value of an asset's last materialization's metadata (None when there is none)."""
    event = instance.get_latest_materialization_event(key)
    value = event.asset_materialization.metadata.get(name) if event and event.asset_materialization else None
    return getattr(value, "value", value)


def served_config(instance: dg.DagsterInstance) -> AlsConfig | None:
    """The configuration the served factors were fitted with (their promotion's recorded parameters)."""
    parameters = recorded(instance, dg.AssetKey(keys.ALS_ITEM_FACTORS), PARAMETERS)
    return AlsConfig(**parameters) if isinstance(parameters, dict) else None


def served_factors(tables: OwnTables) -> pa.Table | None:
    """The factors answering now: this asset's own table, as last promoted."""
    try:
        table = open_table(tables.path(keys.ALS_ITEM_FACTORS), keys.ALS_ITEM_FACTORS)
    except MissingTableError:
        return None
    return table.to_pyarrow_table(columns=[S.MOVIE_ID, S.FEATURES, S.COUNT])


class FactorsConfig(dg.Config):
    force_promotion: bool = Field(
        default=False,
        description="promote even when the gate refuses (its check then fails as a warning), e.g. the original's model",
    )


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
    config: FactorsConfig,
    ratings_silver: DataFrame,
    als_models: AlsModels,
    pyspark: DeltaSparkResource,
    lakehouse: Lakehouse,
) -> Iterator[dg.Output[DataFrame] | dg.AssetCheckResult]:
    """ALS item factors (movieId, features, count) of the configuration that answers, fitted on the current ratings
    less the split's held-out likes and scored on them: promoted only past the gate (`promotion.py`); a refusal
    leaves the served factors and every answer as they are."""
    prepare(pyspark, lakehouse)
    spark, candidate = pyspark.spark_session, als_models.answer
    data = Q.split(ratings_silver, als_models.split)
    train = data.train.persist()
    params = candidate.params()
    started = time.perf_counter()
    with spark_progress(
        context.log, pyspark.started_context, f"ALS fit, rank {params.rank}, {params.max_iter} iterations"
    ):
        model = als.fit(train, params)
        factors = collect_factors(als.item_factors(model, train))
    fit_seconds = time.perf_counter() - started
    with spark_progress(context.log, pyspark.started_context, "promotion gate: the answer evaluation"):
        verdict = promotion.judge(spark, data, factors, candidate, served_config(context.instance))
    training_ratings, users = train.count(), model.userFactors.count()
    train.unpersist()
    context.log.info(verdict.reason)
    if not verdict.promoted and not config.force_promotion:
        yield dg.AssetCheckResult(passed=False, metadata=verdict.metadata, description=verdict.reason)
        raise dg.Failure(verdict.reason, metadata=verdict.metadata)
    passed = verdict.promoted
    verdict = verdict if passed else promotion.forced(verdict)
    previous = served_factors(lakehouse.own(context))
    diff = {} if previous is None else promotion.neighbour_changes(previous, factors, candidate.rule())
    yield dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR if passed else dg.AssetCheckSeverity.WARN,
        metadata={**verdict.metadata, **diff},
        description=verdict.reason,
    )
    model.write().overwrite().save(lakehouse.model_path("als"))
    metadata = {
        "answers_from": als_models.answers_from,
        "users": users,
        TRAINING_RATINGS: training_ratings,
        "held_out_likes": sum(len(likes) for likes in data.held_out.values()),
        "fit_seconds": round(fit_seconds, 2),
        "model_uri": dg.MetadataValue.path(lakehouse.model_path("als")),
        PARAMETERS: dg.MetadataValue.json(candidate.model_dump()),
        SPLIT: dg.MetadataValue.json(als_models.split.model_dump()),
        "promotion": verdict.reason,
    }
    yield dg.Output(spark.createDataFrame(factors), metadata={**metadata, **diff})


@dg.asset(**ML)
def als_evaluation(
    context: dg.AssetExecutionContext,
    ratings_silver: DataFrame,
    als_models: AlsModels,
    pyspark: DeltaSparkResource,
    lakehouse: Lakehouse,
) -> dg.MaterializeResult:
    """RMSE and MAE of the explicit rating model (the original's ALS) on a seeded 80/20 split of the current ratings
    less the answer split's held-out likes, and the hit rate@10 of its factors' neighbours on those likes: the
    original's answers, scored as `similarity_evaluation` scores the served ones."""
    prepare(pyspark, lakehouse)
    spark, config = pyspark.spark_session, als_models.rating
    with spark_progress(context.log, pyspark.started_context, "ALS fit and scoring on the 80/20 split"):
        data = Q.split(ratings_silver, als_models.split)
        train = data.train.persist()
        result = als.evaluate(train, config.params())
        factors = collect_factors(als.item_factors(result.model, train))
        answers = Q.score(spark, data, Q.factors_ranker(index_from_arrow(factors, config.rule())))
        train.unpersist()
    interval = Q.interval_text(Q.user_interval(data, answers.hits, data.seed))
    rows: list[dict[str, Any]] = [
        {"metric": "RMSE", "value": result.rmse},
        {"metric": "MAE", "value": result.mae},
        {"metric": "training rows", "value": result.train_rows},
        {"metric": "held-out rows", "value": result.test_rows},
        {"metric": "held-out rows scored", "value": result.scored_rows},
        {"metric": "hit rate@10 of its neighbours on the held-out likes", "value": answers.hit_rate},
        {"metric": "its 95% interval", "value": interval},
    ]
    return dg.MaterializeResult(
        metadata={
            "rmse": dg.MetadataValue.float(result.rmse),
            "mae": dg.MetadataValue.float(result.mae),
            "held_out_rows": result.test_rows,
            "scored_rows": result.scored_rows,
            "hit_rate_at_10": dg.MetadataValue.float(answers.hit_rate),
            "ndcg_at_10": dg.MetadataValue.float(answers.ndcg),
            "hit_rate_interval": interval,
            "queries": answers.queries,
            "parameters": dg.MetadataValue.json(config.model_dump()),
            "quality": dg.MetadataValue.md(markdown_table(rows, ["metric", "value"])),
        }
    )
