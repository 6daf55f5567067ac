"""Fusion functions on hand-computed cases."""

from __future__ import annotations

import pytest

from qa.fusion import convex_combination, min_max, reciprocal_rank_fusion


def test_reciprocal_rank_fusion_sums_one_over_k_plus_rank() -> None:
    fused = dict(reciprocal_rank_fusion([["a", "b"], ["b", "c"]], k=60))
    assert fused == pytest.approx({"a": 1 / 61, "b": 1 / 62 + 1 / 61, "c": 1 / 62})


def test_min_max_rescales_to_unit_range_and_flat_scores_to_one() -> None:
    assert min_max({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert min_max({"a": 5.0, "b": 5.0}) == {"a": 1.0, "b": 1.0}
    assert min_max({}) == {}


@pytest.mark.parametrize(
    ("weight", "expected"),
    [
        # dense normalized: a 1, b 0; sparse normalized: b 1, c 0.5, d 0
        (0.5, [("a", 0.5), ("b", 0.5), ("c", 0.25), ("d", 0.0)]),
        (0.55, [("a", 0.55), ("b", 0.45), ("c", 0.225), ("d", 0.0)]),
    ],
)
def test_convex_combination_weighs_normalized_scores(weight: float, expected: list) -> None:
    fused = convex_combination({"a": 0.9, "b": 0.5}, {"b": 12.0, "c": 8.0, "d": 4.0}, weight=weight)
    assert [key for key, _ in fused] == [key for key, _ in expected]
    assert [score for _, score in fused] == pytest.approx([score for _, score in expected])
