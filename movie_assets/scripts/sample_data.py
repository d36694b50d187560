"""Deterministic, offline, MovieLens-shaped sample data: `python -m movie_assets.scripts.sample_data --ratings N`.

Users have low-rank tastes (so ALS has structure to find) that decide both which movies they rate (beside a
long-tailed popularity) and how they rate them; every user rates at least 20 movies, ratings are half stars
0.5-5.0, and titles carry commas, quotes and accents.
Ratings are generated and written in blocks of users, so 25,000,000 ratings need little memory.
"""

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

from movie_assets.resources.lakehouse import Lakehouse, default_data_dir

MIN_RATINGS, MAX_RATINGS = 100_000, 25_000_000
MIN_PER_USER = 20
RANK = 8
CHOICE = 3  # movies considered per movie rated
CHOICE_TASTE = 1.5  # how much taste, beside popularity, decides what a user rates
GENRES = [
    "Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
ADJECTIVES = ["Silent", "Last", "Golden", "Crimson", "Hidden", "Lost", "Brave", "Little", "Wild", "Frozen",
              "Électrique", "Amélie's", "Dark", "Happy", "Broken", "Secret"]  # fmt: skip
NOUNS = ["River", "Summer", "City", "Dream", "Garden", "Heist", "Journey", "Kingdom", "Letter", "Machine",
         "Night", "Ocean", "Promise", "Road", "Storm", "Café"]  # fmt: skip


def validate_size(ratings: int) -> int:
    if not MIN_RATINGS <= ratings <= MAX_RATINGS:
        raise ValueError(f"--ratings {ratings} is out of range: choose {MIN_RATINGS:,} to {MAX_RATINGS:,}.")
    return ratings


def shape(ratings: int) -> tuple[int, int]:
    """Users and movies in MovieLens 25M's proportions (about 154 ratings per user, 400 per movie)."""
    return ratings // 154, max(ratings // 400, 2000)


def movie_title(rng: np.random.Generator, movie_id: int) -> str:
    year = 1920 + movie_id % 100
    name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    kind = movie_id % 10
    if kind == 3:
        name = f"{name}, The"  # MovieLens puts articles last, after a comma
    elif kind == 7:
        name = f'"{name}" Returns'  # quotes inside the title
    return f"{name} {movie_id} ({year})"


def write_movies(path: Path, n_movies: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["movieId", "title", "genres"])
        for movie_id in range(1, n_movies + 1):
            genres = rng.choice(GENRES, size=int(rng.integers(1, 4)), replace=False)
            writer.writerow([movie_id, movie_title(rng, movie_id), "|".join(genres)])


def _ratings_block(
    rng: np.random.Generator, users: np.ndarray, movie_factors: np.ndarray, popularity: np.ndarray, per_user: float
) -> np.ndarray:
    """Rows (userId, movieId, rating, timestamp) for one block of users, at least MIN_PER_USER each."""
    n_movies = len(popularity)
    extra = rng.geometric(1 / max(per_user - MIN_PER_USER, 1.0), len(users))
    counts = np.minimum(MIN_PER_USER + extra, n_movies // 2)
    tastes = rng.normal(0, 1, (len(users), RANK))
    # People watch what is popular and what suits them: draw CHOICE x as many movies as each user rates by
    # popularity, then keep the ones that suit the user best, with noise (Gumbel top-k: a sample without
    # replacement weighted by exp(CHOICE_TASTE x taste score)).
    user_of = np.repeat(users, CHOICE * counts)
    movie = rng.choice(n_movies, size=len(user_of), p=popularity)
    local = np.searchsorted(users, user_of)
    fit = np.einsum("ij,ij->i", tastes[local], movie_factors[movie]) / np.sqrt(RANK)
    key = CHOICE_TASTE * fit + rng.gumbel(size=len(fit))
    order = np.lexsort((-key, user_of))
    user_of, movie = user_of[order], movie[order]
    rank_in_user = np.arange(len(user_of)) - np.searchsorted(user_of, user_of)
    keep = rank_in_user < np.repeat(counts, CHOICE * counts)
    user_of, movie = user_of[keep], movie[keep]
    # A run of MIN_PER_USER distinct movies per user guarantees the minimum after duplicates are removed.
    floor_user = np.repeat(users, MIN_PER_USER)
    floor_movie = (rng.integers(0, n_movies, len(users))[:, None] + np.arange(MIN_PER_USER)).ravel() % n_movies
    keys = np.unique(
        np.concatenate([user_of, floor_user]).astype(np.int64) * n_movies + np.concatenate([movie, floor_movie])
    )
    user_of, movie = keys // n_movies, keys % n_movies
    local = np.searchsorted(users, user_of)
    score = np.einsum("ij,ij->i", tastes[local], movie_factors[movie]) / np.sqrt(RANK)
    score += rng.normal(0, 0.35, len(score))
    rating = np.clip(np.round((3.5 + 1.1 * score) * 2) / 2, 0.5, 5.0)
    timestamp = rng.integers(946_684_800, 1_577_836_800, len(score))  # 2000-2020
    return np.column_stack([user_of, movie + 1, rating, timestamp])


def movie_tastes(n_movies: int, seed: int) -> tuple[np.random.Generator, np.ndarray]:
    """The ratings' random generator and the movies' taste factors it draws first (the generator's ground truth)."""
    rng = np.random.default_rng(seed + 1)
    return rng, rng.normal(0, 1, (n_movies, RANK))


def write_ratings(path: Path, n_ratings: int, n_users: int, n_movies: int, seed: int) -> int:
    rng, movie_factors = movie_tastes(n_movies, seed)
    popularity = 1.0 / (np.arange(n_movies) + 10.0) ** 1.1  # long tail
    popularity = rng.permutation(popularity / popularity.sum())
    target = n_ratings / n_users
    per_user = target  # asked per user; raised as duplicates are removed, so the total lands near n_ratings
    written = 0
    block = max(50, min(2000, n_users // 20))
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("userId,movieId,rating,timestamp\n")
        for start in range(1, n_users + 1, block):
            users = np.arange(start, min(start + block, n_users + 1))
            rows = _ratings_block(rng, users, movie_factors, popularity, per_user)
            per_user = float(np.clip(per_user * target / (len(rows) / len(users)), target, 4 * target))
            buffer = io.StringIO()
            np.savetxt(buffer, rows, fmt=["%d", "%d", "%.1f", "%d"], delimiter=",")
            handle.write(buffer.getvalue())
            written += len(rows)
    return written


def generate(landing: Path, n_ratings: int, seed: int = 42) -> dict[str, int]:
    """Write ratings.csv and movies.csv into `landing`; returns the counts written."""
    validate_size(n_ratings)
    landing.mkdir(parents=True, exist_ok=True)
    n_users, n_movies = shape(n_ratings)
    write_movies(landing / "movies.csv", n_movies, seed)
    written = write_ratings(landing / "ratings.csv", n_ratings, n_users, n_movies, seed)
    return {"ratings": written, "users": n_users, "movies": n_movies}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratings", type=int, default=MIN_RATINGS, help="about how many ratings (100k-25M)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data-dir", default=None, help="data root (default $MOVIE_ASSETS_DATA_DIR or data/)")
    args = parser.parse_args(argv)
    try:
        validate_size(args.ratings)
        landing = Path(Lakehouse(data_dir=args.data_dir or default_data_dir()).landing)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    counts = generate(landing, args.ratings, args.seed)
    print(
        f"wrote {counts['ratings']:,} ratings by {counts['users']:,} users of {counts['movies']:,} movies to {landing}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
