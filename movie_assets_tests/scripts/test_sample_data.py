"""The synthetic MovieLens-shaped generator: deterministic, and shaped like MovieLens."""

import csv
from collections import Counter
from pathlib import Path

import pytest

from movie_assets.scripts import sample_data


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sample") / "landing"
    sample_data.generate(folder, 100_000, seed=7)
    return folder


def rows(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_shape(landing: Path) -> None:
    ratings, movies = rows(landing / "ratings.csv"), rows(landing / "movies.csv")
    assert ratings[0] == ["userId", "movieId", "rating", "timestamp"]
    assert movies[0] == ["movieId", "title", "genres"]
    body = ratings[1:]
    assert 90_000 <= len(body) <= 110_000
    per_user = Counter(r[0] for r in body)
    assert min(per_user.values()) >= sample_data.MIN_PER_USER
    assert len({(r[0], r[1]) for r in body}) == len(body)  # one rating per user and movie
    assert {float(r[2]) for r in body} <= {x / 2 for x in range(1, 11)}
    per_movie = sorted(Counter(r[1] for r in body).values(), reverse=True)
    assert per_movie[0] > 10 * per_movie[len(per_movie) // 2]  # long tail
    titles = [m[1] for m in movies[1:]]
    assert any(", The" in t for t in titles) and any('"' in t for t in titles) and any("é" in t for t in titles)
    assert all("|" in m[2] or m[2] in sample_data.GENRES for m in movies[1:])


def test_deterministic(landing: Path, tmp_path: Path) -> None:
    sample_data.generate(tmp_path, 100_000, seed=7)
    assert (tmp_path / "ratings.csv").read_bytes() == (landing / "ratings.csv").read_bytes()


@pytest.mark.parametrize("size", [99_999, 25_000_001])
def test_size_out_of_range(size: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="out of range"):
        sample_data.generate(tmp_path, size)
    assert sample_data.main(["--ratings", str(size), "--data-dir", str(tmp_path)]) == 2
