"""Quality per cost of the answer model: hit rate@10 with its interval, and fit time, over a small ALS grid.

`python -m benchmarks.als_grid --scale small|1m|25m` lands the data as `make bench` does (ml-latest-small, or the
synthetic generator), splits it as the answer model is split (`als_models.split`), and for each grid point fits
implicit ALS on the training part, times the fit, and scores the factors under the answer rule on the held-out
likes: exactly what `als_item_factors` does for the defaults. Points are fitted one at a time in one session, in
the order given, after one untimed fit that warms the JVM, so their times compare. The Pareto front (no other
point both fits faster and scores higher) is marked; results go to `benchmarks/results/als_grid_<scale>.json`
and a Markdown table to stdout (the one in `docs/answer-quality.md`).
"""

import argparse
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.run import land
from movie_assets.recommend import als
from movie_assets.recommend import answer_quality as Q
from movie_assets.recommend.neighbors import collect_factors, index_from_arrow
from movie_assets.resources.als_models import AlsModels
from movie_assets.resources.spark import delta_spark_resource
from movie_assets.tables import schemas as S

HERE = Path(__file__).resolve().parent
# (rank, maxIter, regParam, alpha): ranks and iterations set the cost; regularization and confidence around them.
GRID = [
    (8, 5, 0.1, 1.0),
    (8, 10, 0.1, 1.0),
    (16, 5, 0.1, 1.0),
    (16, 10, 0.1, 1.0),
    (16, 10, 1.0, 1.0),
    (16, 10, 0.1, 3.0),
    (24, 5, 0.1, 1.0),
    (24, 10, 0.1, 1.0),
    (32, 10, 0.1, 1.0),
    (48, 10, 0.1, 1.0),
]
LARGE_GRID = [(8, 5, 0.1, 1.0), (16, 5, 0.1, 1.0), (16, 10, 0.1, 1.0), (24, 5, 0.1, 1.0), (48, 10, 0.1, 1.0)]


def pareto(rows: list[dict[str, Any]]) -> None:
    """Marks each row on the front: no other row fits faster and scores higher."""
    for row in rows:
        row["pareto"] = not any(
            o["fit_s"] < row["fit_s"] and o["hit_rate"] > row["hit_rate"] for o in rows if o is not row
        )


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=["small", "1m", "25m"], default="small")
    parser.add_argument("--data", type=Path, default=Path("/tmp/movie_assets_bench"))
    parser.add_argument("--driver-memory", default=None, help="default 4g, 8g at 25m")
    args = parser.parse_args(argv)
    folder = args.data / args.scale
    land(args.scale, folder)
    memory = args.driver_memory or ("8g" if args.scale == "25m" else "4g")
    spark = delta_spark_resource(driver_memory=memory).spark_session
    spark.sparkContext.setCheckpointDir(str(folder / "checkpoints"))
    ratings = spark.read.csv(str(folder / "landing" / "ratings.csv"), header=True, schema=S.RATINGS_CSV_SCHEMA)
    ratings = ratings.select(S.USER_ID, S.MOVIE_ID, S.RATING).persist()
    models = AlsModels()
    data = Q.split(ratings, models.split)
    train = data.train.persist()
    rows_count = train.count()
    base = models.implicit
    pairs = Q.Interactions.of(train)
    popularity = Q.score(spark, data, Q.popularity_ranker(pairs.movie_ids, pairs.counts()))
    knn = None if args.scale == "25m" else Q.score(spark, data, Q.item_knn_ranker(pairs))  # hours at 25M
    del pairs
    grid = LARGE_GRID if args.scale == "25m" else GRID
    warm = als.fit(train, base.model_copy(update={"rank": 8, "max_iter": 1}).params())  # warms the JVM: untimed
    collect_factors(als.item_factors(warm, train))
    rows: list[dict[str, Any]] = []
    for rank, max_iter, reg, alpha in grid:
        config = base.model_copy(update={"rank": rank, "max_iter": max_iter, "reg_param": reg, "alpha": alpha})
        started = time.perf_counter()
        model = als.fit(train, config.params())
        factors = collect_factors(als.item_factors(model, train))
        fit_s = time.perf_counter() - started
        scores = Q.score(spark, data, Q.factors_ranker(index_from_arrow(factors, config.rule())))
        low, high = Q.user_interval(data, scores.hits, models.split.seed)
        row = {"rank": rank, "maxIter": max_iter, "regParam": reg, "alpha": alpha, "fit_s": round(fit_s, 1),
               "hit_rate": round(scores.hit_rate, 4), "interval": [round(low, 4), round(high, 4)],
               "ndcg": round(scores.ndcg, 4)}  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
    pareto(rows)
    result = {
        "scale": args.scale,
        "training_ratings": rows_count,
        "queries": len(data.queries),
        "item_knn_hit_rate": None if knn is None else round(knn.hit_rate, 4),
        "popularity_hit_rate": round(popularity.hit_rate, 4),
        "rule": base.rule().__dict__,
        "grid": rows,
    }
    (HERE / "results" / f"als_grid_{args.scale}.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| rank | maxIter | regParam | alpha | fit (s) | hit rate@10 | 95% interval | NDCG@10 | Pareto |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        mark = "yes" if r["pareto"] else ""
        print(f"| {r['rank']} | {r['maxIter']} | {r['regParam']} | {r['alpha']} | {r['fit_s']} | {r['hit_rate']:.3f} "
              f"| {r['interval'][0]:.3f} .. {r['interval'][1]:.3f} | {r['ndcg']:.3f} | {mark} |")  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
