"""Sentence-aware chunking: passages of whole sentences that fit the model's window, with a small overlap.

Tokens are counted with the embedding model's own tokenizer, so no chunk is ever truncated by the model.
Each chunk keeps its exact character span in the document (`doc.text[start:end] == chunk.text`) and its page.
The embedder reads each passage after its document's title (`embedding_text`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby

from qa.records import Chunk, Document
from qa.text import split_sentences

TokenCounter = Callable[[Sequence[str]], list[int]]
Splitter = Callable[[str, int], list[tuple[int, int]]]

TITLE_WORDS = 12  # of a title, the most put before a passage: 200-piece passages leave the window 56 pieces for it


def embedding_text(title: str, text: str) -> str:
    """What the embedder reads of a passage: its document's title on a line before it, unless the passage opens
    with it. A news story names what it is about in its headline and lead; its later passages, where a reporter's
    question usually finds its answer, say "the deal" or "he". BM25 keeps the passage's own words: with the title
    counted in every passage, all passages of a story matched its headline's words alike, and on the two seed
    articles "How many drones were used?" lost the three-drones passage."""
    title = " ".join(title.split()[:TITLE_WORDS])
    return text if not title or text.lstrip().startswith(title) else f"{title}\n{text}"


def chunk_document(
    doc: Document,
    count_tokens: TokenCounter,
    max_tokens: int,
    overlap_tokens: int,
    split_long: Splitter,
) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `max_tokens`, carrying up to `overlap_tokens` forward.

    A chunk holds the sentences that start on one page, so it cites one page; a sentence that runs on over a page
    break stays whole, in the chunk of the page it starts on. A sentence longer than the window is cut by
    `split_long` (which returns pieces of at most `max_tokens` tokens) rather than truncated, each piece on the
    page where it starts.
    """
    sentences = [part for start, end in split_sentences(doc.text) for part in within_characters(doc.text, start, end)]
    counts = count_tokens([doc.text[s:e] for s, e in sentences])
    pieces: list[tuple[int, int, int]] = []
    for (start, end), count in zip(sentences, counts):
        if count <= max_tokens:
            pieces.append((start, end, count))
        else:
            for piece_start, piece_end in split_long(doc.text[start:end], max_tokens):
                text = doc.text[start + piece_start : start + piece_end]
                pieces.append((start + piece_start, start + piece_end, count_tokens([text])[0]))
    # a piece weighs at least its share of MAX_PIECE_CHARS, so a passage stays within it too
    pieces = [(start, end, max(count, -(-(end - start) * max_tokens // MAX_PIECE_CHARS))) for start, end, count in pieces]
    chunks: list[Chunk] = []
    for page, on_page in groupby(pieces, key=lambda piece: doc.page_at(piece[0])):
        for group in pack(list(on_page), max_tokens, overlap_tokens):
            start, end = group[0][0], group[-1][1]
            chunks.append(
                Chunk(
                    doc_id=doc.doc_id,
                    ordinal=len(chunks),
                    start=start,
                    end=end,
                    text=doc.text[start:end],
                    page=page,
                    tokens=sum(count for _, _, count in group),
                )
            )
    return chunks


MAX_PIECE_CHARS = 3000  # a 200-word-piece passage of English is about 1,000 characters


def within_characters(text: str, start: int, end: int, limit: int = MAX_PIECE_CHARS) -> list[tuple[int, int]]:
    """The span cut into pieces of at most `limit` characters, at the last space before each cut when there is one.

    The tokenizer reads a word of over 100 characters as one unknown word piece, so the word-piece window never
    cut a run without spaces (a base64 attachment saved as text): 19 MB became one passage, 95 MB of JSON per
    answer, and a page that took 50 s to draw."""
    pieces = []
    while end - start > limit:
        space = text.rfind(" ", start + limit // 2, start + limit)
        cut = space if space > start else start + limit
        pieces.append((start, cut))
        start = cut + (text[cut] == " ")
    return pieces + [(start, end)] if end > start else pieces


def pack(
    pieces: list[tuple[int, int, int]], max_tokens: int, overlap_tokens: int
) -> list[list[tuple[int, int, int]]]:
    """Group consecutive (start, end, tokens) pieces greedily; each group starts with the previous one's tail."""
    groups: list[list[tuple[int, int, int]]] = []
    current: list[tuple[int, int, int]] = []
    fresh = False  # does `current` hold a piece not yet emitted?
    for piece in pieces:
        if current and sum(p[2] for p in current) + piece[2] > max_tokens:
            if fresh:
                groups.append(current)
            current = _tail(current, overlap_tokens)
            while current and sum(p[2] for p in current) + piece[2] > max_tokens:
                current = current[1:]
        current = current + [piece]
        fresh = True
    if current and fresh:
        groups.append(current)
    return groups


def _tail(group: list[tuple[int, int, int]], budget: int) -> list[tuple[int, int, int]]:
    """The last pieces of `group` whose tokens fit in `budget`, never the whole group."""
    tail: list[tuple[int, int, int]] = []
    for piece in reversed(group[1:]):
        if sum(p[2] for p in tail) + piece[2] > budget:
            break
        tail.insert(0, piece)
    return tail
