"""The data-quality thresholds the asset checks apply, configurable per run or per deployment."""

import dagster as dg
from pydantic import Field, ValidationInfo, field_validator


class QualityThresholds(dg.ConfigurableResource):
    """A warning becomes a failure (which blocks ALS) above these limits."""

    max_quarantined_share: float = Field(
        default=0.01, description="share of data lines quarantined (0..1) above which bronze checks fail"
    )
    max_unknown_movie_share: float = Field(
        default=0.01, description="share of ratings whose movie is not in movies (0..1) above which the check fails"
    )

    @field_validator("max_quarantined_share", "max_unknown_movie_share")
    @classmethod
    def _share(cls, value: float, info: ValidationInfo) -> float:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{info.field_name}={value} is not a share: use 0..1")
        return value
