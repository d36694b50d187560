"""Serving: the movies most like a chosen one, and every movie's neighbours."""
