"""Marks, inside each hit, the sentence that best answers the question; extractive, never invents text."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from qa.chunking import split_sentences
from qa.embedding import Embedder
from qa.records import Answer, Hit, Sentence

# Below this sentence similarity the best evidence is too weak to present as an answer.
NO_ANSWER_THRESHOLD = 0.35


def mark_answers(question: str, hits: list[Hit], embedder: Embedder) -> Answer:
    """Score every sentence of every hit against the question (one encode call) and mark each hit's best."""
    sentences = [split_sentences(hit.text) for hit in hits]
    texts = [question] + [hit.text[s:e] for hit, spans in zip(hits, sentences) for s, e in spans]
    vectors = embedder.encode(texts)
    scores = vectors[1:] @ vectors[0]

    marked, offset = [], 0
    for hit, spans in zip(hits, sentences):
        own = scores[offset : offset + len(spans)]
        offset += len(spans)
        if not spans:
            marked.append(hit)
            continue
        best = int(np.argmax(own))
        start, end = spans[best]
        marked.append(replace(hit, answer=Sentence(start=start, end=end, score=float(own[best]))))

    best_hit = max((hit for hit in marked if hit.answer), key=lambda hit: hit.answer.score, default=None)
    confident = best_hit is not None and best_hit.answer.score >= NO_ANSWER_THRESHOLD
    return Answer(question=question, hits=tuple(marked), best=best_hit, confident=confident)
