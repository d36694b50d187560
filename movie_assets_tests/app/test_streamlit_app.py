"""The movie picker app, run by Streamlit's AppTest on ml-latest-small: its answer is the similar_movies table's."""

import importlib.util
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession
from streamlit.testing.v1 import AppTest

from movie_assets.definitions import build_resources
from movie_assets_tests.conftest import TEST_SPARK
from movie_assets_tests.graph import ASSETS
from movie_assets_tests.ml_small import table

pytestmark = pytest.mark.e2e
APP = importlib.util.find_spec("movie_assets.app.streamlit_app").origin  # the script, not imported


def open_app(query: str, k: int) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    app.run()
    app.text_input(key="query").input(query).run()
    if app.selectbox:
        app.slider(key="k").set_value(k).run()
    return app


def test_toy_story_answer_equals_the_similar_movies_table(
    ml_small_run: tuple[dg.ExecuteInProcessResult, Path], spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = ml_small_run[1]
    config = {"ops": {"similar_movies": {"config": {"movie_id": 1, "k": 10}}}}
    resources = build_resources(str(root), **TEST_SPARK)
    assert dg.materialize(ASSETS, resources=resources, selection=["similar_movies"], run_config=config).success
    monkeypatch.setenv("MOVIE_ASSETS_DATA_DIR", str(root))

    app = open_app("toy story", 10)
    assert not app.exception
    assert app.selectbox(key="movie").options[:3] == [
        "Toy Story (1995) — Adventure|Animation|Children|Comedy|Fantasy",
        "Toy Story 2 (1999) — Adventure|Animation|Children|Comedy|Fantasy",
        "Toy Story 3 (2010) — Adventure|Animation|Children|Comedy|Fantasy|IMAX",
    ]
    shown = app.dataframe[0].value
    want = table(spark, root, "similar_movies").where("movie_id = 1").orderBy("rank").collect()
    assert shown["similar_movie_id"].tolist() == [r.similar_movie_id for r in want]
    assert shown["title"].tolist() == [r.title for r in want]
    assert shown["genres"].tolist() == [r.genres for r in want]
    assert shown["similarity"].tolist() == pytest.approx([r.similarity for r in want], abs=1e-12)
    assert "movie_neighbors" in app.caption[-1].value  # a lookup, not a recomputation


def test_accents_and_missing_answers(
    ml_small_run: tuple[dg.ExecuteInProcessResult, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOVIE_ASSETS_DATA_DIR", str(ml_small_run[1]))
    monkeypatch.setenv("MOVIE_ASSETS_DAGSTER_URL", "http://127.0.0.1:9")  # nothing listens there
    app = open_app("amelie", 80)  # more than movie_neighbors keeps, and never asked before
    assert app.selectbox(key="movie").value.movie_id == 4973
    assert not app.dataframe
    assert "No stored answer for Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001) with k=80" in app.info[0].value
    app.button(key="launch").click().run()
    assert "could not launch similar_movies_job at http://127.0.0.1:9" in app.error[0].value

    assert "No title contains every word" in open_app("no such film", 10).warning[0].value
