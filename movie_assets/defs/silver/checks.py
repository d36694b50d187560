"""Checks on silver: valid aggregates, one current rating per pair (blocking), a complete title join."""

import dagster as dg
from deltalake import DeltaTable

from movie_assets.lake.delta_rs import row_count
from movie_assets.tables import keys, quality


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
