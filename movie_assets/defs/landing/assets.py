"""The landing CSV files: external assets, observed (not computed) by the landing sensor."""

import dagster as dg

from movie_assets.tables.ingest import MOVIES, RATINGS

ratings_csv = dg.AssetSpec(
    RATINGS.csv_key,
    group_name="landing",
    description=f"{RATINGS.pattern} files in landing/ ({','.join(RATINGS.header)}), as MovieLens ships them.",
    kinds={"csv"},
)
movies_csv = dg.AssetSpec(
    MOVIES.csv_key,
    group_name="landing",
    description=f"{MOVIES.pattern} files in landing/ ({','.join(MOVIES.header)}), as MovieLens ships them.",
    kinds={"csv"},
)
