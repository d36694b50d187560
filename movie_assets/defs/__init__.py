"""Dagster definitions per layer, loaded by `dg.load_from_defs_folder` (see definitions.py)."""
