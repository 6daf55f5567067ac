"""qa.history: turns saved in SQLite beside the index, per notebook, read back as they were."""

from __future__ import annotations

from pathlib import Path

from qa import Retriever
from qa.history import DEFAULT_NOTEBOOK, History, Turn, notebook_name
from qa.sources import compare_sources
from qa.timeline import coverage

SEED_QUESTION = "who was suspected of the Kadhimi attack"


def real_turn(retriever: Retriever, question: str) -> Turn:
    answer, candidates = retriever.ask_rated(question, k=3)
    return Turn(answer, tuple(compare_sources(question, answer.hits, candidates)),
                coverage((hit.doc_id, hit.date) for hit in answer.hits), "words and meaning (hybrid) · top 3", False)


def test_turns_come_back_equal_per_notebook_and_in_order(tmp_path: Path, seed_retriever: Retriever) -> None:
    first, second = real_turn(seed_retriever, SEED_QUESTION), real_turn(seed_retriever, "how many drones were used")
    History.beside(tmp_path / "index").add("iraq", first)
    History.beside(tmp_path / "index").add("iraq", second)
    History.beside(tmp_path / "index").add("other story", second)
    reopened = History.beside(tmp_path / "index")
    assert reopened.path == tmp_path / "index-history.sqlite"
    assert reopened.turns("iraq") == [first, second]
    assert reopened.turns("iraq")[0].answer.best == first.answer.best and first.answer.confident
    assert reopened.turns("other story") == [second]


def test_clear_forgets_one_notebook_only(tmp_path: Path, seed_retriever: Retriever) -> None:
    history, turn = History(tmp_path / "history.sqlite"), real_turn(seed_retriever, SEED_QUESTION)
    history.add("a", turn)
    history.add("b", turn)
    history.clear("a")
    assert history.turns("a") == [] and history.turns("b") == [turn]


def test_notebook_names_are_tidied_and_blank_means_the_default() -> None:
    assert notebook_name("  Iraq   drones ") == "Iraq drones"
    assert notebook_name("") == notebook_name(None) == DEFAULT_NOTEBOOK
    assert len(notebook_name("x" * 500)) == 100
