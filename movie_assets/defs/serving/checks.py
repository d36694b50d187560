"""Checks on the answers: ranks without gaps, never the movie asked about, similarities within [-1, 1]."""

import dagster as dg
from deltalake import DeltaTable

from movie_assets.tables import keys, quality
from movie_assets.tables import schemas as S

ANSWER_CHECK_COLUMNS = [S.QUERY_MOVIE_ID, S.RANK, S.SIMILAR_MOVIE_ID, S.SIMILARITY]


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
