"""Similar movies from ALS item factors, how good they are, and the promotion gate."""
