"""The ALS configurations, each defined once: the factors that answer, and the rating model that RMSE scores.

`als_item_factors` fits `answer` (what `answers_from` names) on the ratings less `split`'s held-out likes, and the
promotion gate and `similarity_evaluation` score exactly those factors on those likes; `similar_movies`,
`movie_neighbors` and the evaluation rank them by its `rule()`; `als_evaluation` uses `rating`, the original
notebook's explicit model. Setting `answers_from: rating` makes the answers come
from the original's factors, ranked by cosine, again.
"""

from typing import Literal

import dagster as dg
from pydantic import Field

from movie_assets.recommend import als
from movie_assets.recommend.answer_quality import SplitConfig
from movie_assets.recommend.neighbors import AnswerRule


class AlsConfig(dg.Config):
    """One Spark ML ALS configuration; the defaults are the original notebook's explicit model."""

    rank: int = Field(default=10, ge=1, le=1000, description="latent factors per user and movie")
    max_iter: int = Field(default=10, ge=1, le=1000, description="alternating iterations")
    reg_param: float = Field(default=0.1, ge=0, description="L2 regularization")
    implicit_prefs: bool = Field(default=False, description="fit preferences weighted by the ratings (implicit)")
    alpha: float = Field(default=1.0, ge=0, description="confidence per rating point, with implicit_prefs")
    dislike_below: float = Field(
        default=0.0, ge=0, le=5, description="with implicit_prefs: ratings below it count as dislikes, not weak likes"
    )
    nonnegative: bool = False
    seed: int = Field(default=42, description="random seed: the same seed gives the same factors")
    blocks: int = Field(default=0, ge=0, le=10_000, description="user and item blocks (0: the parallelism)")
    min_ratings: int = Field(
        default=1, ge=1, description="when these factors answer: movies with fewer ratings are never an answer"
    )
    length_weight: float = Field(
        default=0.0, ge=0, le=1, description="when these factors answer: 0 ranks by cosine, 1 lets factor length count"
    )

    def params(self) -> als.AlsParams:
        return als.AlsParams(**self.model_dump(exclude=set(AnswerRule.__dataclass_fields__)))

    def rule(self) -> AnswerRule:
        return AnswerRule(**{f: getattr(self, f) for f in AnswerRule.__dataclass_fields__})


class ImplicitAlsConfig(AlsConfig):
    """The similarity model's defaults: implicit ALS with dislikes, answers leaning to long factors; chosen on
    quality per cost (`benchmarks/als_grid.py` on ml-latest-small, 1M and 25M ratings: docs/answer-quality.md)."""

    rank: int = Field(default=16, ge=1, le=1000, description="latent factors per user and movie")
    max_iter: int = Field(default=5, ge=1, le=1000, description="alternating iterations")
    reg_param: float = Field(default=0.1, ge=0, description="L2 regularization")
    implicit_prefs: bool = Field(default=True, description="fit preferences weighted by the ratings (implicit)")
    alpha: float = Field(default=1.0, ge=0, description="confidence per rating point, with implicit_prefs")
    dislike_below: float = Field(
        default=2.5, ge=0, le=5, description="with implicit_prefs: ratings below it count as dislikes, not weak likes"
    )
    min_ratings: int = Field(
        default=10, ge=1, description="when these factors answer: movies with fewer ratings are never an answer"
    )
    length_weight: float = Field(
        default=1.0, ge=0, le=1, description="when these factors answer: 0 ranks by cosine, 1 lets factor length count"
    )


class AlsModels(dg.ConfigurableResource):
    """Which ALS configuration makes the factors that answer, and each configuration's settings."""

    answers_from: Literal["implicit", "rating"] = Field(
        default="implicit", description="'implicit': the tuned similarity model; 'rating': the original's model"
    )
    implicit: ImplicitAlsConfig = Field(default_factory=ImplicitAlsConfig, description="the similarity model")
    rating: AlsConfig = Field(default_factory=AlsConfig, description="the original's explicit rating model")
    split: SplitConfig = Field(
        default_factory=SplitConfig,
        description="the held-out likes: the answer model is fitted without them and judged and evaluated on them",
    )

    @property
    def answer(self) -> AlsConfig:
        return self.implicit if self.answers_from == "implicit" else self.rating
