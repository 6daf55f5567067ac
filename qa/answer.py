"""Marks, inside each hit, the sentence that best answers the question; extractive, never invents text.

Each hit is run through the model once, for its contextual word-piece vectors (`Embedder.encode_tokens`).
A sentence's score adds up:
- the cosine of the question's vector with the mean of the sentence's piece vectors;
- how much of the question it states in words: the idf-weighted share of the question's (stemmed) terms
  it contains, the share of the question's term pairs it contains in order, and whether it holds the kind
  of thing the question asks for (a date for "when", a number for "how many", a name for "who");
- its token match (`token_match`): for each important word piece of the question, its best cosine with
  a piece of the sentence (ColBERT-style late interaction on MiniLM's own vectors).
The same scores, plus the token match of the whole passage, rerank the hybrid candidates in
`Retriever.ask`: a passage that states the question's facts moves up.

Measured on SQuAD (squad-public; every 3rd question, held out from the 2/3 the weights were chosen on;
benchmarks/results/eval-squad-public.md): gold-paragraph Recall@1 0.795 -> 0.863 and Recall@5 0.960 ->
0.974 against hybrid search alone; the top passage's marked sentence holds an answer for 0.864 of
gold-first questions. The previous version (one encode per sentence, no token match, depth 10) reached
0.838 / 0.965 at 1-3 s a question; this one takes about 0.2 s. SciFact nDCG@10: 0.724 -> 0.728.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from qa.bm25 import QUESTION_WORDS, query_terms, tokenize
from qa.chunking import split_sentences
from qa.embedding import Embedder, TokenVectors, unit
from qa.records import Answer, Hit, Sentence

TermWeights = Callable[[Sequence[str]], np.ndarray]

# Below this best-sentence score the evidence is too weak to present as an answer; at or above the strong one,
# unanswerable questions almost never reach it. Calibrated on SQuAD (qa.evaluation.calibrate_no_answer,
# benchmarks/results/eval-squad-public.md): questions whose answer sentence held an answer against the same
# questions asked with their article filtered out; the first maximizes TPR - FPR, the second is the lowest
# score that at most 1% of the unanswerable questions reach.
NO_ANSWER_THRESHOLD = 1.49
STRONG_ANSWER_THRESHOLD = 1.892
LEXICAL_WEIGHT = 1.0  # idf-weighted share of question terms in the sentence
PAIR_WEIGHT = 0.5  # share of the question's consecutive term pairs found in the sentence
TYPE_WEIGHT = 0.2  # the sentence holds what the question's wh-word asks for
SENTENCE_MATCH_WEIGHT = 1.0  # token match (`token_match`) of the question against the sentence's word pieces
RERANK_WEIGHT = 1.0  # a candidate's fused score plus this times its best sentence's score
PASSAGE_MATCH_WEIGHT = 2.0  # plus this times the token match of the question against the whole passage
RERANK_DEPTH = 20  # hybrid candidates the sentence scores may reorder

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
    asked, said = query_terms(question), tokenize(sentences)
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


@dataclass(frozen=True)
class AskedQuestion:
    """What the scoring needs of the question: its text, its word pieces and sentence vector (one model run),
    and how much each piece matters (`piece_weights`)."""

    text: str
    tokens: TokenVectors
    importance: np.ndarray

    @classmethod
    def encode(cls, question: str, embedder: Embedder, weights: TermWeights) -> AskedQuestion:
        tokens = embedder.encode_tokens([question])[0]
        return cls(question, tokens, piece_weights(question, tokens.spans, weights))

    def match(self, pieces: np.ndarray) -> float:
        """`token_match` of this question against unit piece vectors."""
        return token_match(self.tokens.units, self.importance, pieces)


def mark_answers(question: str, hits: Sequence[Hit], embedder: Embedder, weights: TermWeights,
                 k: int | None = None, rerank: bool = False) -> Answer:
    """Score every sentence of every hit (one model run per hit), mark each hit's best, keep `k` hits.

    With `rerank`, hits are reordered by score + RERANK_WEIGHT * best sentence score + PASSAGE_MATCH_WEIGHT *
    token match of the whole passage (and renumbered) before the first `k` are kept. The best answer is the
    highest-scoring marked sentence of those kept. A line that only repeats the hit's title is not marked
    while the hit has another sentence.
    """
    asked = AskedQuestion.encode(question, embedder, weights)
    marked: list[tuple[Hit, float]] = []  # each hit with its sentence marked, and its rerank key
    for hit, pieces in zip(hits, embedder.encode_tokens([hit.text for hit in hits])):
        own = _candidate_sentences(hit)
        key = hit.score + PASSAGE_MATCH_WEIGHT * asked.match(pieces.units)
        if own:
            scores = sentence_scores(asked, hit.text, own, pieces, weights)
            best = int(np.argmax(scores))
            hit = replace(hit, answer=Sentence(start=own[best][0], end=own[best][1], score=float(scores[best])))
            key += RERANK_WEIGHT * float(scores[best])
        marked.append((hit, key))

    if rerank:
        marked.sort(key=lambda pair: -pair[1])
    kept = [replace(hit, rank=rank) if rerank else hit for rank, (hit, _) in enumerate(marked, start=1)][:k]
    best_hit = max((hit for hit in kept if hit.answer), key=lambda hit: hit.answer.score, default=None)
    confident = best_hit is not None and best_hit.answer.score >= NO_ANSWER_THRESHOLD
    return Answer(question=question, hits=tuple(kept), best=best_hit, confident=confident)


def sentence_scores(asked: AskedQuestion, text: str, spans: Sequence[tuple[int, int]], pieces: TokenVectors,
                    weights: TermWeights) -> np.ndarray:
    """Per sentence span of `text` (whose word pieces are `pieces`): lexical score + cosine of the question
    with the sentence's pooled pieces + SENTENCE_MATCH_WEIGHT * token match. A sentence past the model's
    window has no pieces and is scored by its words alone."""
    scores = lexical_scores(asked.text, [text[start:end] for start, end in spans], weights)
    starts, ends = pieces.spans[:, 0], pieces.spans[:, 1]
    for i, (start, end) in enumerate(spans):
        inside = (ends > start) & (starts < end) & (ends > starts)
        if inside.any():
            scores[i] += float(unit(pieces.vectors[inside].mean(axis=0)) @ asked.tokens.sentence)
            scores[i] += SENTENCE_MATCH_WEIGHT * asked.match(pieces.units[inside])
    return scores


def piece_weights(question: str, spans: np.ndarray, weights: TermWeights) -> np.ndarray:
    """Per word piece of the question: the idf of the (stemmed) word it belongs to, 0 for stop words, question
    words and punctuation; all 1 when no word has a weight (a question of such words only)."""
    words = [match.span() for match in re.finditer(r"\w+", question)]
    terms = [found[0] if found and found[0] not in QUESTION_WORDS else ""
             for found in tokenize([question[s:e] for s, e in words])]
    known = sorted({term for term in terms if term})
    idf = dict(zip(known, weights(known))) if known else {}
    importance = np.zeros(len(spans), dtype=np.float32)
    for (start, end), term in zip(words, terms):
        if term:
            importance[(spans[:, 0] >= start) & (spans[:, 1] <= end)] = idf[term]
    return importance if importance.sum() > 0 else np.ones(len(spans), dtype=np.float32)


def token_match(question: np.ndarray, importance: np.ndarray, pieces: np.ndarray) -> float:
    """For each question piece its best cosine with any of `pieces`, averaged with `importance` as weights.

    This is ColBERT's late interaction ("MaxSim") on MiniLM's contextual word-piece vectors: it credits a
    passage that says each important word of the question, or a close paraphrase of it, wherever it says it.
    Inputs are unit vectors; 0 when either side is empty.
    """
    if not len(question) or not len(pieces) or importance.sum() <= 0:
        return 0.0
    return float((question @ pieces.T).max(axis=1) @ importance / importance.sum())


def _candidate_sentences(hit: Hit) -> list[tuple[int, int]]:
    """The hit's sentence spans, without a line that is only the document's title (unless nothing else is left)."""
    spans = split_sentences(hit.text)
    title = " ".join(hit.title.split()).lower()
    kept = [(s, e) for s, e in spans if " ".join(hit.text[s:e].split()).lower() != title] if title else spans
    return kept or spans
