"""Each table's rule, without Dagster: names, schemas, the line grammar, the silver transforms."""
