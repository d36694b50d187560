"""The answer model's promotion gate, and what a promotion changed.

New factors are fitted on the current ratings less the split's held-out likes, and answer only when, scored on
those likes, they are not worse than the served configuration refitted on the same training part: refused when
worse beyond the paired 95% interval of the difference. The first model must beat popularity. When the
configuration is the served one, the refit on new ratings is promoted with its hit rate: the served factors were
fitted on other data, so a comparison with them would not be paired, and a refit of the same configuration would
be these factors again.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession

from movie_assets.recommend import answer_quality as Q
from movie_assets.recommend.neighbors import AnswerRule, index_from_arrow
from movie_assets.recommend.similarity import FactorIndex
from movie_assets.resources.als_models import AlsConfig
from movie_assets.tables import schemas as S

CHECK = "promoted"  # the blocking check on als_item_factors
DIFF_MOVIES, DIFF_K = 100, 10  # the model diff: the top 10 neighbours of the 100 most-rated movies
FIX = "fix the ALS settings (resources.als_models in the run config) and materialize again"


@dataclass(frozen=True)
class Verdict:
    promoted: bool
    reason: str  # one sentence, both hit rates
    metadata: dict[str, Any]


def judge(
    spark: SparkSession, data: Q.Split, factors: pa.Table, candidate: AlsConfig, served: AlsConfig | None
) -> Verdict:
    """Whether `factors`, fitted with `candidate` on `data.train`, may replace the factors fitted with `served`
    (None: no factors are served yet)."""
    if not data.queries:
        return Verdict(True, "No user liked enough movies to hold some out: promoted unjudged.", {"queries": 0})
    new = Q.score(spark, data, Q.factors_ranker(index_from_arrow(factors, candidate.rule())))
    own = f"hit rate@10 {new.hit_rate:.3f} on {new.queries} held-out queries"
    if served is not None and served.model_dump() == candidate.model_dump():
        reason = f"Promoted, the served configuration refitted on the current ratings: {own}."
        return Verdict(True, reason, {"hit_rate_at_10": new.hit_rate, "queries": new.queries})
    if served is None:
        other, name = Q.score(spark, data, Q.popularity_ranker(*Q.rating_counts(data.train))), "popularity"
    else:
        other, name = Q.fitted_scores(spark, data, served.params(), served.rule()), "the served configuration"
    low, high = Q.user_interval(data, new.hits - other.hits, data.seed)
    metadata: dict[str, Any] = {
        "hit_rate_at_10": new.hit_rate,
        "compared_with": name,
        "compared_hit_rate_at_10": other.hit_rate,
        "difference_interval": Q.interval_text((low, high)),
        "queries": new.queries,
    }
    figures = f"hit rate@10 {new.hit_rate:.3f} against {name}'s {other.hit_rate:.3f} on {new.queries} held-out queries"
    if served is None:
        if new.hit_rate > other.hit_rate:
            return Verdict(True, f"Promoted, the first model: {figures}.", metadata)
        return Verdict(False, f"Refused, the first model does not beat popularity ({figures}): {FIX}.", metadata)
    interval = f"paired 95% interval of the difference {low:+.3f} .. {high:+.3f}"
    if high >= 0:
        return Verdict(True, f"Promoted: {figures} ({interval}).", metadata)
    return Verdict(
        False,
        f"Refused, worse than the served factors beyond the {interval} ({figures}), so they keep answering: {FIX}.",
        metadata,
    )


def forced(verdict: Verdict) -> Verdict:
    """A refusal overridden by the run config: promoted, saying what the gate found."""
    return Verdict(True, f"Promoted by force_promotion, over the gate: {verdict.reason}", verdict.metadata)


def neighbour_changes(previous: pa.Table, current: pa.Table, rule: AnswerRule) -> dict[str, Any]:
    """How many of the top-10 neighbours of the 100 most-rated movies a promotion changed (0..1000), and which
    movies changed most: a person sees what a retrain did before trusting it."""
    ids, counts = current.column(S.MOVIE_ID).to_numpy(), current.column(S.COUNT).to_numpy()
    top = ids[np.lexsort((ids, -counts))][:DIFF_MOVIES]
    old, new = index_from_arrow(previous, rule), index_from_arrow(current, rule)

    def neighbours(index: FactorIndex, movie: int) -> set[int]:
        return {m for m, _ in index.most_similar(movie, DIFF_K)} if index.position(movie) is not None else set()

    changed = {int(m): DIFF_K - len(neighbours(old, int(m)) & neighbours(new, int(m))) for m in top}
    most = sorted(changed.items(), key=lambda item: (-item[1], item[0]))[:10]
    total = sum(changed.values())
    return {
        "top100_neighbours_changed": total,
        "top100_share_changed": round(total / max(1, len(changed) * DIFF_K), 4),
        "most_changed": ", ".join(f"{movie} ({n}/10)" for movie, n in most if n),
    }
