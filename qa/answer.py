"""Marks, inside each hit, the sentence that best answers the question; extractive, never invents text.

A sentence's score adds to its MiniLM cosine with the question how much of the question it states in words:
the idf-weighted share of the question's (stemmed) terms it contains, the share of the question's term
pairs it contains in order, and whether it holds the kind of thing the question asks for (a date for
"when", a number for "how many", a name for "who"). The same scores rerank the hybrid candidates in
`Retriever.ask`: a passage whose best sentence states the question's facts moves up.

Measured on SQuAD (squad-public, benchmarks/results/eval-squad-public.md, 1,519 questions): the top
passage's marked sentence contains an answer string for 0.860 of gold-first questions (0.75 with the
cosine alone, in a scratch run on the same chunks); reranking the hybrid top 10 raised gold-paragraph
Recall@1 from 0.793 to 0.838 and Recall@5 from 0.962 to 0.965. On SciFact it leaves nDCG@10 at 0.725.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from qa.bm25 import tokenize
from qa.chunking import split_sentences
from qa.embedding import Embedder
from qa.records import Answer, Hit, Sentence

TermWeights = Callable[[Sequence[str]], np.ndarray]

# Below this best-sentence score the evidence is too weak to present as an answer. Calibrated on SQuAD
# (qa.evaluation.calibrate_no_answer, benchmarks/results/eval-squad-public.md): 269 questions whose answer
# sentence held an answer vs the same 380 asked with their article filtered out; the score maximizing
# TPR - FPR was 0.919 (TPR 0.970, FPR 0.063).
NO_ANSWER_THRESHOLD = 0.92
LEXICAL_WEIGHT = 1.0  # idf-weighted share of question terms in the sentence
PAIR_WEIGHT = 0.5  # share of the question's consecutive term pairs found in the sentence
TYPE_WEIGHT = 0.2  # the sentence holds what the question's wh-word asks for
RERANK_WEIGHT = 1.0  # a candidate's fused score plus this times its best sentence's score
RERANK_DEPTH = 10  # hybrid candidates the sentence scores may reorder

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


def _holds_type(kind: str, question: str, sentence: str) -> bool:
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


def lexical_scores(question: str, sentences: Sequence[str], weights: TermWeights) -> np.ndarray:
    """Per sentence: LEXICAL_WEIGHT * idf-share of question terms + PAIR_WEIGHT * pair share + TYPE_WEIGHT * type."""
    terms = tokenize([question, *sentences])
    asked, said = terms[0], terms[1:]
    unique = list(dict.fromkeys(asked))
    idf = dict(zip(unique, weights(unique))) if unique else {}
    total = sum(idf.values()) or 1.0
    pairs = set(zip(asked, asked[1:]))
    kind = answer_type(question)
    scores = np.zeros(len(sentences), dtype=np.float32)
    for i, (sentence, words) in enumerate(zip(sentences, said)):
        present = set(words)
        share = sum(weight for term, weight in idf.items() if term in present) / total
        pair_share = len(pairs & set(zip(words, words[1:]))) / len(pairs) if pairs else 0.0
        scores[i] = (LEXICAL_WEIGHT * share + PAIR_WEIGHT * pair_share
                     + TYPE_WEIGHT * _holds_type(kind, question, sentence))
    return scores


def mark_answers(question: str, hits: Sequence[Hit], embedder: Embedder, weights: TermWeights,
                 k: int | None = None, rerank: bool = False) -> Answer:
    """Score every sentence of every hit (one encode call), mark each hit's best, keep `k` hits.

    With `rerank`, hits are reordered by score + RERANK_WEIGHT * best sentence score (and renumbered)
    before the first `k` are kept. The best answer is the highest-scoring marked sentence of those kept.
    A line that only repeats the hit's title is not marked while the hit has another sentence.
    """
    spans = [_candidate_sentences(hit) for hit in hits]
    texts = [hit.text[s:e] for hit, own in zip(hits, spans) for s, e in own]
    scores = np.zeros(0, dtype=np.float32)
    if texts:
        vectors = embedder.encode([question, *texts])
        scores = vectors[1:] @ vectors[0] + lexical_scores(question, texts, weights)

    marked, offset = [], 0
    for hit, own in zip(hits, spans):
        mine = scores[offset : offset + len(own)]
        offset += len(own)
        if not own:
            marked.append(hit)
            continue
        best = int(np.argmax(mine))
        marked.append(replace(hit, answer=Sentence(start=own[best][0], end=own[best][1], score=float(mine[best]))))

    if rerank:
        rescored = sorted(marked, key=lambda hit: -(hit.score + RERANK_WEIGHT * (hit.answer.score if hit.answer else 0)))
        marked = [replace(hit, rank=rank) for rank, hit in enumerate(rescored, start=1)]
    marked = marked[:k] if k is not None else marked
    best_hit = max((hit for hit in marked if hit.answer), key=lambda hit: hit.answer.score, default=None)
    confident = best_hit is not None and best_hit.answer.score >= NO_ANSWER_THRESHOLD
    return Answer(question=question, hits=tuple(marked), best=best_hit, confident=confident)


def _candidate_sentences(hit: Hit) -> list[tuple[int, int]]:
    """The hit's sentence spans, without a line that is only the document's title (unless nothing else is left)."""
    spans = split_sentences(hit.text)
    title = " ".join(hit.title.split()).lower()
    kept = [(s, e) for s, e in spans if " ".join(hit.text[s:e].split()).lower() != title] if title else spans
    return kept or spans
