"""The movie picker's search and stored answers, on hand-made movies and tables read back with delta-rs."""

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from movie_assets.app.picker import Catalog, Movie, Store, fold, launch
from movie_assets.lake.delta_tables import write_table
from movie_assets.lake.frames import local_frame
from movie_assets.tables import schemas as S

MOVIES = [
    Movie(1, "Toy Story (1995)", "Animation"),
    Movie(3114, "Toy Story 2 (1999)", "Animation"),
    Movie(4973, "Amélie (Fabuleux destin d'Amélie Poulain, Le) (2001)", "Comedy|Romance"),
    Movie(5, "The Story of Toys (2003)", "Documentary"),
    Movie(6, "ÆON FLUX (2005)", "Action"),
]


def test_fold_drops_case_and_accents() -> None:
    assert fold("Amélie") == "amelie"
    assert fold("ÇA VA, Crème Brûlée") == "ca va, creme brulee"


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("toy story", [1, 3114, 5]),  # every word somewhere in the title; titles starting with the query first
        ("TOY sto", [1, 3114, 5]),
        ("amelie", [4973]),
        ("AMÉLIE poulain", [4973]),
        ("story 2", [5, 3114]),  # parts of words: "2" is in "2003" too; alphabetical when none starts with it
        ("æon", [6]),
        ("matrix", []),
        ("   ", []),
    ],
)
def test_search(query: str, ids: list[int]) -> None:
    assert [m.movie_id for m in Catalog(MOVIES).search(query)] == ids


def answer_rows(movie_id: int, similar: list[tuple[int, float]]) -> list[dict]:
    titles = {m.movie_id: m for m in MOVIES}
    return [
        {
            S.QUERY_MOVIE_ID: movie_id,
            S.RANK: rank,
            S.SIMILAR_MOVIE_ID: other,
            S.TITLE: titles[other].title,
            S.GENRES: titles[other].genres,
            S.SIMILARITY: sim,
        }
        for rank, (other, sim) in enumerate(similar, start=1)
    ]


def test_answers_from_neighbors_when_fresh_else_from_similar_movies(spark: SparkSession, tmp_path: Path) -> None:
    store, catalog = Store(str(tmp_path)), Catalog(MOVIES)
    path = store.lakehouse.table_path
    movies = [{S.MOVIE_ID: m.movie_id, S.TITLE: m.title, S.GENRES: m.genres} for m in MOVIES]
    write_table(local_frame(spark, movies, S.MOVIES_CSV_SCHEMA), path("movies_bronze"))
    assert store.answer(1, 2, catalog) is None  # nothing stored yet

    write_table(
        local_frame(spark, answer_rows(1, [(3114, 0.9), (5, 0.5)]), S.SIMILAR_MOVIES_SCHEMA), path("similar_movies")
    )
    factors = [{S.MOVIE_ID: m.movie_id, S.FEATURES: [1.0, 0.0]} for m in MOVIES]
    write_table(local_frame(spark, factors, S.ITEM_FACTORS_SCHEMA), path("als_item_factors"))
    stored = store.answer(1, 2, catalog)
    assert stored.source == "similar_movies"
    assert [(r[S.RANK], r[S.SIMILAR_MOVIE_ID], r[S.TITLE]) for r in stored.rows] == [
        (1, 3114, "Toy Story 2 (1999)"),
        (2, 5, "The Story of Toys (2003)"),
    ]
    assert store.answer(1, 3, catalog) is None  # fewer rows stored than asked for

    neighbors = [
        {c: r[c] for c in S.MOVIE_NEIGHBORS_SCHEMA.names} for r in answer_rows(1, [(3114, 0.9), (5, 0.5), (6, 0.1)])
    ]
    stamp = {
        "als_item_factors_version": 0,
        "min_ratings": 1,
        "length_weight": 0.0,
        "k": 3,
    }  # ranked from the factors' version 0
    write_table(local_frame(spark, neighbors, S.MOVIE_NEIGHBORS_SCHEMA), path("movie_neighbors"), user_metadata=stamp)
    looked_up = store.answer(1, 3, catalog)
    assert looked_up.source == "movie_neighbors"
    assert [(r[S.SIMILAR_MOVIE_ID], r[S.TITLE], r[S.GENRES]) for r in looked_up.rows][2] == (
        6,
        "ÆON FLUX (2005)",
        "Action",
    )

    write_table(local_frame(spark, factors, S.ITEM_FACTORS_SCHEMA), path("als_item_factors"))  # newer factors
    assert store.answer(1, 3, catalog) is None  # the neighbours are stale now
    assert store.answer(1, 2, catalog).source == "similar_movies"


def test_launch_without_a_server_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match=r"could not launch similar_movies_job at http://127.0.0.1:9 .*make dev"):
        launch("http://127.0.0.1:9", 1, 10)
