"""Ranking metrics on small hand-checked cases."""

from __future__ import annotations

import math

import pytest

from qa.evaluation import choose_thresholds, document_ranking, evaluate, mrr_at_k, ndcg_at_k, recall_at_k

TWO_RELEVANT = {"q": {"a": 1, "b": 1}}


@pytest.mark.parametrize(
    ("qrels", "ranking", "expected"),
    [
        # 1/log2(2) + 1/log2(4) over the ideal 1 + 1/log2(3)
        (TWO_RELEVANT, ["a", "x", "b"], 1.5 / (1 + 1 / math.log2(3))),
        (TWO_RELEVANT, ["a", "b"], 1.0),
        (TWO_RELEVANT, ["x", "y"], 0.0),
        # graded relevance: linear gain, 1 + 2/log2(3) over 2 + 1/log2(3)
        ({"q": {"a": 2, "b": 1}}, ["b", "a"], (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))),
    ],
)
def test_ndcg_at_10(qrels: dict, ranking: list[str], expected: float) -> None:
    assert ndcg_at_k(qrels, {"q": ranking}, 10) == pytest.approx(expected)


def test_ndcg_ignores_ranks_past_the_cutoff() -> None:
    assert ndcg_at_k({"q": {"a": 1}}, {"q": ["x", "y", "a"]}, 2) == 0.0


@pytest.mark.parametrize(("k", "expected"), [(1, 0.5), (2, 0.5), (3, 1.0), (100, 1.0)])
def test_recall_at_k(k: int, expected: float) -> None:
    assert recall_at_k(TWO_RELEVANT, {"q": ["a", "x", "b"]}, k) == expected


@pytest.mark.parametrize(("k", "expected"), [(2, 0.0), (3, 1 / 3), (10, 1 / 3)])
def test_mrr_counts_the_first_relevant_within_the_cutoff(k: int, expected: float) -> None:
    assert mrr_at_k({"q": {"a": 1, "c": 1}}, {"q": ["x", "y", "a", "c"]}, k) == pytest.approx(expected)


def test_a_query_missing_from_the_run_scores_zero() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    assert mrr_at_k(qrels, {"q1": ["a"]}, 10) == 0.5


def test_queries_without_a_relevant_document_are_not_averaged() -> None:
    qrels = {"q1": {"a": 1}, "q2": {"b": 0}}
    assert evaluate(qrels, {"q1": ["a"]}) == {
        "nDCG@10": 1.0, "MRR@10": 1.0, "R@1": 1.0, "R@5": 1.0, "R@10": 1.0, "R@100": 1.0
    }


def test_document_ranking_keeps_each_document_at_its_best_rank() -> None:
    assert document_ranking(["d1", "d2", "d1", "d3", "d2"]) == ["d1", "d2", "d3"]


def test_thresholds_maximize_youdens_j_and_the_strong_one_lets_no_unanswerable_question_pass() -> None:
    answered = [0.5, 1.2, 1.25, 1.5, 2.0]
    unanswerable = [0.2, 0.6, 1.3, -math.inf]  # -inf: nothing was found at all
    # TPR - FPR: 0.5 at 0.5, 0.55 at 1.2, 0.35 at 1.25, 0.4 at 1.5, 0.2 at 2.0
    calibration = choose_thresholds(answered, unanswerable, current=1.0)
    assert (calibration.threshold, calibration.true_positive_rate, calibration.false_positive_rate) == (1.2, 0.8, 0.25)
    assert (calibration.strong_threshold, calibration.strong_tpr, calibration.strong_fpr) == (1.5, 0.4, 0.0)
    assert (calibration.current_tpr, calibration.current_fpr) == (0.8, 0.25)
    assert (calibration.positives, calibration.negatives) == (5, 4)
