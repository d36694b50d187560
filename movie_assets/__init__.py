"""MovieLens similar-movies lakehouse: Dagster assets over Delta Lake tables, built with PySpark."""
