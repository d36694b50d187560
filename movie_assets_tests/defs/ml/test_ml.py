"""ALS factors, evaluation and similar movies through Dagster, on a small synthetic landing folder."""

import shutil
from collections import Counter
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from deltalake import DeltaTable
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import SparkSession

from movie_assets.definitions import build_resources
from movie_assets.recommend import answer_quality as Q
from movie_assets.resources.als_models import AlsModels
from movie_assets.scripts import sample_data
from movie_assets_tests.conftest import TEST_SPARK, write_csv
from movie_assets_tests.graph import ASSETS

pytestmark = pytest.mark.slow  # materializes through Spark: not in make test-fast

UPSTREAM = ["ratings_bronze", "movies_bronze", "ratings_silver", "movie_mean_count_silver", "als_item_factors"]
RULE = AlsModels().answer.rule()


def ask(resources: dict, movie_id: int, k: int = 10) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        resources=resources,
        selection=["similar_movies"],
        run_config={"ops": {"similar_movies": {"config": {"movie_id": movie_id, "k": k}}}},
        raise_on_error=False,
    )


def failure_message(result: dg.ExecuteInProcessResult) -> str:
    """The step's error, as the UI and the CLI show it, less the exception's class name."""
    [failure] = [e for e in result.all_events if e.is_step_failure]
    return failure.step_failure_data.error.message.removeprefix("dagster._core.definitions.events.Failure: ")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, spark: SparkSession) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("ml")
    sample_data.generate(root / "landing", 100_000, seed=3)
    # A movie nobody rated: it exists, but ALS has no factors for it.
    with open(root / "landing" / "movies.csv", "a", encoding="utf-8") as handle:
        handle.write("999001,Unrated Movie (2020),Drama\n")
    resources = build_resources(str(root), **TEST_SPARK)
    assert dg.materialize(ASSETS, resources=resources, selection=UPSTREAM).success
    return root, resources


def factors(spark: SparkSession, root: Path) -> dict[int, list[float]]:
    rows = spark.read.format("delta").load(str(root / "delta" / "als_item_factors")).collect()
    return {r.movieId: list(r.features) for r in rows}


def test_factors_table_and_saved_model(spark: SparkSession, lake: tuple[Path, dict]) -> None:
    root, _ = lake
    table = spark.read.format("delta").load(str(root / "delta" / "als_item_factors"))
    assert table.schema.simpleString() == "struct<movieId:int,features:array<float>,count:bigint>"
    stored = factors(spark, root)
    ratings = spark.read.format("delta").load(str(root / "delta" / "ratings_silver"))
    rated = ratings.groupBy("movieId").count()
    assert len(stored) == rated.count() and all(len(v) == AlsModels().answer.rank for v in stored.values())
    # Fitted without the split's held-out likes, which the gate scores them on: the count is of the rest.
    held = Counter(m for likes in Q.split(ratings, AlsModels().split).held_out.values() for m in likes)
    assert sum(held.values()) > 100
    want = {r.movieId: r["count"] - held[r.movieId] for r in rated.collect()}
    assert {r.movieId: r["count"] for r in table.collect()} == want
    model = ALSModel.load(str(root / "models" / "als"))
    reloaded = {r.id: list(r.features) for r in model.itemFactors.collect()}
    assert reloaded == stored


def test_same_seed_same_factors(spark: SparkSession, lake: tuple[Path, dict]) -> None:
    root, resources = lake
    before = factors(spark, root)
    assert dg.materialize(ASSETS, resources=resources, selection=["als_item_factors"]).success
    assert factors(spark, root) == before


def test_answer_equals_brute_force(spark: SparkSession, lake: tuple[Path, dict]) -> None:
    root, resources = lake
    result = ask(resources, 1, k=7)
    assert result.success
    stored = factors(spark, root)
    counts = {
        r.movieId: r["count"] for r in spark.read.format("delta").load(str(root / "delta/als_item_factors")).collect()
    }
    query = np.array(stored[1])
    candidates = {m: np.array(v) for m, v in stored.items() if counts[m] >= RULE.min_ratings}
    longest = max(np.linalg.norm(v) for v in candidates.values())
    brute = sorted(
        (
            (
                float(
                    query
                    @ v
                    / (np.linalg.norm(query) * np.linalg.norm(v))
                    * (np.linalg.norm(v) / longest) ** RULE.length_weight
                ),
                m,
            )
            for m, v in candidates.items()
            if m != 1
        ),
        key=lambda t: (-t[0], t[1]),
    )[:7]
    rows = spark.read.format("delta").load(str(root / "delta" / "similar_movies")).where("movie_id = 1").collect()
    rows = sorted(rows, key=lambda r: r["rank"])
    assert [r.similar_movie_id for r in rows] == [m for _, m in brute]
    assert [r.similarity for r in rows] == pytest.approx([s for s, _ in brute], abs=1e-6)
    assert [r["rank"] for r in rows] == list(range(1, 8))
    titles = {
        r.movieId: r.title for r in spark.read.format("delta").load(str(root / "delta" / "movies_bronze")).collect()
    }
    assert [r.title for r in rows] == [titles[r.similar_movie_id] for r in rows]
    metadata = result.asset_materializations_for_node("similar_movies")[0].metadata
    assert metadata["similar_movies"].value.count("\n") == 7 + 1
    assert "| count | mean |" in metadata["similar_movies"].value.splitlines()[0]


def answer_rows(spark: SparkSession, root: Path, movie_id: int) -> list[tuple]:
    rows = spark.read.format("delta").load(str(root / "delta" / "similar_movies")).where(f"movie_id = {movie_id}")
    return sorted(tuple(r) for r in rows.collect())


def looked_up(result: dg.ExecuteInProcessResult) -> int:
    assert result.success
    return result.asset_materializations_for_node("similar_movies")[0].metadata["looked_up_in_movie_neighbors"].value


def test_an_answer_is_a_lookup_only_while_movie_neighbors_is_current(
    spark: SparkSession, lake: tuple[Path, dict]
) -> None:
    root, resources = lake
    shutil.rmtree(root / "delta" / "movie_neighbors", ignore_errors=True)
    assert looked_up(ask(resources, 7, k=8)) == 0  # no movie_neighbors: ranked from the factors
    ranked = answer_rows(spark, root, 7)
    assert dg.materialize(ASSETS, resources=resources, selection=["movie_neighbors"]).success  # k 50, and its check
    assert looked_up(ask(resources, 7, k=8)) == 1
    assert answer_rows(spark, root, 7) == ranked  # the same rows, to the last bit of each similarity
    assert looked_up(ask(resources, 7, k=51)) == 0  # more than movie_neighbors holds
    assert dg.materialize(ASSETS, resources=resources, selection=["als_item_factors"]).success  # a new version
    assert looked_up(ask(resources, 7, k=8)) == 0  # movie_neighbors is stale: ranked from the factors again
    assert answer_rows(spark, root, 7) == ranked  # same seed, same factors


def test_new_answer_replaces_only_its_movie(spark: SparkSession, lake: tuple[Path, dict]) -> None:
    root, resources = lake
    assert ask(resources, 2, k=5).success
    assert ask(resources, 3, k=5).success
    table = str(root / "delta" / "similar_movies")
    other = lambda: sorted(tuple(r) for r in spark.read.format("delta").load(table).where("movie_id = 3").collect())  # noqa: E731
    files = lambda: {  # noqa: E731
        f.name: f.read_bytes() for f in Path(table).glob("*.parquet")
    }
    before_rows, before_files = other(), files()
    assert ask(resources, 2, k=3).success
    assert other() == before_rows
    after_files = files()
    kept = {name for name in before_files if name in after_files}
    assert all(after_files[n] == before_files[n] for n in kept)
    rows2 = spark.read.format("delta").load(table).where("movie_id = 2").collect()
    assert sorted(r["rank"] for r in rows2) == [1, 2, 3]


@pytest.mark.parametrize(
    ("movie_id", "k", "message"),
    [
        (999999999, 10, "movie_id 999999999 is not in movies_bronze"),
        (999001, 10, "movie_id 999001 (Unrated Movie (2020)) has no ALS factors"),
    ],
)
def test_unanswerable_questions_fail_and_keep_the_table(
    spark: SparkSession, lake: tuple[Path, dict], movie_id: int, k: int, message: str
) -> None:
    root, resources = lake
    assert ask(resources, 4).success
    table = str(root / "delta" / "similar_movies")
    version = spark.sql(f"DESCRIBE HISTORY delta.`{table}`").first().version
    result = ask(resources, movie_id, k)
    assert not result.success
    assert message in failure_message(result)
    assert spark.sql(f"DESCRIBE HISTORY delta.`{table}`").first().version == version


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"movie_id": 0}, "movie_id 0 is not a movie id: pick a movieId from movies.csv (1..2147483647)."),
        ({"movie_id": -5}, "movie_id -5 is not a movie id"),
        ({"movie_id": 2**31}, "movie_id 2147483648 is not a movie id"),
        ({"movie_id": 99999999999999999999999}, "movie_id 99999999999999999999999 is not a movie id"),
        ({"movie_id": 1, "k": 0}, "k 0 is out of range: choose 1..1000."),
        ({"movie_id": 1, "k": 1001}, "k 1001 is out of range"),
        ({"k": 2**40}, "k 1099511627776 is out of range"),
    ],
)
def test_bad_config_fails_with_one_sentence(
    spark: SparkSession, lake: tuple[Path, dict], config: dict, message: str
) -> None:
    root, resources = lake
    assert ask(resources, 4).success
    table = str(root / "delta" / "similar_movies")
    version = spark.sql(f"DESCRIBE HISTORY delta.`{table}`").first().version
    result = dg.materialize(
        ASSETS,
        resources=resources,
        selection=["similar_movies"],
        run_config={"ops": {"similar_movies": {"config": config}}},
        raise_on_error=False,
    )
    assert not result.success
    assert failure_message(result).startswith(message)
    assert spark.sql(f"DESCRIBE HISTORY delta.`{table}`").first().version == version


def test_not_a_number_movie_id_is_refused_by_the_config_schema(resources: dict) -> None:
    with pytest.raises(dg.DagsterInvalidConfigError, match="movie_id"):
        ask(resources, "abc")  # type: ignore[arg-type]


def test_factors_missing(tmp_path: Path, resources: dict) -> None:
    write_csv(tmp_path / "landing", "movies.csv", "movieId,title,genres\n1,One (1999),Drama\n")
    result = ask(resources, 1)
    assert not result.success
    assert "als_item_factors is not materialized yet" in failure_message(result)


def test_bad_als_parameters(resources: dict) -> None:
    with pytest.raises(ValueError, match=r"implicit\.rank\n  Input should be greater than or equal to 1"):
        AlsModels(implicit={"rank": 0})
    with pytest.raises(ValueError, match=r"rating\.reg_param\n  Input should be greater than or equal to 0"):
        AlsModels(rating={"reg_param": -1.0})


def test_evaluation_reports_rmse_and_the_rating_models_answers(spark: SparkSession, lake: tuple[Path, dict]) -> None:
    root, resources = lake
    result = dg.materialize(ASSETS, resources=resources, selection=["als_evaluation"])
    metadata = result.asset_materializations_for_node("als_evaluation")[0].metadata
    assert 0.3 < metadata["rmse"].value < 1.5
    assert metadata["mae"].value < metadata["rmse"].value
    assert 0 < metadata["scored_rows"].value <= metadata["held_out_rows"].value
    assert "| RMSE |" in metadata["quality"].value
    # Fitted and scored without the answer split's held-out likes, its neighbours scored on them.
    data = Q.split(spark.read.format("delta").load(str(root / "delta" / "ratings_silver")), AlsModels().split)
    rows = [r[1] for r in (line.strip("|").split("|") for line in metadata["quality"].value.splitlines()[2:])]
    assert int(float(rows[2])) + metadata["held_out_rows"].value == data.train.count()
    assert metadata["queries"].value == len(data.queries) > 0
    assert 0 <= metadata["hit_rate_at_10"].value < 1 and " .. " in metadata["hit_rate_interval"].value


def stored(spark: SparkSession, root: Path) -> dict[int, int]:
    rows = spark.read.format("delta").load(str(root / "delta" / "similar_movies")).groupBy("movie_id").count()
    return {r.movie_id: r["count"] for r in rows.collect()}


def test_without_a_movie_id_one_run_refreshes_every_stored_answer(spark: SparkSession, lake: tuple[Path, dict]) -> None:
    root, resources = lake
    assert ask(resources, 5, k=4).success and ask(resources, 6, k=6).success
    before = stored(spark, root)
    table = str(root / "delta" / "similar_movies")
    version = spark.sql(f"DESCRIBE HISTORY delta.`{table}`").first().version
    result = dg.materialize(ASSETS, resources=resources, selection=["similar_movies"])
    assert result.success
    assert result.asset_materializations_for_node("similar_movies")[0].metadata["answers"].value == len(before)
    assert stored(spark, root) == before and before[5] == 4 and before[6] == 6
    assert spark.sql(f"DESCRIBE HISTORY delta.`{table}`").first().version == version + 1  # one commit


def test_without_a_movie_id_and_no_stored_answers_nothing_is_written(tmp_path: Path, lake: tuple[Path, dict]) -> None:
    root, _ = lake
    fresh = build_resources(str(tmp_path), **TEST_SPARK)
    for name in ("als_item_factors", "movies_bronze", "movie_mean_count_silver"):
        shutil.copytree(root / "delta" / name, tmp_path / "delta" / name)
    result = dg.materialize(ASSETS, resources=fresh, selection=["similar_movies"])
    assert result.success
    assert result.asset_materializations_for_node("similar_movies")[0].metadata["answers"].value == 0
    assert not (tmp_path / "delta" / "similar_movies").exists()


TUNING = {"ranks": [8], "reg_params": [0.1], "alphas": [1.0], "max_iters": [5], "length_weights": [0.0, 0.5, 1.0]}


def tune(resources: dict, config: dict) -> dg.ExecuteInProcessResult:
    run_config = {"ops": {"similarity_tuning": {"config": config}}}
    return dg.materialize(
        ASSETS, resources=resources, selection=["similarity_tuning"], run_config=run_config, raise_on_error=False
    )


def test_tuning_scores_each_model_under_each_length_weight(spark: SparkSession, lake: tuple[Path, dict]) -> None:
    _, resources = lake
    metadata = tune(resources, TUNING).asset_materializations_for_node("similarity_tuning")[0].metadata
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in metadata["grid"].value.splitlines()[2:]]
    assert sorted(float(r[4]) for r in rows) == [0.0, 0.5, 1.0]  # one fit, three rankings of its factors
    best = metadata["best"].value
    assert best["hit_rate@10"] == metadata["best_hit_rate_at_10"].value
    assert round(best["hit_rate@10"], 4) == max(float(r[5]) for r in rows)  # the table's cells have 4 places
    # The same model fitted and scored outside the grid, under the best row's length weight: the same figure.
    implicit = AlsModels().implicit.model_copy(
        update={"rank": 8, "max_iter": 5, "length_weight": best["length_weight"]}
    )
    ratings = spark.read.format("delta").load(str(lake[0] / "delta" / "ratings_silver"))
    data = Q.split(ratings, AlsModels().split)
    scores = Q.score(spark, data, Q.factors_ranker(Q.fitted_index(data.train, implicit.params(), implicit.rule())))
    assert scores.hit_rate == best["hit_rate@10"]


def test_a_length_weight_outside_0_to_1_fails_in_one_sentence(lake: tuple[Path, dict]) -> None:
    result = tune(lake[1], {**TUNING, "length_weights": [0.5, 2.0]})
    assert not result.success
    message = "length_weights [0.5, 2.0] must be one or more values within 0..1: fix them."
    assert failure_message(result).strip() == message


def versions(root: Path) -> dict[str, int]:
    return {name: DeltaTable(str(root / "delta" / name)).version() for name in SERVED}


def als_config(**changes: object) -> dict:
    return {"resources": {"als_models": {"config": {"implicit": changes}}}}


SERVED = ["als_item_factors", "movie_neighbors", "similar_movies"]
SMALL = {"rank": 8, "max_iter": 5}  # the synthetic tastes' own rank: a good model, fitted in seconds
BAD = {"rank": 1, "reg_param": 50.0, "max_iter": 1}


def test_new_factors_answer_only_past_the_promotion_gate(
    spark: SparkSession, lake: tuple[Path, dict], tmp_path: Path
) -> None:
    """A good configuration is promoted with its model diff; a bad one is refused, and every answer stays."""
    shutil.copytree(lake[0], tmp_path, dirs_exist_ok=True)
    resources = build_resources(str(tmp_path), **TEST_SPARK)
    gate = dg.AssetCheckKey(dg.AssetKey("als_item_factors"), "promoted")
    with dg.instance_for_test() as instance:
        # The copied factors are what the default configuration made: recorded as their promotion records it.
        served = {"parameters": dg.MetadataValue.json(AlsModels().answer.model_dump())}
        instance.report_runless_asset_event(dg.AssetMaterialization("als_item_factors", metadata=served))

        def run(config: dict, force: bool = False) -> dg.ExecuteInProcessResult:
            ops = {"similar_movies": {"config": {"movie_id": 1, "k": 10}}}
            ops["als_item_factors"] = {"config": {"force_promotion": force}}
            return dg.materialize(
                ASSETS, resources=resources, selection=SERVED, instance=instance, raise_on_error=False,
                run_config={**config, "ops": ops},
            )  # fmt: skip

        good = run(als_config(**SMALL))
        assert good.success
        [check] = good.get_asset_check_evaluations()
        assert check.passed and check.description.startswith("Promoted: hit rate@10 ")
        factors = good.asset_materializations_for_node("als_item_factors")[0].metadata
        assert 0 < factors["top100_neighbours_changed"].value <= 1000  # rank 16 -> 8: some neighbours changed
        assert factors["parameters"].value["rank"] == 8
        before, answer = versions(tmp_path), answer_rows(spark, tmp_path, 1)

        bad = run(als_config(**BAD))
        assert not bad.success
        reason = failure_message(bad).strip()
        assert reason.startswith("Refused, worse than the served factors beyond the paired 95% interval")
        assert reason.endswith("fix the ALS settings (resources.als_models in the run config) and materialize again.")
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([gate])[gate]
        refusal = record.event.dagster_event.event_specific_data
        assert not refusal.passed and refusal.blocking and refusal.description == reason
        assert refusal.metadata["hit_rate_at_10"].value < refusal.metadata["compared_hit_rate_at_10"].value
        assert versions(tmp_path) == before and answer_rows(spark, tmp_path, 1) == answer  # nothing served changed

        # Forced over the gate by the run config: served, and the check says so as a warning.
        forced = run(als_config(**BAD), force=True)
        assert forced.success
        [check] = forced.get_asset_check_evaluations()
        assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
        assert check.description == "Promoted by force_promotion, over the gate: " + reason
        assert forced.asset_materializations_for_node("als_item_factors")[0].metadata["parameters"].value["rank"] == 1
        assert versions(tmp_path)["als_item_factors"] == before["als_item_factors"] + 1


def test_the_evaluation_scores_only_factors_fitted_on_the_current_ratings(
    lake: tuple[Path, dict], tmp_path: Path
) -> None:
    """similarity_evaluation scores the served factors on the held-out likes they were fitted without: after new
    ratings, before the factors are refitted, it refuses in one sentence rather than score a mismatch."""
    shutil.copytree(lake[0], tmp_path, dirs_exist_ok=True)
    resources = build_resources(str(tmp_path), **TEST_SPARK)
    with dg.instance_for_test() as instance:

        def run(*selection: str) -> dg.ExecuteInProcessResult:
            return dg.materialize(ASSETS, resources=resources, selection=list(selection), instance=instance,
                                  raise_on_error=False)  # fmt: skip

        built = run("als_item_factors", "similarity_evaluation")
        assert built.success
        fitted = built.asset_materializations_for_node("als_item_factors")[0].metadata["training_ratings"].value
        new_user = "userId,movieId,rating,timestamp\n999999,1,4.0,2000000000\n"  # one like: not a test user
        write_csv(tmp_path / "landing", "ratings_more.csv", new_user)
        assert run("ratings_bronze", "ratings_silver").success
        stale = run("similarity_evaluation")
        assert not stale.success
        assert failure_message(stale).strip() == (
            f"als_item_factors were fitted on {fitted} ratings, but the current ratings less the held-out likes are "
            f"{fitted + 1}: materialize als_item_factors, then similarity_evaluation."
        )
