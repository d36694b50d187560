"""Asset checks on every table, with counts in their metadata. Checks on bronze block ALS when they fail."""

import dagster as dg
from pyspark.sql import DataFrame

from movie_assets import quality
from movie_assets import schemas as S
from movie_assets.delta_tables import markdown_table, table_exists
from movie_assets.ratings import current_ratings
from movie_assets.resources.lakehouse import Lakehouse
from movie_assets.resources.spark import DeltaSparkResource
from movie_assets.resources.thresholds import QualityThresholds


def _table(pyspark: DeltaSparkResource, lakehouse: Lakehouse, name: str) -> DataFrame:
    return pyspark.spark_session.read.format("delta").load(lakehouse.table_path(name))


def _missing(pyspark: DeltaSparkResource, lakehouse: Lakehouse, name: str) -> dg.AssetCheckResult | None:
    """A warning, instead of a crash, when a table the check compares against is not materialized yet."""
    if table_exists(pyspark.spark_session, lakehouse.table_path(name)):
        return None
    return dg.AssetCheckResult(
        passed=False, severity=dg.AssetCheckSeverity.WARN, description=f"not checked: {name} is not materialized yet"
    )


def _severity(share: float, limit: float) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if share > limit else dg.AssetCheckSeverity.WARN


def _reasons_table(reasons: dict[str, int]) -> dg.MetadataValue:
    return dg.MetadataValue.md(
        markdown_table([{"reason": r, "lines": n} for r, n in reasons.items()], ["reason", "lines"])
    )


def _expectations(source: str, pyspark: DeltaSparkResource, lakehouse: Lakehouse, limit: float) -> dg.AssetCheckResult:
    """Like an expectation that drops rows: passes while the share of quarantined lines stays within `limit`."""
    kept = _table(pyspark, lakehouse, f"{source}_bronze").count()
    reasons = quality.reason_counts(_table(pyspark, lakehouse, f"{source}_quarantine"))
    quarantined = sum(reasons.values())
    share = quarantined / max(kept + quarantined, 1)
    return dg.AssetCheckResult(
        passed=share <= limit,
        description=(
            f"{quarantined} of {kept + quarantined} data lines quarantined ({share:.2%}; fails above {limit:.2%})"
        ),
        metadata={
            "kept": kept,
            "quarantined": quarantined,
            "quarantined_share": dg.MetadataValue.float(share),
            "max_quarantined_share": dg.MetadataValue.float(limit),
            "reasons": _reasons_table(reasons),
        },
    )


def _quarantine_empty(source: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=f"{source}_quarantine", name=f"{source}_quarantine_empty")
    def _check(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> dg.AssetCheckResult:
        """A warning, with counts by reason, whenever any line was quarantined."""
        reasons = quality.reason_counts(_table(pyspark, lakehouse, f"{source}_quarantine"))
        return dg.AssetCheckResult(
            passed=not reasons,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"quarantined": sum(reasons.values()), "reasons": _reasons_table(reasons)},
        )

    return _check


ratings_quarantine_empty = _quarantine_empty("ratings")
movies_quarantine_empty = _quarantine_empty("movies")


@dg.asset_check(asset="ratings_bronze", blocking=True)
def ratings_expectations(
    pyspark: DeltaSparkResource, lakehouse: Lakehouse, thresholds: QualityThresholds
) -> dg.AssetCheckResult:
    """Ratings lines meet the expectations (ids > 0, half-star rating 0.5-5.0, timestamp >= 0, 4 fields)."""
    return _expectations("ratings", pyspark, lakehouse, thresholds.max_quarantined_share)


@dg.asset_check(asset="movies_bronze", blocking=True)
def movies_expectations(
    pyspark: DeltaSparkResource, lakehouse: Lakehouse, thresholds: QualityThresholds
) -> dg.AssetCheckResult:
    """Movies lines meet the expectations (movieId > 0, title present, 3 fields)."""
    return _expectations("movies", pyspark, lakehouse, thresholds.max_quarantined_share)


@dg.asset_check(asset="movies_bronze", blocking=True)
def movies_unique(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Each movieId appears once in movies_bronze."""
    duplicates = quality.duplicate_keys(_table(pyspark, lakehouse, "movies_bronze"), S.MOVIE_ID)
    return dg.AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_movie_ids": duplicates})


@dg.asset_check(asset="ratings_bronze", additional_deps=["movies_bronze"])
def ratings_movies_known(
    pyspark: DeltaSparkResource, lakehouse: Lakehouse, thresholds: QualityThresholds
) -> dg.AssetCheckResult:
    """Every rated movieId has a row in movies_bronze (a warning with the count)."""
    if missing := _missing(pyspark, lakehouse, "movies_bronze"):
        return missing
    ratings = _table(pyspark, lakehouse, "ratings_bronze")
    rows, movies = quality.unknown_movies(ratings, _table(pyspark, lakehouse, "movies_bronze"))
    share = rows / max(ratings.count(), 1)
    return dg.AssetCheckResult(
        passed=rows == 0,
        severity=_severity(share, thresholds.max_unknown_movie_share),
        metadata={
            "ratings_with_unknown_movie": rows,
            "unknown_movie_ids": movies,
            "share": dg.MetadataValue.float(share),
        },
    )


def _mean_count_check(name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=name, name=f"{name}_valid")
    def _check(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> dg.AssetCheckResult:
        """Means within [0.5, 5.0] and counts > 0."""
        found = quality.mean_count_violations(_table(pyspark, lakehouse, name))
        return dg.AssetCheckResult(
            passed=found["mean_out_of_range"] == 0 and found["count_not_positive"] == 0, metadata=found
        )

    return _check


user_mean_count_valid = _mean_count_check("user_mean_count_silver")
movie_mean_count_valid = _mean_count_check("movie_mean_count_silver")


@dg.asset_check(asset="user_movie_title_rating", additional_deps=["ratings_bronze"])
def user_movie_title_rating_complete(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """The left join keeps every rating: as many rows as ratings_bronze."""
    rows = _table(pyspark, lakehouse, "user_movie_title_rating").count()
    ratings = _table(pyspark, lakehouse, "ratings_bronze").count()
    return dg.AssetCheckResult(passed=rows == ratings, metadata={"rows": rows, "ratings_bronze_rows": ratings})


@dg.asset_check(asset="als_item_factors", additional_deps=["ratings_bronze"], blocking=True)
def als_item_factors_valid(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """No NaN in the factors, and exactly one row per rated movie."""
    found = quality.factor_violations(
        _table(pyspark, lakehouse, "als_item_factors"), current_ratings(pyspark, lakehouse)
    )
    passed = found["rows_with_nan"] == 0 and found["rows"] == found["distinct_movies"] == found["rated_movies"]
    return dg.AssetCheckResult(passed=passed, metadata=found)


@dg.asset_check(asset="similar_movies")
def similar_movies_valid(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Every stored answer ranks 1..n without gaps, never names its own movie, similarities within [-1, 1]."""
    found = quality.answer_violations(_table(pyspark, lakehouse, "similar_movies"))
    passed = found["movie_ids_with_rank_gaps"] == found["similarity_out_of_range"] == found["self_answers"] == 0
    return dg.AssetCheckResult(passed=passed, metadata=found)


@dg.asset_check(asset="movie_neighbors", additional_deps=["als_item_factors"])
def movie_neighbors_valid(pyspark: DeltaSparkResource, lakehouse: Lakehouse) -> dg.AssetCheckResult:
    """Every movie with factors has its neighbours ranked 1..n, never itself, similarities within [-1, 1]."""
    found = quality.answer_violations(_table(pyspark, lakehouse, "movie_neighbors"))
    found["movies_with_factors"] = _table(pyspark, lakehouse, "als_item_factors").count()
    passed = (
        found["movie_ids_with_rank_gaps"] == found["similarity_out_of_range"] == found["self_answers"] == 0
        and found["movie_ids"] == found["movies_with_factors"]
    )
    return dg.AssetCheckResult(passed=passed, metadata=found)


CHECKS = [
    ratings_expectations,
    movies_expectations,
    ratings_quarantine_empty,
    movies_quarantine_empty,
    movies_unique,
    ratings_movies_known,
    user_mean_count_valid,
    movie_mean_count_valid,
    user_movie_title_rating_complete,
    als_item_factors_valid,
    movie_neighbors_valid,
    similar_movies_valid,
]
