"""Checks on the ML tables: factors without NaN, one row per rated movie (blocking: bad factors never answer)."""

import dagster as dg
from deltalake import DeltaTable

from movie_assets.tables import keys, quality


@dg.asset_check(asset=keys.ALS_ITEM_FACTORS, blocking=True, additional_ins={"ratings": dg.AssetIn(keys.RATINGS_SILVER)})
def als_item_factors_valid(als_item_factors: DeltaTable, ratings: DeltaTable) -> dg.AssetCheckResult:
    """No NaN in the factors, and exactly one row per rated movie."""
    found = quality.factor_violations(als_item_factors, ratings)
    passed = found["rows_with_nan"] == 0 and found["rows"] == found["distinct_movies"] == found["rated_movies"]
    return dg.AssetCheckResult(passed=passed, metadata=found)
