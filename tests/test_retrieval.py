"""Retrieval on the real model and index: the seed question, dense search vs brute force, filters, PDF pages."""

from __future__ import annotations

import datetime as dt
import gc
import os
import re
from pathlib import Path

import numpy as np
import pytest

from qa import Embedder, Filters, Retriever, Settings, sync
from qa.errors import QuestionError
from tests.conftest import SEED_QUESTION
from tests.test_loading import make_pdf


def test_seed_question_finds_the_middle_east_eye_suspect_passage(seed_retriever: Retriever) -> None:
    hits = seed_retriever.search(SEED_QUESTION, k=3)
    suspect = [hit for hit in hits if "Kataeb Sayyid al-Shuhada is the key suspect" in hit.text]
    assert suspect, [hit.text[:80] for hit in hits]
    hit = suspect[0]
    assert (hit.publisher, hit.date) == ("Middle East Eye", "2021-11-28")
    assert hit.title.startswith("Betrayed by Iran?")


def test_seed_question_top_answer_is_the_suspect_sentence(seed_retriever: Retriever) -> None:
    answer = seed_retriever.ask(SEED_QUESTION, k=5)
    assert answer.confident
    assert "Kataeb Sayyid al-Shuhada is the key suspect" in answer.text
    assert answer.best.publisher == "Middle East Eye"
    for hit in answer.hits:
        assert hit.text[hit.answer.start : hit.answer.end] == hit.answer_text


def test_stories_give_each_hits_whole_document(seed_retriever: Retriever) -> None:
    hits = seed_retriever.search(SEED_QUESTION, k=100)  # every passage of both seed articles
    stories = seed_retriever.stories(hits)
    assert set(stories) == {hit.doc_id for hit in hits}
    for hit in hits:  # its title, publisher and author, then the whole text, of which the passage is a part
        document = seed_retriever.document(hit.doc_id)
        assert stories[hit.doc_id].startswith(f"{document.title}\n{document.publisher}\n{document.author}\n")
        assert stories[hit.doc_id].endswith(document.text) and hit.text in document.text
    assert len(stories) == 2 and all(len(story) > max(len(hit.text) for hit in hits) for story in stories.values())


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_mode_ranks_hits_in_order(seed_retriever: Retriever, mode: str) -> None:
    hits = seed_retriever.search(SEED_QUESTION, k=5, mode=mode)
    assert [hit.rank for hit in hits] == list(range(1, len(hits) + 1))
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_dense_mode_equals_brute_force_cosine(seed_retriever: Retriever, embedder: Embedder) -> None:
    generation = seed_retriever.store
    vectors = np.asarray(generation.vectors())
    scores = vectors @ embedder.encode_query(SEED_QUESTION)[0]
    expected = [int(generation.ids[i]) for i in np.argsort(-scores)[:5]]
    assert [hit.chunk_id for hit in seed_retriever.search(SEED_QUESTION, k=5, mode="dense")] == expected


def test_filters_apply_in_retrieval(seed_retriever: Retriever) -> None:
    only_persia = seed_retriever.search(SEED_QUESTION, k=10, filters=Filters(sources=("Track Persia",)))
    assert only_persia and {hit.publisher for hit in only_persia} == {"Track Persia"}
    assert seed_retriever.search(SEED_QUESTION, k=10, filters=Filters(sources="Track Persia")) == only_persia
    since = seed_retriever.search(SEED_QUESTION, k=10, filters=Filters(since="2021-11-25"))
    assert since and {hit.date for hit in since} == {"2021-11-28"}
    until = seed_retriever.search(SEED_QUESTION, k=10, mode="dense", filters=Filters(until="2021-11-20"))
    assert until and {hit.publisher for hit in until} == {"Track Persia"}
    assert seed_retriever.search(SEED_QUESTION, filters=Filters(since="2030-01-01")) == []


def test_an_undated_document_is_in_no_date_range(fresh_settings: Settings, embedder: Embedder) -> None:
    """A reader asking for stories up to a date must not get one whose date nobody knows."""
    (fresh_settings.corpus_dir / "undated-note.txt").write_text(
        "A drone struck the prime minister's residence in Baghdad; militia leaders denied involvement.\n")
    sync(fresh_settings, embedder)
    retriever = Retriever.open(fresh_settings.index_dir, embedder, fresh_settings)
    question = "drone prime minister residence militia leaders denied"
    assert retriever.search(question, k=1)[0].doc_id == "undated-note.txt"
    for filters in (Filters(until="2021-11-20"), Filters(since="2021-01-01", until="2021-12-31")):
        hits = retriever.search(question, k=10, filters=filters)
        assert hits and all(hit.date for hit in hits), filters


@pytest.mark.parametrize("value", ["20211107", "2021-W45", "2021-11-7"])
def test_dates_other_than_iso_text_are_refused(seed_retriever: Retriever, value: str) -> None:
    """Python reads 20211107 as a date, but stored dates compare as text: it would match the wrong stories."""
    with pytest.raises(QuestionError, match="write it as YYYY-MM-DD"):
        seed_retriever.search(SEED_QUESTION, filters=Filters(until=value))


@pytest.mark.parametrize("question", ["", "   ", "x" * 10_000])
def test_empty_and_overlong_questions_get_a_clear_message(seed_retriever: Retriever, question: str) -> None:
    with pytest.raises(QuestionError, match="empty|limit is"):
        seed_retriever.search(question)


def test_a_date_object_filters_as_its_day(seed_retriever: Retriever) -> None:
    """A notebook user passes the dates they have: a `date` or a `datetime` filters as its ISO day."""
    as_text = seed_retriever.search(SEED_QUESTION, k=10, filters=Filters(since="2021-11-25"))
    assert as_text and seed_retriever.search(SEED_QUESTION, k=10, filters=Filters(since=dt.date(2021, 11, 25))) == as_text
    assert seed_retriever.search(SEED_QUESTION, k=10, filters=Filters(since=dt.datetime(2021, 11, 25, 18))) == as_text


@pytest.mark.parametrize(("call", "problem"), [
    (lambda r: r.ask(SEED_QUESTION, k=0), "from 1 to 100, not 0"),
    (lambda r: r.ask(SEED_QUESTION, k=-1), "from 1 to 100, not -1"),
    (lambda r: r.ask(SEED_QUESTION, k=2.5), "from 1 to 100, not 2.5"),
    (lambda r: r.rated(SEED_QUESTION, k="3"), "from 1 to 100, not '3'"),
    (lambda r: r.ask(None), "the question must be text"),
    (lambda r: r.search(b"drones"), "the question must be text"),
    (lambda r: r.ask(SEED_QUESTION, filters={"since": "2021-11-01"}), "filters must be qa.Filters"),
    (lambda r: r.search(SEED_QUESTION, filters=Filters(until=2021)), "the end date must be text"),
    (lambda r: r.search(SEED_QUESTION, filters=Filters(sources=(1,))), "the source must be text"),
])
def test_a_wrong_argument_from_python_is_named_not_a_traceback(seed_retriever: Retriever, call, problem: str) -> None:
    """What a notebook user gets wrong (k=0, None, a dict of filters) is a QuestionError naming it, as a bad
    question is, not an AttributeError from deep inside, nor (k=0) an answer with one passage."""
    with pytest.raises(QuestionError, match=re.escape(problem)):
        call(seed_retriever)


def test_a_retriever_closes_its_index_files(seed_settings: Settings, embedder: Embedder) -> None:
    """Closed (or left by a `with` block), a retriever holds none of the index's files open: a notebook re-running
    a cell, or a long process after a build, otherwise keeps an old generation's files until garbage collection."""
    index = str(Path(seed_settings.index_dir).resolve())

    def index_files_open() -> int:
        return sum(os.path.realpath(f"/proc/self/fd/{fd}").startswith(index) for fd in os.listdir("/proc/self/fd"))

    gc.disable()  # the files must be closed by `close`, not by a collection that happens to run
    try:
        before = index_files_open()  # the session's shared retriever's
        with Retriever.open(seed_settings.index_dir, embedder, seed_settings) as retriever:
            assert retriever.search(SEED_QUESTION, k=1)
            assert index_files_open() > before
        assert index_files_open() == before
    finally:
        gc.enable()


def test_question_of_only_stop_words_still_returns_dense_hits(seed_retriever: Retriever) -> None:
    assert seed_retriever.search("who was it", k=3)


def test_pdf_hits_carry_their_page_numbers(tmp_path: Path, embedder: Embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    make_pdf(corpus / "report.pdf", [
        "Weather in Basra was hot and dry throughout the summer months.",
        "The investigators named Kataeb Sayyid al-Shuhada as the main suspect behind the drone strike.",
        "Oil exports through the southern ports rose by four percent.",
    ], title="Quarterly report", author="Analyst")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    sync(settings, embedder)
    hits = Retriever.open(settings.index_dir, embedder, settings).search("who is the main suspect of the drone strike")
    assert hits[0].page == 2 and hits[0].title == "Quarterly report"
    assert {hit.page for hit in hits} == {1, 2, 3}
