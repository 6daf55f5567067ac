"""BM25: our score matrix equals bm25s's own, and extending an index equals building it again."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest

from qa.bm25 import BM25Index
from qa.text import tokenize
from tests.conftest import REPO

PARAGRAPHS = [p.strip() for path in sorted((REPO / "corpus").glob("*.txt"))
              for p in path.read_text().split("\n\n") if len(p.split()) > 5]
QUESTIONS = ["who was suspected of the Kadhimi attack", "drones Iran proxies", "armed factions election results"]


def test_scores_equal_bm25s_own_index() -> None:
    ours = BM25Index.build(PARAGRAPHS)
    theirs = bm25s.BM25(k1=1.2, b=0.75)
    theirs.index(tokenize(PARAGRAPHS), show_progress=False)
    for question in QUESTIONS:
        terms = tokenize([question])[0]
        np.testing.assert_allclose(ours.model.get_scores(terms), theirs.get_scores(terms), atol=1e-5)


def test_extending_a_saved_index_equals_building_it_again(tmp_path: Path) -> None:
    BM25Index.build(PARAGRAPHS).save(tmp_path / "bm25")
    base = BM25Index.load(tmp_path / "bm25", size=len(PARAGRAPHS))
    keep = np.ones(len(PARAGRAPHS), dtype=bool)
    keep[[1, 4, 7]] = False
    new = ["Saker falcons nest on the limestone cliffs above Duhok.", "Kadhimi's house was hit by a drone."]
    extended = BM25Index.build(new, base=base, keep=keep)
    rebuilt = BM25Index.build([p for p, kept in zip(PARAGRAPHS, keep) if kept] + new)
    assert extended.size == rebuilt.size == keep.sum() + len(new)
    for question in [*QUESTIONS, "falcons Duhok"]:
        (got, got_scores), (want, want_scores) = extended.search(question, 10), rebuilt.search(question, 10)
        assert got.tolist() == want.tolist()
        np.testing.assert_allclose(got_scores, want_scores, atol=1e-5)
    assert extended.search("falcons Duhok", 1)[0].tolist() == [rebuilt.size - 2]


@pytest.mark.parametrize("texts", [[], ["the and of"]])
def test_an_index_without_terms_finds_nothing(tmp_path: Path, texts: list[str]) -> None:
    BM25Index.build(texts).save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25", size=len(texts))
    positions, scores = loaded.search("falcons", 5)
    assert len(positions) == len(scores) == 0
    assert BM25Index.build(["falcons"], base=loaded, keep=np.ones(len(texts), bool)).search("falcons", 5)[0].size == 1


def test_question_words_do_not_count_in_a_query() -> None:
    index = BM25Index.build(["who knows what happened", "the drone attack on the residence",
                             "a drone show, which was cancelled"])
    positions, _ = index.search("which drone attack?", 3)
    plain, _ = index.search("drone attack", 3)
    assert positions.tolist() == plain.tolist() == [1, 2]
    # a query of question words alone has no terms, so it finds nothing (rather than "who knows what")
    assert index.search("who? what?", 3)[0].tolist() == []
