"""`make bench SCALE=small|1m|5m|25m`: the project against the original notebook's logic, side by side.

Runs, in one invocation and on the same data: (a) the seed reference and the project producing the same
outputs (wall time, peak memory, ratio), with the seed's own ALS model and with the answers' implicit model,
plus the whole graph; (b) per-asset times, Spark session start and Dagster overhead; (c) one similar-movies
query, numpy vs the original UDF; (d) a new movie id asked through the CLI, and a refresh of 1,000 stored
answers in one run; (e) ALS fit times and RMSE; (f) the top-50 neighbours of every movie, plain numpy vs the
project; (g) bronze and silver after one new landing file of 1,000 ratings, as a share of the full build.
Prints a table and writes benchmarks/results/<scale>.json.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from movie_assets.resources.lakehouse import SETTLE_ENV
from movie_assets.resources.spark import DRIVER_MEMORY_ENV
from movie_assets.scripts import sample_data

HERE = Path(__file__).resolve().parent
ML_SMALL = HERE.parent / "samples" / "ml-latest-small"
SCALES = {"small": None, "1m": 1_000_000, "5m": 5_000_000, "25m": 25_000_000}
SEED_OUTPUTS = [
    "ratings_bronze",
    "movies_bronze",
    "ratings_silver",
    "user_mean_count_silver",
    "movie_mean_count_silver",
    "user_movie_title_rating",
    "als_item_factors",
    "similar_movies",
]
WHOLE_GRAPH = [*SEED_OUTPUTS, "als_evaluation", "similarity_evaluation", "movie_neighbors"]  # all but the tuning grid
INCREMENTAL = ["ratings_bronze", "ratings_silver", "user_mean_count_silver", "movie_mean_count_silver",
               "user_movie_title_rating"]  # fmt: skip
MOVIE_ID, NEW_MOVIE_ID = 1, 2
REFRESHED_IDS = 1000


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    stdout: str


def group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in a process group (the Python driver and its JVM)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) == pgid:
                total += int(Path(f"/proc/{entry.name}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(command: list[str], env: dict[str, str]) -> Measured:
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True
    )
    peak = [0.0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], group_rss_mb(process.pid))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = process.communicate()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])} ... failed with exit code {process.returncode}")
    return Measured(time.perf_counter() - started, peak[0], stdout)


def land(scale: str, folder: Path) -> None:
    landing = folder / "landing"
    if (landing / "ratings.csv").exists():
        return
    if SCALES[scale] is None:
        landing.mkdir(parents=True)
        for name in ("ratings.csv", "movies.csv"):
            shutil.copy(ML_SMALL / name, landing / name)
    else:
        sample_data.generate(landing, SCALES[scale])


def fresh_root(data: Path, name: str) -> Path:
    root = data / name
    shutil.rmtree(root, ignore_errors=True)
    (root / "landing").mkdir(parents=True)
    for file in (data / "landing").iterdir():
        os.link(file, root / "landing" / file.name)
    return root


def dagster(root: Path, home: Path, *args: str) -> tuple[Measured, dg.DagsterRun]:
    env = {**os.environ, "MOVIE_ASSETS_DATA_DIR": str(root), "DAGSTER_HOME": str(home)}
    home.mkdir(parents=True, exist_ok=True)
    measured = measure([sys.executable, "-m", "dagster", *args, "-m", "movie_assets.definitions"], env)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
    return measured, run


def whole_graph(data: Path) -> tuple[Measured, Path, str]:
    """Every asset but the tuning grid, in one run on a fresh root: what "Materialize all" does."""
    whole_root, whole_home = fresh_root(data, "whole"), data / "whole_home"
    shutil.rmtree(whole_home, ignore_errors=True)
    whole, run = dagster(
        whole_root, whole_home, "asset", "materialize", "--select", ",".join(WHOLE_GRAPH), "--config-json",
        config(MOVIE_ID),
    )  # fmt: skip
    return whole, whole_home, run.run_id


def step_times(home: Path, run_id: str) -> dict[str, float]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return {s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(run_id) if s.end_time}


def metadata(home: Path, asset: str) -> dict:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def config(movie_id: int, answers_from: str | None = None) -> str:
    """Run config for one answer; `answers_from: rating` makes the original's ALS model the factors."""
    run_config: dict = {"ops": {"similar_movies": {"config": {"movie_id": movie_id, "k": 10}}}}
    if answers_from:  # the original's model does not beat popularity: served over the gate, on purpose
        run_config["resources"] = {"als_models": {"config": {"answers_from": answers_from}}}
        run_config["ops"]["als_item_factors"] = {"config": {"force_promotion": True}}
    return json.dumps(run_config)


def store_answers(root: Path, count: int) -> None:
    """`count` stored answers (k = 10) for the refresh figure, written as earlier asks would have."""
    code = (
        "import sys; from movie_assets.resources.spark import delta_spark_resource; "
        "s = delta_spark_resource().spark_session; r = sys.argv[1]; "
        "f = s.read.format('delta').load(r + '/delta/als_item_factors').select('movieId').orderBy('movieId')"
        ".limit(int(sys.argv[2])); "
        "rows = f.selectExpr('movieId as movie_id', 'explode(sequence(1, 10)) as rank', "
        "'movieId as similar_movie_id', 'cast(null as string) as title', 'cast(null as string) as genres', "
        "'0.0d as similarity'); "
        "rows.write.format('delta').mode('overwrite').option('overwriteSchema', 'true')"
        ".save(r + '/delta/similar_movies')"
    )
    measure([sys.executable, "-c", code, str(root), str(count)], dict(os.environ))


def session_start() -> float:
    code = (
        "import time; t=time.perf_counter(); from movie_assets.resources.spark import delta_spark_resource; "
        "delta_spark_resource().spark_session; print(time.perf_counter()-t)"
    )
    return float(measure([sys.executable, "-c", code], dict(os.environ)).stdout.strip().splitlines()[-1])


def incremental_share(data: Path) -> dict:
    """(g) Bronze and silver built in one run, then again after one new landing file of 1,000 ratings: two runs
    of the same selection, so each pays the same process and Spark session start (movies_bronze is built before).
    """
    inc_root, inc_home = fresh_root(data, "incremental"), data / "incremental_home"
    shutil.rmtree(inc_home, ignore_errors=True)
    dagster(inc_root, inc_home, "asset", "materialize", "--select", "movies_bronze")
    full_build, full_run = dagster(inc_root, inc_home, "asset", "materialize", "--select", ",".join(INCREMENTAL))
    rows_before = metadata(inc_home, "ratings_silver")["dagster/row_count"]
    new_file = inc_root / "landing" / "ratings_new.csv"
    new_file.write_text("userId,movieId,rating,timestamp\n" + "".join(
        f"{900_000 + i // 10},{1 + i % 50},{1 + i % 9 / 2},{1_800_000_000 + i}\n" for i in range(1000)))  # fmt: skip
    incremental, incremental_run = dagster(
        inc_root, inc_home, "asset", "materialize", "--select", ",".join(INCREMENTAL)
    )
    full_steps, incremental_steps = (step_times(inc_home, r.run_id) for r in (full_run, incremental_run))
    silver, titles = metadata(inc_home, "ratings_silver"), metadata(inc_home, "user_movie_title_rating")
    return {
        "full_bronze_silver_s": full_build.seconds,
        "full_bronze_silver_step_s": full_steps,
        "incremental_s": incremental.seconds,
        "incremental_step_s": incremental_steps,
        "incremental_share_of_full": incremental.seconds / full_build.seconds,
        "incremental_ratings_silver": silver["refresh"],
        "incremental_user_movie_title_rating": titles["refresh"],
        # the 1,000 new ratings are new (user, movie) pairs: each table gains exactly that many rows
        "incremental_rows_exact": silver["dagster/row_count"] == titles["dagster/row_count"] == rows_before + 1000,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "movie_assets_bench")
    parser.add_argument("--driver-memory", default=None, help="for both sides (default 4g, 8g at 25m)")
    parser.add_argument(
        "--only", choices=["incremental", "graph"],
        help="run only (g), or only the seed and the whole graph side by side; writes results/<scale>_<only>.json",
    )  # fmt: skip
    args = parser.parse_args(argv)
    # The benchmark writes whole landing files just before each run that ingests them: no settle time to wait out.
    os.environ.setdefault(SETTLE_ENV, "0")
    memory = args.driver_memory or ("8g" if args.scale == "25m" else "4g")
    os.environ[DRIVER_MEMORY_ENV] = memory  # the project's runs and the session-start probe inherit it
    data = args.data / args.scale
    land(args.scale, data)
    ram_gib = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    results: dict = {
        "scale": args.scale,
        "machine": f"{os.cpu_count()} cores, {ram_gib:.0f} GiB, {platform.machine()}",
        "driver_memory": memory,
    }
    if args.only == "incremental":
        results.update(incremental_share(data))
        report_incremental(results)
        return write(results, f"{args.scale}_incremental")

    seed_root = fresh_root(data, "seed")
    seed_command = [sys.executable, "-m", "benchmarks.seed_reference", "--data-dir", str(seed_root)]
    seed = measure([*seed_command, "--driver-memory", memory], dict(os.environ))
    seed_laps = json.loads(seed.stdout.strip().splitlines()[-1])["seed_reference"]
    if args.only == "graph":
        whole, whole_home, whole_run = whole_graph(data)
        results.update(
            {"seed_s": seed.seconds, "seed_peak_mb": seed.peak_rss_mb, "whole_graph_s": whole.seconds,
             "whole_graph_peak_mb": whole.peak_rss_mb, "whole_graph_ratio_vs_seed": whole.seconds / seed.seconds,
             "whole_graph_step_s": step_times(whole_home, whole_run)}
        )  # fmt: skip
        print(json.dumps(results, indent=2))
        return write(results, f"{args.scale}_graph")

    # Like for like: the seed's outputs from the seed's model (the original's explicit ALS, `answers_from: rating`).
    same_root, same_home = fresh_root(data, "project_same_model"), data / "project_same_model_home"
    shutil.rmtree(same_home, ignore_errors=True)
    selection = ",".join(SEED_OUTPUTS)
    same, same_run = dagster(
        same_root, same_home, "asset", "materialize", "--select", selection, "--config-json", config(MOVIE_ID, "rating")
    )
    same_steps = step_times(same_home, same_run.run_id)
    # The same outputs with the defaults (the answers' implicit ALS model).
    root, home = fresh_root(data, "project"), data / "project_home"
    shutil.rmtree(home, ignore_errors=True)
    project, run = dagster(root, home, "asset", "materialize", "--select", selection, "--config-json", config(MOVIE_ID))
    steps = step_times(home, run.run_id)

    whole, whole_home, _ = whole_graph(data)

    incremental = incremental_share(data)

    answer = ("asset", "materialize", "--select", "similar_movies", "--config-json", config(NEW_MOVIE_ID))
    new_id, new_run = dagster(root, home, *answer)  # what similar_movies_job runs, without a daemon
    new_steps = step_times(home, new_run.run_id)
    start = session_start()
    store_answers(root, REFRESHED_IDS)
    refresh, _ = dagster(root, home, "asset", "materialize", "--select", "similar_movies")  # no movie_id
    refreshed = metadata(home, "similar_movies")["answers"]

    similarity = json.loads(
        subprocess.run(
            [sys.executable, "-m", "benchmarks.similarity", "--data-dir", str(root), "--json", "/dev/stdout"],
            capture_output=True, text=True, check=True,
        ).stdout.split("\n", 1)[1]
    )  # fmt: skip
    neighbors = json.loads(
        subprocess.run(
            [sys.executable, "-m", "benchmarks.neighbors", "--json", "/dev/stdout"],
            capture_output=True, text=True, check=True,
        ).stdout.split("\n", 1)[1]
    )  # fmt: skip
    factors, evaluation = metadata(home, "als_item_factors"), metadata(whole_home, "als_evaluation")
    same_factors = metadata(same_home, "als_item_factors")
    neighbors_step = metadata(whole_home, "movie_neighbors")

    results.update(
        {
            "seed_s": seed.seconds,
            "seed_peak_mb": seed.peak_rss_mb,
            "seed_laps_s": seed_laps,
            "project_same_model_s": same.seconds,
            "project_same_model_peak_mb": same.peak_rss_mb,
            "pipeline_ratio_vs_seed": same.seconds / seed.seconds,
            "same_model_step_s": same_steps,
            "same_model_als_fit_s": same_factors["fit_seconds"],
            "project_s": project.seconds,
            "project_peak_mb": project.peak_rss_mb,
            "pipeline_ratio_vs_seed_default_model": project.seconds / seed.seconds,
            "whole_graph_s": whole.seconds,
            "whole_graph_peak_mb": whole.peak_rss_mb,
            "step_s": steps,
            "session_start_s": start,
            # The session starts inside the first step that touches Spark, so it is part of the step times.
            "dagster_overhead_s": same.seconds - sum(same_steps.values()),
            "similar_movies_job_s": new_id.seconds,
            "similar_movies_job_step_s": new_steps.get("similar_movies"),
            "ask_vs_bare_session_ratio": new_id.seconds / start,
            "refresh_ids": refreshed,
            "refresh_s": refresh.seconds,
            "refresh_vs_one_ask_ratio": refresh.seconds / new_id.seconds,
            **incremental,
            "similarity_udf_s": similarity["udf_warm_s"],
            "similarity_numpy_s": similarity["numpy_s"],
            "similarity_speedup_vs_udf": similarity["similarity_speedup_vs_udf"],
            "neighbors_numpy_baseline_s": neighbors["baseline_numpy_s"],
            "neighbors_project_s": neighbors["project_s"],
            "neighbors_speedup_vs_numpy": neighbors["neighbors_speedup_vs_numpy"],
            "neighbors_same_answers": neighbors["same_similarities"] == 1.0,
            "movie_neighbors_compute_s": neighbors_step["compute_seconds"],
            "movie_neighbors_movies": neighbors_step["movies"],
            "als_fit_s": factors["fit_seconds"],
            "rmse": evaluation["rmse"],
            "mae": evaluation["mae"],
        }
    )
    report(results)
    return write(results, args.scale)


def write(results: dict, name: str) -> dict:
    out = HERE / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return results


def by_time(item: tuple[str, float]) -> float:
    return -item[1]


def incremental_rows(r: dict) -> list[tuple[str, str, str]]:
    modes = f"silver {r['incremental_ratings_silver']}, titles {r['incremental_user_movie_title_rating']}"
    return [
        ("(g) bronze + silver, full build (one run)", f"{r['full_bronze_silver_s']:.1f} s", ""),
        (f"(g) the same after 1,000 new ratings ({modes})", f"{r['incremental_s']:.1f} s", ""),
        ("(g)   share of the full build", f"{r['incremental_share_of_full']:.2f}", ""),
        ("(g)   rows exact (+1,000 in ratings_silver and the titles)", str(r["incremental_rows_exact"]), ""),
        *[(f"(g)   step {k}", f"{v:.1f} s", "") for k, v in sorted(r["incremental_step_s"].items(), key=by_time)],
    ]


def report_incremental(r: dict) -> None:
    print_table(r, incremental_rows(r))


def report(r: dict) -> None:
    rows = [
        ("(a) seed reference: bronze, silver, ALS, UDF answer", f"{r['seed_s']:.1f} s", f"{r['seed_peak_mb']:.0f} MB"),
        ("(a) project, same outputs and model, with checks", f"{r['project_same_model_s']:.1f} s",
         f"{r['project_same_model_peak_mb']:.0f} MB"),
        ("(a) ratio project / seed (same model)", f"{r['pipeline_ratio_vs_seed']:.2f}", ""),
        ("(a) project, same outputs, the answers' implicit model", f"{r['project_s']:.1f} s",
         f"{r['project_peak_mb']:.0f} MB"),
        ("(a) ratio project / seed (implicit model)", f"{r['pipeline_ratio_vs_seed_default_model']:.2f}", ""),
        ("(a) project, whole graph", f"{r['whole_graph_s']:.1f} s", f"{r['whole_graph_peak_mb']:.0f} MB"),
        ("(b) Spark session start (inside the first step)", f"{r['session_start_s']:.1f} s", ""),
        ("(b) Dagster and process overhead", f"{r['dagster_overhead_s']:.1f} s", ""),
        *[(f"(b)   step {k}", f"{v:.1f} s", "") for k, v in sorted(r["same_model_step_s"].items(), key=by_time)],
        ("(c) similar-movies query, original UDF", f"{r['similarity_udf_s'] * 1000:.0f} ms", ""),
        ("(c) similar-movies query, numpy", f"{r['similarity_numpy_s'] * 1000:.3f} ms", ""),
        ("(c) speedup", f"{r['similarity_speedup_vs_udf']:,.0f}x", ""),
        ("(d) similar_movies_job, new movie id, end to end", f"{r['similar_movies_job_s']:.1f} s", ""),
        ("(d)   of which the similar_movies step", f"{r['similar_movies_job_step_s'] or 0:.1f} s", ""),
        ("(d)   ratio to a bare Spark session start", f"{r['ask_vs_bare_session_ratio']:.1f}", ""),
        (f"(d) refresh of {r['refresh_ids']:,} stored answers in one run", f"{r['refresh_s']:.1f} s", ""),
        ("(d)   ratio to one ask", f"{r['refresh_vs_one_ask_ratio']:.1f}", ""),
        *incremental_rows(r),
        ("(e) ALS fit, the answers' implicit model (default)", f"{r['als_fit_s']:.1f} s", ""),
        ("(e) ALS fit, the original's explicit model", f"{r['same_model_als_fit_s']:.1f} s", ""),
        ("(f) top-50 neighbours of 59,047 movies, plain numpy", f"{r['neighbors_numpy_baseline_s']:.1f} s", ""),
        ("(f) top-50 neighbours of 59,047 movies, project", f"{r['neighbors_project_s']:.1f} s", ""),
        ("(f) speedup (same answers)", f"{r['neighbors_speedup_vs_numpy']:.1f}x ({r['neighbors_same_answers']})", ""),
        (
            f"(f) movie_neighbors compute, {r['movie_neighbors_movies']:,} movies in the run",
            f"{r['movie_neighbors_compute_s']:.1f} s",
            "",
        ),
        ("(e) RMSE / MAE (held-out 20%)", f"{r['rmse']:.4f} / {r['mae']:.4f}", ""),
    ]  # fmt: skip
    print_table(r, rows)


def print_table(r: dict, rows: list[tuple[str, str, str]]) -> None:
    width = max(len(name) for name, _, _ in rows)
    print(f"\nmake bench SCALE={r['scale']} on {r['machine']}")
    for name, value, memory in rows:
        print(f"{name:<{width}}  {value:>14}  {memory:>9}")


if __name__ == "__main__":
    main()
