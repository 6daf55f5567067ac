"""BM25 over chunk texts (bm25s, English stop words, Snowball stemming), saved beside the vectors."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import bm25s
import numpy as np
import Stemmer

logging.getLogger("bm25s").setLevel(logging.WARNING)
_STEMMER = Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed terms of each text."""
    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


class BM25Index:
    """Lexical scores for chunks, by position (row i is the i-th chunk of the generation)."""

    def __init__(self, model: bm25s.BM25, size: int) -> None:
        self.model = model
        self.size = size

    @classmethod
    def build(cls, texts: Sequence[str]) -> BM25Index:
        model = bm25s.BM25(k1=1.2, b=0.75)
        model.index(tokenize(texts), show_progress=False)
        return cls(model, len(texts))

    def save(self, folder: Path) -> None:
        self.model.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path, size: int) -> BM25Index:
        return cls(bm25s.BM25.load(str(folder), mmap=False), size)

    def search(self, query: str, n: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Positions and scores of the best `n` chunks with a positive score (and allowed by `mask`)."""
        terms = tokenize([query])[0]
        if not terms or self.size == 0:
            return np.array([], dtype=np.int64), np.array([], dtype=np.float32)
        scores = self.model.get_scores(terms)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        n = min(n, self.size)
        top = np.argpartition(-scores, n - 1)[:n] if n < self.size else np.arange(self.size)
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top.astype(np.int64), scores[top].astype(np.float32)
