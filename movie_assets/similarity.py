"""Cosine similarity over item factors with numpy: normalize once, then one matrix-vector product per query."""

from dataclasses import dataclass

import numpy as np

BLOCK = 64  # similarities are scanned in blocks of this many to find a safe top-k threshold cheaply


@dataclass(frozen=True)
class FactorIndex:
    """Movie ids (ascending) and their unit-length factor vectors as columns (zero vectors stay zero).

    Columns are padded with zeros to a multiple of BLOCK; padding never enters an answer.
    """

    ids: np.ndarray
    unit_t: np.ndarray

    @classmethod
    def build(cls, ids: np.ndarray, factors: np.ndarray) -> "FactorIndex":
        order = np.argsort(ids, kind="stable")
        vectors = np.asarray(factors, dtype=np.float64)[order]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        padded = np.zeros((unit.shape[1], -(-len(unit) // BLOCK) * BLOCK))
        padded[:, : len(unit)] = unit.T
        return cls(np.asarray(ids, dtype=np.int64)[order], padded)

    def position(self, movie_id: int) -> int | None:
        i = int(np.searchsorted(self.ids, movie_id))
        return i if i < len(self.ids) and self.ids[i] == movie_id else None

    def most_similar(self, movie_id: int, k: int) -> list[tuple[int, float]]:
        """The k other movies most similar to `movie_id`: best first, ties by movie id ascending."""
        i = self.position(movie_id)
        if i is None:
            raise KeyError(movie_id)
        n = len(self.ids)
        k = min(k, n - 1)
        if k <= 0:
            return []
        sims = self.unit_t[:, i] @ self.unit_t
        sims[n:] = -np.inf
        sims[i] = -np.inf  # the movie itself is excluded
        # The k-th largest block maximum is a lower bound of the k-th largest similarity (k distinct
        # values reach it), so every member of the top k, ties included, is at or above it.
        block_max = sims.reshape(-1, BLOCK).max(axis=1)
        threshold = np.partition(block_max, len(block_max) - k)[len(block_max) - k] if k <= len(block_max) else -np.inf
        candidates = np.flatnonzero(sims[:n] >= threshold - 1e-12)
        # Equal up to float rounding (1e-12) counts as a tie, broken by movie id.
        best = candidates[np.lexsort((self.ids[candidates], -np.round(sims[candidates], 12)))][:k]
        return [(int(self.ids[j]), float(sims[j])) for j in best]
