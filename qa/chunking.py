"""Sentence-aware chunking: passages of whole sentences that fit the model's window, with a small overlap.

Tokens are counted with the embedding model's own tokenizer, so no chunk is ever truncated by the model.
Each chunk keeps its exact character span in the document (`doc.text[start:end] == chunk.text`) and its page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from qa.records import Chunk, Document

TokenCounter = Callable[[Sequence[str]], list[int]]
Splitter = Callable[[str, int], list[tuple[int, int]]]

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "gen", "lt", "col", "sgt", "capt", "maj", "st", "sr", "jr", "no",
    "vs", "etc", "e.g", "i.e", "u.s", "u.k", "u.n", "al", "fig", "approx", "inc", "ltd", "co", "corp",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "rev", "gov",
}
# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by space and a likely sentence start.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])")
_WORD_BEFORE = re.compile(r"([\w.]+)\.$")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Character spans of the sentences in `text[start:end]`; line breaks always end a sentence."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line.start()
        sentence_start = line_start
        for match in _SENTENCE_END.finditer(line.group()):
            boundary = line_start + match.end()
            if _is_abbreviation(text[sentence_start:boundary]):
                continue
            spans.append((sentence_start, boundary))
            sentence_start = boundary
        spans.append((sentence_start, line_start + len(line.group())))
    return [trimmed for span in spans if (trimmed := _trim(text, *span))]


def _is_abbreviation(sentence: str) -> bool:
    """True when the final period belongs to an abbreviation or an initial ("Gen.", "U.S.", "J.")."""
    match = _WORD_BEFORE.search(sentence.rstrip("\"'”’)]"))
    if not match:
        return False
    word = match.group(1).lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


def chunk_document(
    doc: Document,
    count_tokens: TokenCounter,
    max_tokens: int,
    overlap_tokens: int,
    split_long: Splitter,
) -> list[Chunk]:
    """Pack whole sentences into chunks of at most `max_tokens`, carrying up to `overlap_tokens` forward.

    Pages are chunked separately, so a chunk never spans two pages. A sentence longer than the window
    is cut by `split_long` (which returns pieces of at most `max_tokens` tokens) rather than truncated.
    """
    sections = [(span.start, span.end, span.page) for span in doc.pages] or [(0, len(doc.text), None)]
    chunks: list[Chunk] = []
    for section_start, section_end, page in sections:
        sentences = split_sentences(doc.text, section_start, section_end)
        counts = count_tokens([doc.text[s:e] for s, e in sentences])
        pieces: list[tuple[int, int, int]] = []
        for (start, end), count in zip(sentences, counts):
            if count <= max_tokens:
                pieces.append((start, end, count))
            else:
                for piece_start, piece_end in split_long(doc.text[start:end], max_tokens):
                    text = doc.text[start + piece_start : start + piece_end]
                    pieces.append((start + piece_start, start + piece_end, count_tokens([text])[0]))
        for group in pack(pieces, max_tokens, overlap_tokens):
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
