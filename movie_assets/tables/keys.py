"""Every asset's name, defined once: the graph, the tables under delta/ and the tests all use these."""

RATINGS_CSV = "ratings_csv"
MOVIES_CSV = "movies_csv"
RATINGS_BRONZE = "ratings_bronze"
RATINGS_QUARANTINE = "ratings_quarantine"
MOVIES_BRONZE = "movies_bronze"
MOVIES_QUARANTINE = "movies_quarantine"
RATINGS_SILVER = "ratings_silver"
USER_MEAN_COUNT_SILVER = "user_mean_count_silver"
MOVIE_MEAN_COUNT_SILVER = "movie_mean_count_silver"
USER_MOVIE_TITLE_RATING = "user_movie_title_rating"
ALS_ITEM_FACTORS = "als_item_factors"
ALS_EVALUATION = "als_evaluation"
SIMILARITY_EVALUATION = "similarity_evaluation"
SIMILARITY_TUNING = "similarity_tuning"
MOVIE_NEIGHBORS = "movie_neighbors"
SIMILAR_MOVIES = "similar_movies"


def pool(table: str) -> str:
    """The concurrency pool of a table's writer and its maintenance: one at a time with default_limit 1."""
    return f"delta_{table}"
