"""Checks on bronze: expectations and quarantine counts, unique movies, known movies. The expectations block ALS.

Every check reads its tables through the IO manager, as delta-rs tables: a check only counts, which `quality`
does with DataFusion, without Spark.
"""

import dagster as dg
from deltalake import DeltaTable

from movie_assets.lake.delta_rs import row_count
from movie_assets.lake.delta_tables import markdown_table
from movie_assets.resources.thresholds import QualityThresholds
from movie_assets.tables import keys, quality
from movie_assets.tables import schemas as S


def _severity(share: float, limit: float) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if share > limit else dg.AssetCheckSeverity.WARN


def _reasons_table(reasons: dict[str, int]) -> dg.MetadataValue:
    rows = [{"reason": r, "lines": n} for r, n in list(reasons.items())[:20]]
    return dg.MetadataValue.md(markdown_table(rows, ["reason", "lines"]))


def _expectations(bronze: DeltaTable, quarantine: DeltaTable, limit: float) -> dg.AssetCheckResult:
    """Like an expectation that drops rows: passes while the share of quarantined lines stays within `limit`."""
    kept = row_count(bronze)
    reasons = quality.reason_counts(quarantine)
    quarantined = sum(reasons.values())
    share = quarantined / max(kept + quarantined, 1)
    return dg.AssetCheckResult(
        passed=share <= limit,
        description=(
            f"{quarantined} of {kept + quarantined} data lines quarantined ({share:.2%}; fails above {limit:.2%})"
        ),
        metadata={
            "kept": kept,
            "quarantined": quarantined,
            "quarantined_share": dg.MetadataValue.float(share),
            "max_quarantined_share": dg.MetadataValue.float(limit),
            "reasons": _reasons_table(reasons),
        },
    )


@dg.asset_check(asset=keys.RATINGS_QUARANTINE)
def ratings_quarantine_empty(ratings_quarantine: DeltaTable) -> dg.AssetCheckResult:
    """A warning, with counts by reason, whenever any ratings line was quarantined."""
    return _quarantine_empty(ratings_quarantine)


@dg.asset_check(asset=keys.MOVIES_QUARANTINE)
def movies_quarantine_empty(movies_quarantine: DeltaTable) -> dg.AssetCheckResult:
    """A warning, with counts by reason, whenever any movies line was quarantined."""
    return _quarantine_empty(movies_quarantine)


def _quarantine_empty(quarantine: DeltaTable) -> dg.AssetCheckResult:
    reasons = quality.reason_counts(quarantine)
    files = quality.files_with_reasons(quarantine)
    return dg.AssetCheckResult(
        passed=not reasons,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"quarantined lines in {', '.join(files)}" if files else None,
        metadata={"quarantined": sum(reasons.values()), "reasons": _reasons_table(reasons)},
    )


@dg.asset_check(
    asset=keys.RATINGS_BRONZE, blocking=True, additional_ins={"quarantine": dg.AssetIn(keys.RATINGS_QUARANTINE)}
)
def ratings_expectations(
    ratings_bronze: DeltaTable, quarantine: DeltaTable, thresholds: QualityThresholds
) -> dg.AssetCheckResult:
    """Ratings lines meet the expectations (ids > 0, half-star rating 0.5-5.0, timestamp >= 0, 4 fields)."""
    return _expectations(ratings_bronze, quarantine, thresholds.max_quarantined_share)


@dg.asset_check(
    asset=keys.MOVIES_BRONZE, blocking=True, additional_ins={"quarantine": dg.AssetIn(keys.MOVIES_QUARANTINE)}
)
def movies_expectations(
    movies_bronze: DeltaTable, quarantine: DeltaTable, thresholds: QualityThresholds
) -> dg.AssetCheckResult:
    """Movies lines meet the expectations (movieId > 0, title present, 3 fields)."""
    return _expectations(movies_bronze, quarantine, thresholds.max_quarantined_share)


@dg.asset_check(asset=keys.MOVIES_BRONZE, blocking=True)
def movies_unique(movies_bronze: DeltaTable) -> dg.AssetCheckResult:
    """Each movieId appears once in movies_bronze."""
    duplicates = quality.duplicate_keys(movies_bronze, S.MOVIE_ID)
    return dg.AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_movie_ids": duplicates})


@dg.asset_check(asset=keys.RATINGS_BRONZE, additional_ins={"movies": dg.AssetIn(keys.MOVIES_BRONZE)})
def ratings_movies_known(
    ratings_bronze: DeltaTable, movies: DeltaTable | None, thresholds: QualityThresholds
) -> dg.AssetCheckResult:
    """Every rated movieId has a row in movies_bronze (a warning with the count)."""
    if movies is None:
        return dg.AssetCheckResult(
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            description="not checked: movies_bronze is not materialized yet",
        )
    rows, movie_ids = quality.unknown_movies(ratings_bronze, movies)
    share = rows / max(row_count(ratings_bronze), 1)
    return dg.AssetCheckResult(
        passed=rows == 0,
        severity=_severity(share, thresholds.max_unknown_movie_share),
        metadata={
            "ratings_with_unknown_movie": rows,
            "unknown_movie_ids": movie_ids,
            "share": dg.MetadataValue.float(share),
        },
    )
