"""The graph's definitions for tests that materialize them in process: as the code location loads them."""

from movie_assets.definitions import graph

GRAPH = graph()
ASSETS = list(GRAPH.assets or [])
CHECKS = list(GRAPH.asset_checks or [])
