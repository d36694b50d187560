"""The landing CSV files: external assets, observed (not computed) by the landing sensor."""

import dagster as dg

ratings_csv = dg.AssetSpec(
    "ratings_csv",
    group_name="landing",
    description="ratings*.csv files in landing/ (userId,movieId,rating,timestamp), as MovieLens ships them.",
    kinds={"csv"},
)
movies_csv = dg.AssetSpec(
    "movies_csv",
    group_name="landing",
    description="movies*.csv files in landing/ (movieId,title,genres), as MovieLens ships them.",
    kinds={"csv"},
)
