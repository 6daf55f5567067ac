"""Chunks are whole sentences, map back to the exact document text, and fit the model's window."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import Embedder
from qa.chunking import TITLE_WORDS, chunk_document, pack, embedding_text
from qa.text import split_sentences
from qa.loading import load_document
from qa.records import Document, PageSpan
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("One. Two three. Four?", ["One.", "Two three.", "Four?"]),
        ("Gen. Salami spoke. The U.S. embassy. Mr. Khazali left.", ["Gen. Salami spoke.", "The U.S. embassy.",
                                                                     "Mr. Khazali left."]),
        ('He said "stop." Then it ended.', ['He said "stop."', "Then it ended."]),
        ("Heading without stop\nBody sentence. Another", ["Heading without stop", "Body sentence.", "Another"]),
        ("A speed of 60.5 km. J. Smith agreed.", ["A speed of 60.5 km.", "J. Smith agreed."]),
        ("A map indicated Mt. Kenia, 1862. It was new.", ["A map indicated Mt. Kenia, 1862.", "It was new."]),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert [text[s:e] for s, e in split_sentences(text)] == sentences


def test_the_embedder_reads_a_passage_after_its_title_unless_it_opens_with_it() -> None:
    assert embedding_text("Drone strike on Kadhimi", "Three drones were used.") == (
        "Drone strike on Kadhimi\nThree drones were used.")
    assert embedding_text("Drone strike on Kadhimi", "Drone strike on Kadhimi\nThree drones.") == (
        "Drone strike on Kadhimi\nThree drones.")  # the story's first passage already opens with its headline
    assert embedding_text("", "Three drones were used.") == "Three drones were used."
    long_title = " ".join(f"word{n}" for n in range(40))
    assert embedding_text(long_title, "Body.").split("\n")[0].split() == long_title.split()[:TITLE_WORDS]


def test_pack_carries_overlap_and_respects_the_limit() -> None:
    pieces = [(0, 1, 40), (2, 3, 40), (4, 5, 40), (6, 7, 40), (8, 9, 40)]
    groups = pack(pieces, max_tokens=100, overlap_tokens=40)
    assert [[p[0] for p in group] for group in groups] == [[0, 2], [2, 4], [4, 6], [6, 8]]
    assert all(sum(p[2] for p in group) <= 100 for group in groups)


def corpus_chunks(embedder: Embedder, max_tokens: int, overlap: int) -> list[tuple[Document, list]]:
    docs = [load_document(path) for path in sorted((REPO / "corpus").glob("*.txt"))]
    return [(doc, chunk_document(doc, embedder.count_tokens, max_tokens, overlap, embedder.split_long))
            for doc in docs]


@pytest.mark.parametrize(("max_tokens", "overlap"), [(200, 40), (254, 0), (64, 16)])
def test_chunks_map_back_to_exact_text_and_fit_the_window(embedder: Embedder, max_tokens: int, overlap: int) -> None:
    for doc, chunks in corpus_chunks(embedder, max_tokens, overlap):
        assert chunks
        for chunk in chunks:
            assert doc.text[chunk.start : chunk.end] == chunk.text
        counted = embedder.count_tokens([chunk.text for chunk in chunks])
        assert max(counted) <= max_tokens <= embedder.max_tokens
        assert counted == [chunk.tokens for chunk in chunks]
        covered = set()
        for chunk in chunks:
            covered.update(range(chunk.start, chunk.end))
        words = [i for i, char in enumerate(doc.text) if not char.isspace()]
        assert all(i in covered for i in words), "every non-space character lies in some chunk"


def test_consecutive_chunks_overlap_by_whole_sentences(embedder: Embedder) -> None:
    (_, chunks), _ = corpus_chunks(embedder, 200, 40)
    overlaps = [a.end > b.start for a, b in zip(chunks, chunks[1:])]
    assert any(overlaps)
    assert all(b.start >= a.start for a, b in zip(chunks, chunks[1:]))


def test_a_sentence_longer_than_the_window_is_split_not_truncated(embedder: Embedder) -> None:
    text = "Drones " + "and missiles " * 400 + "ended."
    doc = Document(doc_id="long", path="long.txt", text=text)
    chunks = chunk_document(doc, embedder.count_tokens, 200, 40, embedder.split_long)
    assert len(chunks) > 3
    assert max(embedder.count_tokens([chunk.text for chunk in chunks])) <= 200
    assert "".join(chunk.text for chunk in chunks).replace(" ", "") == text.replace(" ", "")


def test_chunks_keep_their_page_and_never_span_two(embedder: Embedder) -> None:
    pages = ["Page one sentence. " * 30, "Page two sentence. " * 30]
    text = pages[0] + "\n\n" + pages[1]
    spans = (PageSpan(1, 0, len(pages[0])), PageSpan(2, len(pages[0]) + 2, len(text)))
    doc = Document(doc_id="p.pdf", path="p.pdf", text=text, pages=spans)
    chunks = chunk_document(doc, embedder.count_tokens, 64, 16, embedder.split_long)
    assert {chunk.page for chunk in chunks} == {1, 2}
    for chunk in chunks:
        span = spans[chunk.page - 1]
        assert span.start <= chunk.start and chunk.end <= span.end


def test_a_long_run_over_a_page_break_is_cited_piece_by_piece_at_the_page_each_starts_on(embedder: Embedder) -> None:
    """A table read as one run of figures over two pages was split into window-sized pieces that all cited the
    page it started on: the densest region's row, on page 2, was cited as page 1."""
    rows = ["Savanna 172 784 94 21.2", "Coast 130 612 80 17.9", "Highlands 98 455 61 12.4"] * 40
    first, second = " ".join(rows[:60]), " ".join(rows[60:])
    text = f"{first} {second}"
    spans = (PageSpan(1, 0, len(first)), PageSpan(2, len(first) + 1, len(text)))
    doc = Document(doc_id="t.pdf", path="t.pdf", text=text, pages=spans)
    chunks = chunk_document(doc, embedder.count_tokens, 64, 16, embedder.split_long)
    assert {chunk.page for chunk in chunks} == {1, 2}
    assert all(chunk.page == doc.page_at(chunk.start) for chunk in chunks)


def test_chunking_a_loaded_pdf(tmp_path: Path, embedder: Embedder) -> None:
    from tests.test_loading import make_pdf

    doc = load_document(make_pdf(tmp_path / "r.pdf", ["Alpha text on page one.", "Beta text on page two."]))
    chunks = chunk_document(doc, embedder.count_tokens, 200, 40, embedder.split_long)
    assert [(chunk.page, chunk.text) for chunk in chunks] == [(1, "Alpha text on page one."),
                                                             (2, "Beta text on page two.")]
