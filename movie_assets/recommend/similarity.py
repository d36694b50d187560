"""Similarity over item factors with numpy: normalize once, then matrix products and a partial sort.

A candidate's similarity to a query is the cosine of their factors times (the candidate's length / the longest
candidate's length) ** `length_weight`: 0 is plain cosine; 1 is the query's unit direction times the
candidate's factor over the longest length, so a candidate's length counts (implicit ALS gives movies the
data is surer of, mostly often-watched ones, longer factors). Every similarity stays within [-1, 1].

Every ranking here is exact: candidates are screened cheaply, then rescored pair by pair in float64 the same
way by `most_similar` and `all_most_similar`, and sorted best first with ties (equal to 1e-12) by movie id.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

BLOCK = 32  # similarities are scanned in blocks of this many to find a safe top-k threshold cheaply
ROW_BLOCK = 32  # query movies per product: 32 x 59k float32 (7.5 MB) stays in cache for the scans
SCREEN_MARGIN = 1e-4  # float32 screening error bound (~1e-6 for unit vectors), kept generous


@dataclass(frozen=True)
class Neighbors:
    """The k nearest movies of every movie, as flat columns sorted by (movie_id, rank)."""

    movie_id: np.ndarray
    rank: np.ndarray
    similar_movie_id: np.ndarray
    similarity: np.ndarray


@dataclass(frozen=True)
class FactorIndex:
    """Movie ids (ascending), their unit-length factor vectors as queries, and as answers (each unit vector
    times (its length / the longest candidate's) ** length_weight); zero vectors stay zero.

    Rows are padded with zeros to a multiple of BLOCK; padding never enters an answer.
    """

    ids: np.ndarray
    unit: np.ndarray
    answer: np.ndarray
    excluded: np.ndarray  # positions that may ask but are never an answer (too few ratings)

    @classmethod
    def build(
        cls, ids: np.ndarray, factors: np.ndarray, candidate: np.ndarray | None = None, length_weight: float = 0.0
    ) -> "FactorIndex":
        """`candidate`: per movie, whether it may be an answer (default: every movie)."""
        order = np.argsort(ids, kind="stable")
        vectors = np.asarray(factors, dtype=np.float64)[order]
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        allowed = np.ones(len(order), dtype=bool) if candidate is None else np.asarray(candidate, dtype=bool)[order]
        longest = norms[allowed].max(initial=0.0) or 1.0
        scale = np.divide(norms, longest, out=np.zeros_like(norms), where=norms > 0) ** length_weight
        rows = -(-len(unit) // BLOCK) * BLOCK
        padded, answer = np.zeros((rows, unit.shape[1])), np.zeros((rows, unit.shape[1]))
        padded[: len(unit)], answer[: len(unit)] = unit, unit * scale
        return cls(np.asarray(ids, dtype=np.int64)[order], padded, answer, np.flatnonzero(~allowed))

    @property
    def candidates(self) -> int:
        return len(self.ids) - len(self.excluded)

    def position(self, movie_id: int) -> int | None:
        i = int(np.searchsorted(self.ids, movie_id))
        return i if i < len(self.ids) and self.ids[i] == movie_id else None

    def most_similar(self, movie_id: int, k: int) -> list[tuple[int, float]]:
        """The k other movies most similar to `movie_id`: best first, ties by movie id ascending."""
        i = self.position(movie_id)
        if i is None:
            raise KeyError(movie_id)
        k = min(k, self.candidates - (0 if i in self.excluded else 1))
        if k <= 0:
            return []
        sims = self.answer @ self.unit[i]
        rows, cols = self._candidates(sims[None, :], np.array([i]), k)
        rows, cols, exact = self._top_k(rows, cols, np.array([i]), k)
        return [(int(self.ids[j]), float(s)) for j, s in zip(cols, exact, strict=True)]

    def all_most_similar(self, k: int, workers: int | None = None) -> Neighbors:
        """The k nearest other movies of every movie, by blocks of float32 products screened with block maxima."""
        n = len(self.ids)
        k = min(k, self.candidates - 1)
        if k <= 0:
            empty = np.zeros(0, dtype=np.int64)
            return Neighbors(empty, empty, empty, np.zeros(0))
        unit32, answer32 = self.unit.astype(np.float32), self.answer.astype(np.float32)

        def block(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            queries = np.arange(start, min(start + ROW_BLOCK, n))
            sims = unit32[queries] @ answer32.T
            rows, cols = self._candidates(sims, queries, k, margin=SCREEN_MARGIN)
            del sims
            rows, cols, exact = self._top_k(rows, cols, queries, k)
            return queries[rows], cols, exact

        # One thread per core over row blocks; BLAS's own threads would only compete with them.
        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(workers or os.cpu_count() or 2) as pool:
            parts = list(pool.map(block, range(0, n, ROW_BLOCK)))
        rows = np.concatenate([p[0] for p in parts])
        cols = np.concatenate([p[1] for p in parts])
        return Neighbors(
            movie_id=self.ids[rows],
            rank=np.tile(np.arange(1, k + 1), n),
            similar_movie_id=self.ids[cols],
            similarity=np.concatenate([p[2] for p in parts]),
        )

    def _candidates(
        self, sims: np.ndarray, queries: np.ndarray, k: int, margin: float = 1e-12
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) pairs that may be in each row's top k: at least k per row, usually a few more.

        Columns are grouped into blocks (column j is in block j mod blocks: the maxima are then an element-wise
        maximum of BLOCK contiguous slices, which vectorizes). The k-th largest block maximum is a lower bound
        of the k-th largest similarity (k distinct values reach it), so every member of the top k, ties
        included, is at or above it, less the screening margin; only blocks whose maximum reaches it are read.
        """
        n, m = len(self.ids), len(queries)
        sims[:, n:] = -np.inf
        sims[:, self.excluded] = -np.inf
        sims[np.arange(m), queries] = -np.inf  # a movie is not its own neighbour
        block_max = sims.reshape(m, BLOCK, -1).max(axis=1)
        blocks = block_max.shape[1]
        floor = -1.5  # similarities are >= -1: a floor below that keeps the excluded (-inf) entries out
        threshold = np.partition(block_max, blocks - k, axis=1)[:, blocks - k] if k <= blocks else np.full(m, floor)
        threshold = (np.maximum(threshold, floor) - margin).astype(sims.dtype)
        rows, hit_blocks = np.nonzero(block_max >= threshold[:, None])
        width = sims.shape[1]
        flat = (rows * width + hit_blocks)[:, None] + blocks * np.arange(BLOCK)
        flat = flat[np.take(sims.ravel(), flat) >= threshold[rows, None]]
        return np.divmod(flat, width)

    def _top_k(
        self, rows: np.ndarray, cols: np.ndarray, queries: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rescore the candidates in float64, sort each row best first (ties by id), keep k per row."""
        exact = np.einsum("ij,ij->i", self.unit[queries[rows]], self.answer[cols])
        order = np.lexsort((self.ids[cols], -np.round(exact, 12), rows))
        rows, cols, exact = rows[order], cols[order], exact[order]
        first = np.searchsorted(rows, rows, side="left")
        keep = np.arange(len(rows)) - first < k
        return rows[keep], cols[keep], exact[keep]
