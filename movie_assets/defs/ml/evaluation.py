"""How good the answers are: the factors' neighbours against held-out likes, next to simple baselines."""

import os
from dataclasses import replace
from multiprocessing.pool import ThreadPool
from typing import Any

import dagster as dg
import deltalake
from pydantic import Field
from pyspark.ml.tuning import ParamGridBuilder
from pyspark.sql import DataFrame

from movie_assets.defs.ml.assets import ML, SPLIT, TRAINING_RATINGS, prepare, recorded, served_config
from movie_assets.lake.delta_tables import markdown_table
from movie_assets.recommend import als
from movie_assets.recommend import answer_quality as Q
from movie_assets.recommend.neighbors import collect_factors, index_from_arrow, read_index
from movie_assets.resources.als_models import AlsModels
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.progress import spark_progress
from movie_assets.resources.spark import DeltaSparkResource
from movie_assets.tables import keys

COLUMNS = ["method", "hit_rate@10", "95% interval", "ndcg@10", "queries"]
LENGTH_WEIGHT = "length_weight"  # the answer rule's name for it: how a tuning row says to adopt it
GRID_COLUMNS = ["rank", "regParam", "alpha", "maxIter", LENGTH_WEIGHT]  # what a tuning row varies


def _row(method: str, scores: Q.Scores, data: Q.Split, seed: int) -> dict[str, object]:
    return {
        "method": method,
        "hit_rate@10": scores.hit_rate,
        "95% interval": Q.interval_text(Q.user_interval(data, scores.hits, seed)),
        "ndcg@10": scores.ndcg,
        "queries": scores.queries,
    }


@dg.asset(**ML)
def similarity_evaluation(
    context: dg.AssetExecutionContext,
    als_item_factors: deltalake.DeltaTable,
    ratings_silver: DataFrame,
    pyspark: DeltaSparkResource,
    lakehouse: Lakehouse,
) -> dg.MaterializeResult:
    """Hit rate@10 and NDCG@10 of the served factors on the held-out likes they were fitted without, next to
    popularity and item-kNN on the same split (`als_evaluation` scores the rating model's neighbours there)."""
    prepare(pyspark, lakehouse)
    spark, instance = pyspark.spark_session, context.instance
    answer = served_config(instance)
    fitted_on = recorded(instance, dg.AssetKey(keys.ALS_ITEM_FACTORS), SPLIT)
    if answer is None or not isinstance(fitted_on, dict):
        raise dg.Failure("als_item_factors records no configuration or split: materialize als_item_factors again.")
    split = Q.SplitConfig(**fitted_on)
    with spark_progress(context.log, pyspark.started_context, "answer evaluation"):
        data = Q.split(ratings_silver, split)
        train = data.train.persist()
        fitted, current = recorded(instance, dg.AssetKey(keys.ALS_ITEM_FACTORS), TRAINING_RATINGS), train.count()
        if current != fitted:
            raise dg.Failure(
                f"als_item_factors were fitted on {fitted} ratings, but the current ratings less the held-out likes "
                f"are {current}: materialize als_item_factors, then similarity_evaluation."
            )
        interactions = Q.Interactions.of(train)
        answers = Q.score(spark, data, Q.factors_ranker(read_index(als_item_factors, answer.rule())))
        baselines = {
            "popularity": Q.score(spark, data, Q.popularity_ranker(interactions.movie_ids, interactions.counts())),
            "item_knn": Q.score(spark, data, Q.item_knn_ranker(interactions)),
        }
        scored = {"answers (the served factors)": answers, "popularity": baselines["popularity"]}
        scored["item-kNN cosine"] = baselines["item_knn"]
        train.unpersist()
    rows = [_row(method, scores, data, split.seed) for method, scores in scored.items()]
    metadata: dict[str, Any] = {
        "hit_rate_at_10": dg.MetadataValue.float(answers.hit_rate),
        "ndcg_at_10": dg.MetadataValue.float(answers.ndcg),
        "test_users": len(data.held_out),
        "queries": answers.queries,
        "parameters": dg.MetadataValue.json(answer.model_dump()),
        "split": dg.MetadataValue.json(split.model_dump()),
        "quality": dg.MetadataValue.md(markdown_table(rows, COLUMNS)),
    }
    for name, scores in baselines.items():
        metadata[f"{name}_hit_rate_at_10"] = dg.MetadataValue.float(scores.hit_rate)
        # Paired on the same queries: answers minus the baseline, with the interval of that difference.
        metadata[f"answers_minus_{name}"] = dg.MetadataValue.float(answers.hit_rate - scores.hit_rate)
        metadata[f"answers_minus_{name}_interval"] = Q.interval_text(
            Q.user_interval(data, answers.hits - scores.hits, split.seed)
        )
    context.log.info("answer evaluation:\n" + metadata["quality"].value)
    return dg.MaterializeResult(metadata=metadata)


class TuningConfig(dg.Config):
    ranks: list[int] = Field(default=[32, 64], description="ALS ranks to try")
    reg_params: list[float] = Field(default=[0.1], description="regularization values to try")
    alphas: list[float] = Field(default=[0.3, 1.0], description="implicit confidence scales to try")
    max_iters: list[int] = Field(default=[10], description="iteration counts to try")
    length_weights: list[float] = Field(
        default=[0.0, 1.0], description="answer-rule length weights (0..1) to score each model with: no refit"
    )
    parallelism: int = Field(
        default=max(1, (os.cpu_count() or 2) // 4), ge=1, description="models fitted at once (Spark's fitMultiple)"
    )


@dg.asset(**ML)
def similarity_tuning(
    context: dg.AssetExecutionContext,
    config: TuningConfig,
    ratings_silver: DataFrame,
    als_models: AlsModels,
    pyspark: DeltaSparkResource,
    lakehouse: Lakehouse,
) -> dg.MaterializeResult:
    """A grid (ParamGridBuilder) of implicit ALS settings, each model scored by the answer evaluation under each
    length weight of the answer rule; changes no default."""
    outside = [w for w in config.length_weights if not 0 <= w <= 1]
    if outside or not config.length_weights:
        raise dg.Failure(f"length_weights {config.length_weights} must be one or more values within 0..1: fix them.")
    prepare(pyspark, lakehouse)
    spark, base = pyspark.spark_session, als_models.implicit
    data = Q.split(ratings_silver, als_models.split)
    train = data.train.persist()
    params = base.params()
    estimator = als.estimator(params, pyspark.spark_context.defaultParallelism)
    grid = (
        ParamGridBuilder()
        .addGrid(estimator.rank, config.ranks)
        .addGrid(estimator.regParam, config.reg_params)
        .addGrid(estimator.alpha, config.alphas)
        .addGrid(estimator.maxIter, config.max_iters)
        .build()
    )
    # fitMultiple is thread-safe: TrainValidationSplit consumes it the same way.
    fitted = estimator.fitMultiple(als.training_rows(train, params), grid)

    def fit_and_score(_: int) -> list[dict[str, Any]]:
        i, model = next(fitted)
        factors = collect_factors(als.item_factors(model, train))
        point, scored = {p.name: v for p, v in grid[i].items()}, []
        for weight in config.length_weights:
            index = index_from_arrow(factors, replace(base.rule(), length_weight=weight))
            scores = Q.score(spark, data, Q.factors_ranker(index)).summary()
            context.log.info(f"{point}, length_weight {weight}: hit rate@10 {scores['hit_rate']:.4f}")
            scored.append(
                {**point, LENGTH_WEIGHT: weight, "hit_rate@10": scores["hit_rate"], "ndcg@10": scores["ndcg"]}
            )
        return scored

    with (
        spark_progress(context.log, pyspark.started_context, f"tuning {len(grid)} ALS settings"),
        ThreadPool(config.parallelism) as pool,
    ):
        rows = [row for scored in pool.imap_unordered(fit_and_score, range(len(grid))) for row in scored]
    train.unpersist()
    rows.sort(key=lambda r: (-r["hit_rate@10"], -r["ndcg@10"], *(r[c] for c in GRID_COLUMNS)))  # ties: grid order
    best = rows[0]
    return dg.MaterializeResult(
        metadata={
            "best_hit_rate_at_10": dg.MetadataValue.float(best["hit_rate@10"]),
            "best": dg.MetadataValue.json(best),
            "current_defaults": dg.MetadataValue.json(base.model_dump()),
            "grid": dg.MetadataValue.md(markdown_table(rows, [*GRID_COLUMNS, "hit_rate@10", "ndcg@10"])),
        }
    )
