"""Machine learning: ALS item factors, their held-out quality, and the movies most similar to a chosen one."""

import time

import dagster as dg
from pydantic import Field, field_validator
from pyspark.sql import DataFrame

from movie_assets import als
from movie_assets import schemas as S
from movie_assets.automation import REFRESH
from movie_assets.delta_tables import MissingTableError, markdown_table, read_table, table_version
from movie_assets.neighbors import SimilarMoviesError, load_index, neighbors_frame, similar_movies_for
from movie_assets.progress import spark_progress
from movie_assets.ratings import current_ratings
from movie_assets.resources.delta_io_manager import PREVIEW_ROWS_KEY
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import DeltaSparkResource

ML = {"group_name": "ml", "kinds": {"spark", "delta"}}


class AlsConfig(dg.Config):
    """Spark ML ALS settings; the defaults are the original notebook's."""

    rank: int = Field(default=10, description="latent factors per user and movie (1..1000)")
    max_iter: int = Field(default=10, description="alternating iterations (1..1000)")
    reg_param: float = Field(default=0.1, description="L2 regularization (>= 0)")
    seed: int = Field(default=42, description="random seed: the same seed gives the same factors")
    implicit_prefs: bool = False
    alpha: float = Field(default=1.0, description="confidence scale for implicit preferences (>= 0)")
    nonnegative: bool = False
    blocks: int = Field(default=0, description="ALS user and item blocks (0: 2 per core locally, else the parallelism)")

    @field_validator("rank", "max_iter")
    @classmethod
    def _positive(cls, value: int, info: object) -> int:
        if not 1 <= value <= 1000:
            raise ValueError(f"{info.field_name}={value} is out of range: use 1..1000")
        return value

    @field_validator("blocks")
    @classmethod
    def _blocks(cls, value: int) -> int:
        if not 0 <= value <= 10_000:
            raise ValueError(f"blocks={value} is out of range: use 0 (automatic) or 1..10000")
        return value

    @field_validator("reg_param", "alpha")
    @classmethod
    def _non_negative(cls, value: float, info: object) -> float:
        if not value >= 0:  # also rejects NaN
            raise ValueError(f"{info.field_name}={value} must be >= 0")
        return value

    def params(self) -> als.AlsParams:
        return als.AlsParams(**self.model_dump())


def training_ratings(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> DataFrame:
    """The current ratings, read in the asset body so that config is validated before any Spark work.

    Also sets the checkpoint directory, so that many ALS iterations do not overflow the stack.
    """
    ratings = current_ratings(pyspark, lakehouse)
    pyspark.spark_context.setCheckpointDir(lakehouse.checkpoint_dir)
    return ratings


@dg.asset(**ML, deps=["ratings_bronze"], automation_condition=REFRESH, metadata={PREVIEW_ROWS_KEY: 5})
def als_item_factors(
    context: dg.AssetExecutionContext, config: AlsConfig, lakehouse: Lakehouse, pyspark: DeltaSparkResource
) -> DataFrame:
    """ALS item factors (movieId, features) fitted on the current ratings (latest per user and movie)."""
    ratings = training_ratings(pyspark, lakehouse)
    params = config.params()
    started = time.perf_counter()
    with spark_progress(
        context.log, pyspark.spark_context, f"ALS fit, rank {params.rank}, {params.max_iter} iterations"
    ):
        model = als.fit(ratings, params)
    fit_seconds = time.perf_counter() - started
    model.write().overwrite().save(lakehouse.model_path("als"))
    context.add_output_metadata(
        {
            "training_rows": ratings.count(),
            "users": model.userFactors.count(),
            "movies": model.itemFactors.count(),
            "fit_seconds": round(fit_seconds, 2),
            "model_uri": dg.MetadataValue.path(lakehouse.model_path("als")),
            "parameters": dg.MetadataValue.json(params.__dict__),
        }
    )
    return als.item_factors(model)


@dg.asset(**ML, deps=["ratings_bronze"])
def als_evaluation(
    context: dg.AssetExecutionContext, config: AlsConfig, pyspark: DeltaSparkResource, lakehouse: Lakehouse
) -> dg.MaterializeResult:
    """RMSE and MAE of the ALS configuration on a seeded 80/20 split of the bronze ratings."""
    ratings = training_ratings(pyspark, lakehouse)
    with spark_progress(context.log, pyspark.spark_context, "ALS fit and scoring on the 80/20 split"):
        result = als.evaluate(ratings, config.params())
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
            "parameters": dg.MetadataValue.json(config.params().__dict__),
            "quality": dg.MetadataValue.md(markdown_table(rows, ["metric", "value"])),
        }
    )


def _valid_k(value: int) -> int:
    if not 1 <= value <= 1000:
        raise ValueError(f"k {value} is out of range: choose 1..1000")
    return value


class SimilarMoviesConfig(dg.Config):
    """Which movie to find neighbours for, and how many."""

    movie_id: int = Field(description="a movieId from movies.csv (> 0)")
    k: int = Field(default=10, description="how many similar movies (1..1000)")

    @field_validator("movie_id")
    @classmethod
    def _movie_id(cls, value: int) -> int:
        if value <= 0:
            raise ValueError(f"movie_id {value} is not a positive integer: pick a movieId from movies.csv")
        return value

    @field_validator("k")
    @classmethod
    def _k(cls, value: int) -> int:
        return _valid_k(value)


@dg.asset(**ML, deps=["als_item_factors", "movies_bronze"])
def similar_movies(
    context: dg.AssetExecutionContext, config: SimilarMoviesConfig, pyspark: DeltaSparkResource, lakehouse: Lakehouse
) -> dg.MaterializeResult:
    """The k movies most like `movie_id` by cosine similarity of ALS factors; one answer per movie id asked."""
    try:
        answer = similar_movies_for(pyspark.spark_session, lakehouse, config.movie_id, config.k)
    except SimilarMoviesError as err:
        raise dg.Failure(str(err)) from None
    columns = [S.RANK, S.SIMILAR_MOVIE_ID, S.TITLE, S.GENRES, S.SIMILARITY]
    table = markdown_table(answer.rows, columns)
    context.log.info(f"movies most like {config.movie_id} ({answer.title}):\n{table}")
    return dg.MaterializeResult(
        metadata={
            **answer.table_metadata,
            "movie_id": config.movie_id,
            "movie_title": answer.title,
            "k": config.k,
            "export_uri": dg.MetadataValue.path(answer.export_path),
            "similar_movies": dg.MetadataValue.md(table),
        }
    )


class MovieNeighborsConfig(dg.Config):
    """How many neighbours to store for every movie."""

    k: int = Field(default=50, description="neighbours per movie (1..1000)")

    @field_validator("k")
    @classmethod
    def _k(cls, value: int) -> int:
        return _valid_k(value)


@dg.asset(**ML, deps=["als_item_factors"], automation_condition=REFRESH, metadata={PREVIEW_ROWS_KEY: 10})
def movie_neighbors(
    context: dg.AssetExecutionContext, config: MovieNeighborsConfig, pyspark: DeltaSparkResource, lakehouse: Lakehouse
) -> DataFrame:
    """The k nearest neighbours of every movie by cosine similarity of the factors, so an answer is a lookup."""
    spark = pyspark.spark_session
    factors_path = lakehouse.table_path("als_item_factors")
    try:
        index = load_index(read_table(spark, factors_path, "als_item_factors"))
    except MissingTableError as err:
        raise dg.Failure(str(err)) from None
    started = time.perf_counter()
    neighbors = neighbors_frame(spark, index, config.k)
    seconds = time.perf_counter() - started
    context.log.info(f"top-{config.k} neighbours of {len(index.ids):,} movies computed in {seconds:.1f} s")
    context.add_output_metadata(
        {
            "k": config.k,
            "movies": len(index.ids),
            "compute_seconds": round(seconds, 2),
            "factors_version": table_version(spark, factors_path),
        }
    )
    return neighbors


similar_movies_job = dg.define_asset_job(
    "similar_movies_job",
    selection=[similar_movies],
    description="Answer one question: the movies most like `movie_id` (factors must already exist).",
)
