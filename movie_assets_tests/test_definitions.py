"""The assembled Definitions: every asset of design.md, its lineage and groups."""

import dagster as dg

from movie_assets.definitions import defs
from movie_assets.tables import keys as K
from movie_assets.tables import schemas as S

DESIGN_LINEAGE = {
    K.RATINGS_CSV: set(),
    K.MOVIES_CSV: set(),
    K.RATINGS_BRONZE: {K.RATINGS_CSV},
    K.RATINGS_QUARANTINE: {K.RATINGS_CSV},
    K.MOVIES_BRONZE: {K.MOVIES_CSV},
    K.MOVIES_QUARANTINE: {K.MOVIES_CSV},
    K.RATINGS_SILVER: {K.RATINGS_BRONZE},
    K.USER_MEAN_COUNT_SILVER: {K.RATINGS_SILVER},
    K.MOVIE_MEAN_COUNT_SILVER: {K.RATINGS_SILVER},
    K.USER_MOVIE_TITLE_RATING: {K.RATINGS_SILVER, K.MOVIES_BRONZE},
    K.ALS_EVALUATION: {K.RATINGS_SILVER},
    K.SIMILARITY_EVALUATION: {K.RATINGS_SILVER, K.ALS_ITEM_FACTORS},  # it scores the factors that answer
    K.SIMILARITY_TUNING: {K.RATINGS_SILVER},
    K.ALS_ITEM_FACTORS: {K.RATINGS_SILVER},
    K.MOVIE_NEIGHBORS: {K.ALS_ITEM_FACTORS},
    K.SIMILAR_MOVIES: {K.ALS_ITEM_FACTORS, K.MOVIE_NEIGHBORS, K.MOVIES_BRONZE, K.MOVIE_MEAN_COUNT_SILVER},
}


def test_lineage_is_the_design() -> None:
    graph = defs().resolve_asset_graph()
    found = {
        key.to_user_string(): {p.to_user_string() for p in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert found == DESIGN_LINEAGE


def test_groups() -> None:
    graph = defs().resolve_asset_graph()
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups[K.RATINGS_BRONZE] == groups[K.MOVIES_BRONZE] == "bronze"
    assert groups[K.RATINGS_SILVER] == groups[K.USER_MEAN_COUNT_SILVER] == groups[K.USER_MOVIE_TITLE_RATING] == "silver"
    assert groups[K.RATINGS_CSV] == "landing"


def test_in_process_executor_shares_one_session() -> None:
    assert defs().resolve_implicit_global_asset_job_def().executor_def.name == "in_process"


def test_materialize_all_needs_no_config() -> None:
    job = defs().resolve_implicit_global_asset_job_def()
    assert job.run_config_schema.config_type.fields["ops"].is_required is False


def test_every_table_shows_its_declared_schema_before_any_run() -> None:
    """Each table's columns, declared once in schemas.TABLES, are the asset's definition metadata."""
    graph = defs().resolve_asset_graph()
    for table in S.TABLES:
        shown = graph.get(dg.AssetKey(table)).metadata["dagster/column_schema"]
        assert [(c.name, c.type) for c in shown.columns] == [
            (f.name, S.type_name(f.type)) for f in S.arrow_schema(table)
        ], table
    assert [c.type for c in S.column_schema(K.RATINGS_BRONZE)["dagster/column_schema"].columns] == [
        "int32", "int32", "double", "int32", "string", "timestamp[us, tz=UTC]"
    ]  # fmt: skip
