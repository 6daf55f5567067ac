"""Fusing ranked lists: reciprocal rank fusion and a convex combination of normalized scores. Pure functions."""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Hashable]], k: int = 60) -> list[tuple[Hashable, float]]:
    """Score each id by sum(1 / (k + rank)) over the rankings it appears in (rank starts at 1); best first.

    Cormack, Clarke and Buettcher (2009), "Reciprocal rank fusion outperforms Condorcet and individual
    rank learning methods".
    """
    scores: dict[Hashable, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: (-pair[1], str(pair[0])))


def min_max(scores: dict[Hashable, float]) -> dict[Hashable, float]:
    """Scores rescaled to [0, 1]; all equal scores become 1."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high == low:
        return {key: 1.0 for key in scores}
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def convex_combination(
    dense: dict[Hashable, float], sparse: dict[Hashable, float], weight: float = 0.5
) -> list[tuple[Hashable, float]]:
    """weight * minmax(dense) + (1 - weight) * minmax(sparse); an id missing from a list scores 0 there."""
    dense_n, sparse_n = min_max(dense), min_max(sparse)
    fused = {
        key: weight * dense_n.get(key, 0.0) + (1 - weight) * sparse_n.get(key, 0.0)
        for key in dense_n.keys() | sparse_n.keys()
    }
    return sorted(fused.items(), key=lambda pair: (-pair[1], str(pair[0])))
