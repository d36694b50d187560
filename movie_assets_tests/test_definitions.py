"""The assembled Definitions: every asset of design.md, its lineage and groups."""

import dagster as dg

from movie_assets.definitions import defs


def upstream(key: str) -> set[str]:
    graph = defs.resolve_asset_graph()
    return {k.to_user_string() for k in graph.get(dg.AssetKey(key)).parent_keys}


def test_lineage_csv_to_bronze_to_silver() -> None:
    assert upstream("ratings_bronze") == {"ratings_csv"}
    assert upstream("movies_bronze") == {"movies_csv"}
    assert upstream("user_mean_count_silver") == {"ratings_bronze"}
    assert upstream("movie_mean_count_silver") == {"ratings_bronze"}
    assert upstream("user_movie_title_rating") == {"ratings_bronze", "movies_bronze"}


def test_groups() -> None:
    graph = defs.resolve_asset_graph()
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups["ratings_bronze"] == groups["movies_bronze"] == "bronze"
    assert groups["user_mean_count_silver"] == groups["user_movie_title_rating"] == "silver"
    assert groups["ratings_csv"] == "landing"


def test_in_process_executor_shares_one_session() -> None:
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "in_process"
