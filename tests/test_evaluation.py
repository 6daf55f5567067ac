"""Ranking metrics, answer decisions and thresholds on small hand-checked cases; a tiny BEIR set in tmp_path."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import pytest

from qa import Embedder, QAError, Settings
from qa.evaluation import (
    QuestionRecord,
    benchmark,
    choose_thresholds,
    decision_shares,
    document_ranking,
    evaluate,
    held_out_articles,
    held_out_only,
    load_beir,
    mrr_at_k,
    ndcg_at_k,
    read_records,
    recall_at_k,
    results_stem,
    threshold_table,
    write_results,
)

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


def record(query_id: str, kind: str, score: float | None, confident: bool = False,
           holds_answer: bool = False) -> QuestionRecord:
    return QuestionRecord(query_id, kind, score, confident, holds_answer, False, "")


MIXED = [
    record("a1", "answerable", 2.0, confident=True, holds_answer=True),
    record("a2", "answerable", 1.0, holds_answer=True),
    record("a3", "answerable", 1.6, confident=True),
    record("a4", "answerable", None),  # nothing found at all
    record("u1", "unanswerable", 1.7, confident=True),
    record("u2", "unanswerable", 0.4),
    record("f1", "filtered", 1.2),
]


def test_decision_shares_as_ask_decided() -> None:
    assert decision_shares(MIXED) == {
        "answerable answered": 0.5, "answered and right": 0.25, "unanswerable declined": 0.5,
        "declined with the article filtered out": 1.0,
    }


def test_decision_shares_at_candidate_thresholds_count_a_score_equal_to_the_threshold_as_answered() -> None:
    assert threshold_table(MIXED, [1.0, 1.8, 2.0]) == [
        # answered: a1 a2 a3 of 4 (right: a1 a2); u2 of 2 declined; f1 (1.2) answered
        {"threshold": 1.0, "answerable answered": 0.75, "answered and right": 0.5, "unanswerable declined": 0.5,
         "declined with the article filtered out": 0.0},
        {"threshold": 1.8, "answerable answered": 0.25, "answered and right": 0.25, "unanswerable declined": 1.0,
         "declined with the article filtered out": 1.0},
        {"threshold": 2.0, "answerable answered": 0.25, "answered and right": 0.25, "unanswerable declined": 1.0,
         "declined with the article filtered out": 1.0},
    ]


def test_decision_shares_leave_out_groups_without_records() -> None:
    assert decision_shares(MIXED[:4], 1.0) == {"answerable answered": 0.75, "answered and right": 0.5}


def test_records_read_back_from_a_saved_report(tmp_path: Path) -> None:
    path = tmp_path / "eval-x.json"
    path.write_text(json.dumps({"questions": [asdict(r) for r in MIXED]}))
    assert read_records(path) == MIXED


def test_thresholds_maximize_youdens_j_and_the_strong_one_lets_no_unanswerable_question_pass() -> None:
    records = [
        *(record(f"q{i}", "answerable", score, holds_answer=True) for i, score in enumerate([0.5, 1.2, 1.5, 2.0], 1)),
        record("q5", "answerable", 1.25),  # asked again, but its sentence holds no answer: not a positive
        record("q6", "answerable", 0.1, holds_answer=True),  # not asked again: not a positive
        record("u1", "unanswerable", 3.0),  # not part of the calibration
        *(record(f"q{i}", "filtered", score) for i, score in enumerate([0.2, 0.6, 1.3, None, 0.1], 1)),
    ]
    # TPR - FPR: 1 - 0.4 at 0.5, 0.75 - 0.2 at 1.2, 0.5 - 0 at 1.5, 0.25 - 0 at 2.0
    calibration = choose_thresholds(records, current=1.0)
    assert (calibration.threshold, calibration.true_positive_rate, calibration.false_positive_rate) == (0.5, 1.0, 0.4)
    assert (calibration.strong_threshold, calibration.strong_tpr, calibration.strong_fpr) == (1.5, 0.5, 0.0)
    assert (calibration.current_tpr, calibration.current_fpr) == (0.75, 0.2)
    assert (calibration.positives, calibration.negatives) == (4, 5)


ARTICLES = [
    ("tesla_0", "Nikola Tesla", "Nikola Tesla was born in 1856 in Smiljan. He moved to the United States in 1884."),
    ("tesla_1", "Nikola Tesla", "In New York, Tesla worked for Thomas Edison before founding his own laboratory."),
    ("khan_0", "Genghis Khan", "Genghis Khan founded the Mongol Empire in 1206. He was born near the Onon River."),
    ("museum_0", "Victoria and Albert Museum", "The Victoria and Albert Museum in London was founded in 1852."),
]
QUESTIONS = [
    ("q1", "When was Nikola Tesla born?", ["1856"], "tesla_0"),
    ("q2", "Who did Tesla work for in New York?", ["Thomas Edison"], "tesla_1"),
    ("q3", "When did Genghis Khan found the Mongol Empire?", ["1206"], "khan_0"),
    ("q4", "In which city is the Victoria and Albert Museum?", ["London"], "museum_0"),
]


def write_beir(folder: Path, unanswerable: bool = True) -> Path:
    """A tiny SQuAD-style BEIR set (two paragraphs of one article), with `unanswerable.jsonl` if asked."""
    (folder / "qrels").mkdir(parents=True)
    lines = [json.dumps({"_id": i, "title": t, "text": text}) for i, t, text in ARTICLES]
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    lines = [json.dumps({"_id": i, "text": text, "metadata": {"answers": answers}})
             for i, text, answers, _ in QUESTIONS]
    (folder / "queries.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{i}\t{gold}\t1\n" for i, _, _, gold in QUESTIONS))
    if unanswerable:
        (folder / "unanswerable.jsonl").write_text(json.dumps(
            {"_id": "u1", "text": "What was the name of Genghis Khan's horse?",
             "metadata": {"answers": [], "gold": [], "is_impossible": True, "near": ["khan_0"]}}) + "\n")
    return folder


def test_unanswerable_questions_are_read_beside_the_queries(tmp_path: Path) -> None:
    beir = load_beir(write_beir(tmp_path / "tiny"))
    assert [q.query_id for q in beir.queries] == ["q1", "q2", "q3", "q4"]
    assert [(q.query_id, q.answers) for q in beir.unanswerable] == [("u1", ())]
    assert "u1" not in beir.qrels
    assert load_beir(write_beir(tmp_path / "plain", unanswerable=False)).unanswerable == ()


def test_held_out_keeps_the_questions_of_those_articles_and_every_unanswerable_one(tmp_path: Path) -> None:
    beir = held_out_only(load_beir(write_beir(tmp_path / "tiny")), ["Nikola Tesla", "Genghis Khan"])
    assert [q.query_id for q in beir.queries] == ["q1", "q2", "q3"]
    assert set(beir.qrels) == {"q1", "q2", "q3"}
    assert [q.query_id for q in beir.unanswerable] == ["u1"]
    with pytest.raises(QAError):
        held_out_only(beir, ["Super Bowl 50"])


def test_held_out_articles_are_read_from_the_model_file(tmp_path: Path) -> None:
    path = tmp_path / "answer-scorer.json"
    path.write_text(json.dumps({"held_out_articles": ["Genghis Khan", "Nikola Tesla"], "weights": [1.0]}))
    assert held_out_articles(path) == ("Genghis Khan", "Nikola Tesla")
    path.write_text("{}")
    with pytest.raises(QAError):
        held_out_articles(path)


@pytest.mark.parametrize(("held_out", "stem"),
                         [([], "eval-squad-public"), (["Genghis Khan"], "eval-squad-public-heldout")])
def test_a_held_out_run_and_a_full_run_write_different_files(held_out: list[str], stem: str) -> None:
    assert results_stem({"set": "squad-public", "held_out_articles": held_out}) == stem


def test_a_held_out_run_records_every_question_asked(tmp_path: Path, embedder: Embedder) -> None:
    report = benchmark(write_beir(tmp_path / "tiny"), Settings(index_dir=tmp_path / "index"), embedder,
                       modes=("hybrid",), held_out=("Nikola Tesla",))
    # q1 and q2 asked, u1 asked, and q1 (the sample of every 4th) asked again without its article
    kinds = [(row["query_id"], row["kind"]) for row in report["questions"]]
    assert kinds == [("q1", "answerable"), ("q2", "answerable"), ("u1", "unanswerable"), ("q1", "filtered")]
    json_path, md_path = write_results(report, tmp_path / "out")
    assert json_path.name == "eval-tiny-heldout.json"
    records = read_records(json_path)
    assert report["decisions"] == decision_shares(records)
    assert report["answers"]["answer sentence contains an answer"] == sum(r.holds_answer for r in records[:2]) / 2
    assert not records[-1].gold_first  # its article was filtered out
    page = md_path.read_text()
    assert "held-out articles only" in page and "Nikola Tesla" in page and "unanswerable declined" in page
