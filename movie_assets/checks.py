"""Asset checks on every table, with counts in their metadata. Checks on bronze block ALS when they fail.

Every check reads its tables through the IO manager, the checked asset and any other as inputs, as delta-rs
tables: a check only counts, which `quality` does with DataFusion, without Spark.
"""

import dagster as dg
from deltalake import DeltaTable

from movie_assets import keys, quality
from movie_assets import schemas as S
from movie_assets.delta_rs import row_count
from movie_assets.delta_tables import markdown_table
from movie_assets.resources.thresholds import QualityThresholds

ANSWER_CHECK_COLUMNS = [S.QUERY_MOVIE_ID, S.RANK, S.SIMILAR_MOVIE_ID, S.SIMILARITY]


def _severity(share: float, limit: float) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if share > limit else dg.AssetCheckSeverity.WARN


def _reasons_table(reasons: dict[str, int]) -> dg.MetadataValue:
    rows = [{"reason": r, "lines": n} for r, n in list(reasons.items())[:20]]
    return dg.MetadataValue.md(markdown_table(rows, ["reason", "lines"]))


def _expectations(bronze: DeltaTable, quarantine: DeltaTable, limit: float) -> dg.AssetCheckResult:
    """Like an expectation that drops rows: passes while the share of quarantined lines stays within `limit`."""
    kept = row_count(bronze)
    reasons = quality.reason_counts(quarantine)
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


@dg.asset_check(asset=keys.RATINGS_QUARANTINE)
def ratings_quarantine_empty(ratings_quarantine: DeltaTable) -> dg.AssetCheckResult:
    """A warning, with counts by reason, whenever any ratings line was quarantined."""
    return _quarantine_empty(ratings_quarantine)


@dg.asset_check(asset=keys.MOVIES_QUARANTINE)
def movies_quarantine_empty(movies_quarantine: DeltaTable) -> dg.AssetCheckResult:
    """A warning, with counts by reason, whenever any movies line was quarantined."""
    return _quarantine_empty(movies_quarantine)


def _quarantine_empty(quarantine: DeltaTable) -> dg.AssetCheckResult:
    reasons = quality.reason_counts(quarantine)
    files = quality.files_with_reasons(quarantine)
    return dg.AssetCheckResult(
        passed=not reasons,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"quarantined lines in {', '.join(files)}" if files else None,
        metadata={"quarantined": sum(reasons.values()), "reasons": _reasons_table(reasons)},
    )


@dg.asset_check(
    asset=keys.RATINGS_BRONZE, blocking=True, additional_ins={"quarantine": dg.AssetIn(keys.RATINGS_QUARANTINE)}
)
def ratings_expectations(
    ratings_bronze: DeltaTable, quarantine: DeltaTable, thresholds: QualityThresholds
) -> dg.AssetCheckResult:
    """Ratings lines meet the expectations (ids > 0, half-star rating 0.5-5.0, timestamp >= 0, 4 fields)."""
    return _expectations(ratings_bronze, quarantine, thresholds.max_quarantined_share)


@dg.asset_check(
    asset=keys.MOVIES_BRONZE, blocking=True, additional_ins={"quarantine": dg.AssetIn(keys.MOVIES_QUARANTINE)}
)
def movies_expectations(
    movies_bronze: DeltaTable, quarantine: DeltaTable, thresholds: QualityThresholds
) -> dg.AssetCheckResult:
    """Movies lines meet the expectations (movieId > 0, title present, 3 fields)."""
    return _expectations(movies_bronze, quarantine, thresholds.max_quarantined_share)


@dg.asset_check(asset=keys.MOVIES_BRONZE, blocking=True)
def movies_unique(movies_bronze: DeltaTable) -> dg.AssetCheckResult:
    """Each movieId appears once in movies_bronze."""
    duplicates = quality.duplicate_keys(movies_bronze, S.MOVIE_ID)
    return dg.AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_movie_ids": duplicates})


@dg.asset_check(asset=keys.RATINGS_BRONZE, additional_ins={"movies": dg.AssetIn(keys.MOVIES_BRONZE)})
def ratings_movies_known(
    ratings_bronze: DeltaTable, movies: DeltaTable | None, thresholds: QualityThresholds
) -> dg.AssetCheckResult:
    """Every rated movieId has a row in movies_bronze (a warning with the count)."""
    if movies is None:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description="not checked: movies_bronze is not materialized yet",
        )
    rows, movie_ids = quality.unknown_movies(ratings_bronze, movies)
    share = rows / max(row_count(ratings_bronze), 1)
    return dg.AssetCheckResult(
        passed=rows == 0,
        severity=_severity(share, thresholds.max_unknown_movie_share),
        metadata={
            "ratings_with_unknown_movie": rows,
            "unknown_movie_ids": movie_ids,
            "share": dg.MetadataValue.float(share),
        },
    )


def _mean_count_valid(table: DeltaTable) -> dg.AssetCheckResult:
    found = quality.mean_count_violations(table)
    return dg.AssetCheckResult(
        passed=found["mean_out_of_range"] == 0 and found["count_not_positive"] == 0, metadata=found
    )


@dg.asset_check(asset=keys.USER_MEAN_COUNT_SILVER)
def user_mean_count_silver_valid(user_mean_count_silver: DeltaTable) -> dg.AssetCheckResult:
    """Means within [0.5, 5.0] and counts > 0."""
    return _mean_count_valid(user_mean_count_silver)


@dg.asset_check(asset=keys.MOVIE_MEAN_COUNT_SILVER)
def movie_mean_count_silver_valid(movie_mean_count_silver: DeltaTable) -> dg.AssetCheckResult:
    """Means within [0.5, 5.0] and counts > 0."""
    return _mean_count_valid(movie_mean_count_silver)


@dg.asset_check(asset=keys.RATINGS_SILVER, blocking=True)
def ratings_silver_unique(ratings_silver: DeltaTable) -> dg.AssetCheckResult:
    """One current rating per (userId, movieId), over every row."""
    found = quality.duplicate_pairs(ratings_silver)
    return dg.AssetCheckResult(passed=found["duplicate_pairs"] == 0, metadata=found)


@dg.asset_check(asset=keys.USER_MOVIE_TITLE_RATING, additional_ins={"ratings": dg.AssetIn(keys.RATINGS_SILVER)})
def user_movie_title_rating_complete(user_movie_title_rating: DeltaTable, ratings: DeltaTable) -> dg.AssetCheckResult:
    """The left join keeps every current rating: as many rows as ratings_silver."""
    rows, current = row_count(user_movie_title_rating), row_count(ratings)
    return dg.AssetCheckResult(passed=rows == current, metadata={"rows": rows, "ratings_silver_rows": current})


@dg.asset_check(asset=keys.ALS_ITEM_FACTORS, blocking=True, additional_ins={"ratings": dg.AssetIn(keys.RATINGS_SILVER)})
def als_item_factors_valid(als_item_factors: DeltaTable, ratings: DeltaTable) -> dg.AssetCheckResult:
    """No NaN in the factors, and exactly one row per rated movie."""
    found = quality.factor_violations(als_item_factors, ratings)
    passed = found["rows_with_nan"] == 0 and found["rows"] == found["distinct_movies"] == found["rated_movies"]
    return dg.AssetCheckResult(passed=passed, metadata=found)


@dg.asset_check(asset=keys.SIMILAR_MOVIES)
def similar_movies_valid(similar_movies: DeltaTable | None) -> dg.AssetCheckResult:
    """Every stored answer ranks 1..n without gaps, never names its own movie, similarities within [-1, 1]."""
    if similar_movies is None:  # "Materialize all" with no movie_id and nothing stored yet: nothing to check
        return dg.AssetCheckResult(passed=True, description="no answers stored yet")
    found = quality.answer_violations(similar_movies.to_pyarrow_table(columns=ANSWER_CHECK_COLUMNS))
    passed = found["movie_ids_with_rank_gaps"] == found["similarity_out_of_range"] == found["self_answers"] == 0
    return dg.AssetCheckResult(passed=passed, metadata=found)


@dg.asset_check(asset=keys.MOVIE_NEIGHBORS, additional_ins={"factors": dg.AssetIn(keys.ALS_ITEM_FACTORS)})
def movie_neighbors_valid(movie_neighbors: DeltaTable, factors: DeltaTable) -> dg.AssetCheckResult:
    """Every movie with factors has its neighbours ranked 1..n, never itself, similarities within [-1, 1]."""
    found = quality.answer_violations(movie_neighbors.to_pyarrow_table(columns=ANSWER_CHECK_COLUMNS))
    found["movies_with_factors"] = factors.to_pyarrow_dataset().count_rows()
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
    ratings_silver_unique,
    user_mean_count_silver_valid,
    movie_mean_count_silver_valid,
    user_movie_title_rating_complete,
    als_item_factors_valid,
    movie_neighbors_valid,
    similar_movies_valid,
]
