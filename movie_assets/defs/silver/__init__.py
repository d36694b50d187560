"""Silver: the current ratings, their aggregates and the title join, and their checks."""
