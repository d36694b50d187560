"""The real ml-latest-small through bronze and silver, against an independent computation in plain Python."""

import csv
import shutil
from collections import defaultdict
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from movie_assets.definitions import build_resources
from movie_assets.resources.als_models import AlsModels
from movie_assets.tables import schemas as S
from movie_assets_tests.conftest import TEST_SPARK
from movie_assets_tests.graph import ASSETS, CHECKS
from movie_assets_tests.ml_small import brute_force, table

pytestmark = pytest.mark.e2e


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def expected_mean_count(ratings: list[dict[str, str]], key: str) -> dict[int, tuple[float, int]]:
    groups: dict[int, list[float]] = defaultdict(list)
    for row in ratings:
        groups[int(row[key])].append(float(row["rating"]))
    return {k: (sum(v) / len(v), len(v)) for k, v in groups.items()}


@pytest.fixture
def run(ml_small_run: tuple[dg.ExecuteInProcessResult, Path]) -> dg.ExecuteInProcessResult:
    return ml_small_run[0]


@pytest.fixture
def lakehouse(ml_small_run: tuple[dg.ExecuteInProcessResult, Path]) -> Path:
    return ml_small_run[1]


def test_bronze_equals_the_csv(spark: SparkSession, lakehouse: Path, ml_small: Path) -> None:
    ratings = read_csv(ml_small / "ratings.csv")
    movies = read_csv(ml_small / "movies.csv")
    assert len(ratings) == 100_836 and len(movies) == 9_742
    got = sorted(tuple(r)[:4] for r in table(spark, lakehouse, "ratings_bronze").collect())
    want = sorted((int(r["userId"]), int(r["movieId"]), float(r["rating"]), int(r["timestamp"])) for r in ratings)
    assert got == want
    got_movies = sorted(tuple(r)[:3] for r in table(spark, lakehouse, "movies_bronze").collect())
    assert got_movies == sorted((int(m["movieId"]), m["title"], m["genres"]) for m in movies)
    assert table(spark, lakehouse, "ratings_quarantine").count() == 0
    assert table(spark, lakehouse, "movies_quarantine").count() == 0


@pytest.mark.parametrize(
    ("name", "key"), [("user_mean_count_silver", "userId"), ("movie_mean_count_silver", "movieId")]
)
def test_mean_count_silver(spark: SparkSession, lakehouse: Path, ml_small: Path, name: str, key: str) -> None:
    want = expected_mean_count(read_csv(ml_small / "ratings.csv"), key)
    rows = table(spark, lakehouse, name).collect()
    assert len(rows) == len(want)
    for row in rows:
        mean, count = want[row[key]]
        assert row["count"] == count
        assert abs(row["mean"] - mean) <= 1e-9


def test_user_movie_title_rating(spark: SparkSession, lakehouse: Path, ml_small: Path) -> None:
    titles = {int(m["movieId"]): m["title"] for m in read_csv(ml_small / "movies.csv")}
    want = sorted(
        (int(r["userId"]), int(r["movieId"]), titles.get(int(r["movieId"])), float(r["rating"]))
        for r in read_csv(ml_small / "ratings.csv")
    )
    got = sorted(tuple(r) for r in table(spark, lakehouse, "user_movie_title_rating").collect())
    assert len(got) == 100_836
    assert got == want


@pytest.mark.parametrize("movie_id", [1, 260])
def test_similar_movies_equal_brute_force(spark: SparkSession, lakehouse: Path, movie_id: int) -> None:
    resources = build_resources(str(lakehouse), **TEST_SPARK)
    config = {"ops": {"similar_movies": {"config": {"movie_id": movie_id, "k": 10}}}}
    assert dg.materialize(ASSETS, resources=resources, selection=["similar_movies"], run_config=config).success
    want = brute_force(spark, lakehouse, movie_id, 10, AlsModels().answer.rule())
    rows = sorted(
        table(spark, lakehouse, "similar_movies").where(f"movie_id = {movie_id}").collect(), key=lambda r: r["rank"]
    )
    assert [r.similar_movie_id for r in rows] == [m for m, _ in want]
    assert [r.similarity for r in rows] == pytest.approx([s for _, s in want], abs=1e-9)


@pytest.mark.parametrize("movie_id", [1, 260, 193609])
def test_movie_neighbors_equal_brute_force(spark: SparkSession, lakehouse: Path, movie_id: int) -> None:
    neighbors = table(spark, lakehouse, "movie_neighbors")
    assert neighbors.count() == 9_724 * 50
    rows = sorted(neighbors.where(f"movie_id = {movie_id}").collect(), key=lambda r: r["rank"])
    want = brute_force(spark, lakehouse, movie_id, 50, AlsModels().answer.rule())
    assert [r["rank"] for r in rows] == list(range(1, 51))
    assert [r.similar_movie_id for r in rows] == [m for m, _ in want]
    assert [r.similarity for r in rows] == pytest.approx([s for _, s in want], abs=1e-9)


def test_one_factor_row_per_rated_movie(spark: SparkSession, lakehouse: Path) -> None:
    rated = table(spark, lakehouse, "ratings_bronze").select("movieId").distinct().count()
    assert table(spark, lakehouse, "als_item_factors").count() == rated == 9_724


def test_default_answers_beat_both_baselines(run: dg.ExecuteInProcessResult) -> None:
    metadata = run.asset_materializations_for_node("similarity_evaluation")[0].metadata
    answers = metadata["hit_rate_at_10"].value
    assert answers > metadata["popularity_hit_rate_at_10"].value
    assert answers > metadata["item_knn_hit_rate_at_10"].value
    assert metadata["queries"].value == 3 * metadata["test_users"].value > 300
    lead = metadata["answers_minus_popularity"].value
    assert lead == pytest.approx(answers - metadata["popularity_hit_rate_at_10"].value)
    low, high = (float(x) for x in metadata["answers_minus_popularity_interval"].value.split(" .. "))
    assert low < lead < high  # users resampled: the lead's 95% interval
    assert "| method | hit_rate@10 | 95% interval |" in metadata["quality"].value


def test_no_default_answer_has_fewer_ratings_than_the_rule(spark: SparkSession, lakehouse: Path) -> None:
    rule = AlsModels().answer.min_ratings
    assert rule > 1
    counts = {r.movieId: r["count"] for r in table(spark, lakehouse, "als_item_factors").collect()}
    answers = table(spark, lakehouse, "movie_neighbors").select("similar_movie_id").distinct().collect()
    assert min(counts[r.similar_movie_id] for r in answers) >= rule
    assert min(counts.values()) == 1  # movies with one rating exist, and ask, but never answer


def test_als_quality_on_ml_small(run: dg.ExecuteInProcessResult) -> None:
    metadata = run.asset_materializations_for_node("als_evaluation")[0].metadata
    assert 0.8 < metadata["rmse"].value < 0.95  # Spark ALS with the original's settings: about 0.88
    assert metadata["mae"].value < metadata["rmse"].value


EXTRA_MOVIES = {
    900001: ("American President, The (1995)", "Comedy|Drama|Romance"),
    900002: ('Film ""Quoted"" (2000)', "Drama"),
    900003: ("Amélie (Le Fabuleux destin d'Amélie Poulain) (2001)", "Comedy|Romance"),
    900004: ("Crouching Tiger, Hidden Dragon (Wo hu cang long) (2000)", "Action|Drama"),
}
MALFORMED = [
    "1,2",
    "1,2,3.0,4,5",
    "x,1,4.0,5",
    "1,1,NaN,5",
    "1,1,7.5,5",
    "1,1,3.25,5",
    "0,1,3.0,5",
    "1,1,3.0,-5",
    "oops",
]


def test_dirty_extra_files_next_to_the_real_sample(
    spark: SparkSession, ml_small: Path, tmp_path: Path, resources: dict
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in ("ratings.csv", "movies.csv"):
        shutil.copy(ml_small / name, landing / name)
    good = [(611, 1, 4.5, 1700000000), (611, 260, 5.0, 1700000001), (612, 900001, 3.0, 1700000002)]
    lines = [f"{u},{m},{r},{t}" for u, m, r, t in good] + MALFORMED
    (landing / "ratings_extra.csv").write_text("userId,movieId,rating,timestamp\n" + "\n".join(lines) + "\n")
    movie_lines = [f'{m},"{t}",{g}' for m, (t, g) in EXTRA_MOVIES.items()]
    text = "\ufeffmovieId,title,genres\r\n" + "\r\n".join(movie_lines) + "\r\n\r\n"
    (landing / "movies_extra.csv").write_bytes(text.encode("utf-8"))

    result = dg.materialize([*ASSETS, *CHECKS], resources=resources, selection=["ratings_bronze", "movies_bronze"])
    bronze = table(spark, tmp_path, "ratings_bronze")
    extra = sorted(tuple(r)[:4] for r in bronze.where("source_file = 'ratings_extra.csv'").collect())
    assert extra == good and bronze.count() == 100_836 + len(good)
    quarantine = {r.raw_line: r.reason for r in table(spark, tmp_path, "ratings_quarantine").collect()}
    assert sorted(quarantine) == sorted(MALFORMED) and all(quarantine.values())
    titles = {r.movieId: r.title for r in table(spark, tmp_path, "movies_bronze").where("movieId > 900000").collect()}
    assert titles == {m: t.replace('""', '"') for m, (t, _) in EXTRA_MOVIES.items()}
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["ratings_expectations"].metadata["quarantined"].value == len(MALFORMED)
    assert checks["ratings_expectations"].metadata["kept"].value == 100_836 + len(good)
    assert checks["movies_expectations"].passed


def test_every_table_is_written_in_its_declared_schema(
    run: dg.ExecuteInProcessResult, lakehouse: Path, ml_small: Path, tmp_path: Path
) -> None:
    """Whichever engine wrote a table, its schema is the declared one; a materialization shows what is on disk."""
    answered = tmp_path / "answered"
    shutil.copytree(lakehouse, answered)
    config = {"ops": {"similar_movies": {"config": {"movie_id": 1, "k": 3}}}}
    resources = build_resources(str(answered), **TEST_SPARK)
    assert dg.materialize(ASSETS, resources=resources, selection=["similar_movies"], run_config=config).success
    for name in S.TABLES:
        on_disk = DeltaTable(str(answered / "delta" / name)).schema().to_arrow()
        assert [(f.name, S.type_name(f.type)) for f in pa.schema(on_disk)] == [
            (f.name, S.type_name(f.type)) for f in S.arrow_schema(name)
        ], name
    [bronze] = run.asset_materializations_for_node("ratings_bronze")[:1]
    shown = bronze.metadata["dagster/column_schema"].schema
    assert shown == S.column_schema("ratings_bronze")["dagster/column_schema"]
