"""Text analysis shared by chunking, BM25 and answer scoring: sentences, terms, and what a question asks for.

One place, so a sentence the chunker keeps whole is the sentence the answer scoring marks, and a term BM25
matches is the term the answer scoring counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import bm25s
import Stemmer

_STEMMER = Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed terms of each text."""
    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


# Words that say what kind of answer is wanted, not what it is about; bm25s's English stop words keep them.
# Left out of queries (SQuAD, BM25 alone, held-out questions: R@1 0.749 -> 0.770) and of the terms an answer
# sentence must contain (qa.answer). Documents are indexed with them, as written.
QUESTION_WORDS = frozenset(tokenize(["who whom whose what when where which why how"])[0])


def query_terms(query: str) -> list[str]:
    """The query's terms as `tokenize` makes them, without question words."""
    return [term for term in tokenize([query])[0] if term not in QUESTION_WORDS]


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


_DATE = re.compile(
    r"\b(1[0-9]{3}|20[0-9]{2})s?\b|\b(january|february|march|april|may|june|july|august|september|october|"
    r"november|december|century|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"\b\d[\d,.]*\b|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen)\b",
    re.IGNORECASE,
)
_NAME = re.compile(r"\b[A-Z][a-z]+")


def answer_type(question: str) -> str:
    """"date", "number", "name" or "" for the kind of answer the question's wording asks for."""
    text = question.lower()
    if re.search(r"\b(when|what year|which year|what century|what date)\b", text):
        return "date"
    if re.search(r"\bhow (many|much|long|far|old|large|big|tall|high)\b|\bwhat (percentage|percent|number|amount)\b",
                 text):
        return "number"
    if re.search(r"\bwho(m|se)?\b", text):
        return "name"
    return ""


def holds_type(kind: str, question: str, sentence: str) -> bool:
    """Does the sentence hold something of `kind` that the question does not already say?"""
    if kind == "date":
        return bool(_DATE.search(sentence))
    if kind == "number":
        asked = {match.group(0).lower() for match in _NUMBER.finditer(question)}
        return any(match.group(0).lower() not in asked for match in _NUMBER.finditer(sentence))
    if kind == "name":
        asked = set(question.split())
        return any(match.group(0) not in asked for match in _NAME.finditer(sentence[1:]))
    return False


def balance_quotes(sentence: str) -> str:
    """The sentence with a quotation it opens but does not close (or closes but did not open) completed.

    A quoted sentence is often part of a longer quote: `"The suspect is known.` reads as a broken quote when
    shown alone, so the missing mark is added at the end (or the start).

    Example:
        >>> balance_quotes('"Kataeb is the key suspect.')
        '"Kataeb is the key suspect."'
    """
    depth, unopened = 0, 0
    for match in re.finditer('"', sentence):
        opens = match.start() == 0 or sentence[match.start() - 1] in " \t([—-"
        if depth == 0 and opens:
            depth = 1
        elif depth == 1:
            depth = 0
        else:
            unopened = 1
    sentence = ('"' if unopened else "") + sentence + ('"' if depth else "")
    missing = sentence.count("“") - sentence.count("”")
    return "“" + sentence if missing < 0 else sentence + "”" * min(missing, 1)
