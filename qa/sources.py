"""What each source says: the best answering sentence of each document among an answer's passages.

A news question is often answered by several reports. Putting one sentence per document side by side (title,
publisher, date) lets a reporter see at a glance where the sources agree and where they differ, without reading
every passage. The sentences come from the ratings `Retriever.ask_rated` already computed for the answer, so
the answer model runs once per question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from qa.answer import NO_ANSWER_THRESHOLD, Candidate, choice_order
from qa.records import Hit, Sentence
from qa.text import balance_quotes


@dataclass(frozen=True)
class SourceLine:
    """One document's best sentence: `hit` is the passage it is in, with `hit.answer` set to that sentence and
    its confidence; `weak` when it is below the no-answer threshold (the document comes close but does not
    state an answer); `also` the passages of other documents whose best sentence is the same, word for word
    (wire copy, or one story filed under two headlines): one source repeated, not sources that agree."""

    hit: Hit
    weak: bool
    also: tuple[Hit, ...] = ()

    @property
    def sentence(self) -> str:
        """The sentence, a quotation it opens or closes balanced."""
        return balance_quotes(self.hit.answer_text)

    def to_dict(self) -> dict:
        return {"hit": self.hit.to_dict(), "weak": self.weak, "also": [hit.to_dict() for hit in self.also]}

    @classmethod
    def from_dict(cls, data: dict) -> SourceLine:
        return cls(Hit.from_dict(data["hit"]), bool(data["weak"]),
                   tuple(Hit.from_dict(hit) for hit in data.get("also", ())))  # notebooks saved before `also`


def compare_sources(question: str, hits: Sequence[Hit], candidates: Sequence[Candidate]) -> list[SourceLine]:
    """One line per document of `hits`, in the order its first passage ranks: the sentence of its passages chosen
    first (`qa.answer.choice_order`, as the answer is), with the highest confidence of any of them (as the
    answer has: the answer model's probability, 0 for a sentence that lacks the figure or date asked for).
    `candidates[i].hit` indexes `hits`, as `Retriever.ask_rated` returns them. A document none of whose
    sentences was rated has no line. The answer's own document carries the answer's confidence, the highest of
    all, so its line never calls the sentence presented as the answer one that "states no answer"."""
    order, scores = choice_order(question, hits, candidates)
    chosen: dict[str, Candidate] = {hits[candidates[i].hit].doc_id: candidates[i] for i in order}  # best last
    highest: dict[str, float] = {}
    for candidate, score in zip(candidates, scores):
        doc_id = hits[candidate.hit].doc_id
        highest[doc_id] = max(score, highest.get(doc_id, score))
    if order:
        highest[hits[candidates[order[-1]].hit].doc_id] = max(scores)
    lines: dict[str, SourceLine] = {}  # by sentence: a sentence another document states too joins its line
    for doc_id in dict.fromkeys(hit.doc_id for hit in sorted(hits, key=lambda hit: hit.rank)):
        if doc_id in chosen:
            hit = hits[chosen[doc_id].hit]
            hit = replace(hit, answer=Sentence(*chosen[doc_id].span, highest[doc_id]))
            said = " ".join(hit.answer_text.split())
            copies = tuple(copy for copy in hit.copies if copy.doc_id not in chosen)
            if said in lines:
                lines[said] = replace(lines[said], also=(*lines[said].also, hit, *copies))
            else:
                lines[said] = SourceLine(hit, highest[doc_id] < NO_ANSWER_THRESHOLD, copies)
    return list(lines.values())
