"""What a person runs: the `movie-assets` CLI and the movie-picker app."""
