"""Search: dense (FAISS) and BM25 candidates fused by a convex combination of their scores, returned as `Hit`s with sources."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from qa.answer import (ANSWER_PASSAGES, RERANK_DEPTH, AskedQuestion, Candidate, choose_answer, keep_passages,
                       rate_hits, stated, with_phrase)
from qa.answer_model import AnswerModel
from qa.config import Settings
from qa.embedding import Embedder
from qa.errors import QuestionError
from qa.fusion import convex_combination
from qa.records import Answer, Document, Hit
from qa.storage import DocumentRow, Filters, Store, is_url, open_store
from qa.text import normal_form, source_key

logger = logging.getLogger(__name__)

# Hybrid score = DENSE_WEIGHT * minmax(cosine) + (1 - DENSE_WEIGHT) * minmax(BM25) over each top-100. On SciFact
# train (809 claims) nDCG@10: reciprocal rank fusion k=60 0.723, convex 0.50 0.729, 0.55 0.733, 0.60 0.732.
DENSE_WEIGHT = 0.55

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")


MAX_K = 100  # passages one search may return: what a page or an API client can use, and bounded work


def check_k(k: object) -> int:
    """`k` if it is a whole number from 1 to MAX_K; QuestionError otherwise."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QuestionError(f"the number of passages must be a whole number from 1 to {MAX_K}, not {k!r}")
    return k


def check_date(value: str | date, name: str) -> str:
    """An ISO date (YYYY-MM-DD, or YYYY-MM or YYYY) that exists, or ""; QuestionError naming `name` otherwise.
    A `date` (or `datetime`, whose day counts) is taken as its day.

    Stored dates are compared as this text, so other forms `date.fromisoformat` takes (20211107, 2021-W45) are
    refused rather than compared wrongly."""
    if isinstance(value, date):
        return value.isoformat()[:10]
    value = normal_form(valid_text(value, name)).strip()  # full-width digits, as front matter takes them
    if not value:
        return ""
    padded = value + "-01-01"[len(value) - 4:] if len(value) in (4, 7) else value
    try:
        readable = bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", padded)) and bool(date.fromisoformat(padded))
    except ValueError:  # a day that does not exist, as 2021-02-30
        readable = False
    if not readable:
        raise QuestionError(f"{name} {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2021-11-07")
    return value


def check_filters(filters: Filters) -> Filters:
    """The filters, if their sources are valid text and their dates real dates in order; QuestionError otherwise."""
    if not isinstance(filters, Filters):
        raise QuestionError(f"filters must be qa.Filters(sources=..., since=..., until=...), not {filters!r}")
    for source in filters.sources:
        if "\x00" in valid_text(source, "the source"):
            raise QuestionError("the source holds a NUL character; type its name again")
    since, until = check_date(filters.since, "the start date"), check_date(filters.until, "the end date")
    if since and until and since > until + "\uffff":
        raise QuestionError(f"the start date {since} is after the end date {until}; no document can match")
    return Filters(tuple(normal_form(source) for source in filters.sources), since, until)


def valid_text(text: str, name: str) -> str:
    """The text, unless it is not text at all or holds bytes that were not valid UTF-8 (as a shell may pass them);
    QuestionError then."""
    if not isinstance(text, str):
        raise QuestionError(f"{name} must be text (a str), not {type(text).__name__}: {text!r:.80}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise QuestionError(f"{name} holds bytes that are not valid UTF-8 text; type it again or check the "
                            "terminal's encoding") from None
    return text


class Retriever:
    """Answers questions from one store (an index folder's generation, or a Postgres database).

    An index folder is read as one snapshot: reopen (or use `refreshed`) to see a newer build.
    """

    def __init__(self, store: Store, embedder: Embedder, settings: Settings) -> None:
        store.manifest.check_compatible(embedder.model_id, embedder.dimension, store.location())
        self.store = store
        self.embedder = embedder
        self.settings = settings

    @classmethod
    def open(cls, location: str | Path | None = None, embedder: Embedder | None = None,
             settings: Settings | None = None) -> Retriever:
        """Open an index folder or a postgresql:// URL (default: the settings' store, else their index folder).

        Loads the model unless an Embedder is given.

        Example:
            >>> retriever = Retriever.open("index")   # or Retriever.open("postgresql://host/news")
        """
        settings = settings or Settings.from_env()
        if location is not None:
            settings = (replace(settings, store=str(location)) if is_url(location)
                        else replace(settings, index_dir=Path(location), store=""))
        return cls(open_store(settings), embedder or Embedder.from_settings(settings), settings)

    def close(self) -> None:
        """Release the index's files and connections (a discarded retriever releases them only when Python's
        garbage collector runs, which keeps an old generation's disk space after a build)."""
        self.store.close()

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def is_current(self) -> bool:
        """False once a newer build has replaced the index this retriever reads, or its files were damaged."""
        return self.store.is_current()

    def refreshed(self) -> Retriever:
        """This retriever if its index is still current, else one on the new one (same model)."""
        return self if self.is_current() else Retriever.open(None, self.embedder, self.settings)

    def documents(self) -> list[DocumentRow]:
        return self.store.documents()

    def document(self, doc_id: str) -> Document | None:
        return self.store.document(doc_id)

    def check_question(self, question: str) -> str:
        """The question, stripped; QuestionError if it is empty, too long, or not valid text."""
        question = " ".join(normal_form(valid_text(question, "the question")).split())
        if not question:
            raise QuestionError("the question is empty; type a few words about what you want to find")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise QuestionError(
                f"the question is {len(question):,} characters long; the limit is {limit:,}. Shorten it to its key words"
            )
        return question

    def search(self, question: str, k: int = 5, mode: Mode = "hybrid", filters: Filters | None = None,
               candidates: int = 100) -> list[Hit]:
        """The `k` best passages for the question, best first.

        Example:
            >>> hits = Retriever.open("index").search("who was suspected of the Kadhimi attack", k=5)
        """
        return self._search(self.check_question(question), k, mode, filters, candidates)

    def ask(self, question: str, k: int = 5, mode: Mode = "hybrid", filters: Filters | None = None) -> Answer:
        """Search, mark the answering sentence in each hit, and pick the best one (see qa.answer).

        In hybrid mode the top RERANK_DEPTH candidates are reordered by sentence and token-match scores first;
        dense and bm25 keep their own order, so each can be compared alone. The question is checked and
        encoded once: its vector from the word-piece run serves the dense search too.
        """
        return self.ask_rated(question, k, mode, filters)[0]

    def ask_rated(self, question: str, k: int = 5, mode: Mode = "hybrid", filters: Filters | None = None
                  ) -> tuple[Answer, list[Candidate]]:
        """`ask`, and the rated candidate sentences it chose from (`candidate.hit` indexes `answer.hits`), for a
        caller that shows more than the answer (the page's "what each source says") without rating twice."""
        question = self.check_question(question)
        hits, candidates = self._rated(question, max(check_k(k), ANSWER_PASSAGES), mode, filters)
        answer, kept = keep_passages(choose_answer(question, hits, candidates), candidates, k)
        return with_phrase(answer, self.answer_model), kept

    def rated(self, question: str, k: int = 5, mode: Mode = "hybrid", filters: Filters | None = None
              ) -> tuple[list[Hit], list[Candidate]]:
        """What `ask` chooses the answer from: its `k` hits and every candidate sentence of them, rated."""
        return self._rated(self.check_question(question), check_k(k), mode, filters)

    def _rated(self, question: str, k: int, mode: Mode, filters: Filters | None) -> tuple[list[Hit], list[Candidate]]:
        """`rated` for a checked question."""
        asked = AskedQuestion.encode(question, self.embedder, self.store.idf)
        rerank = mode == "hybrid"
        hits = self._search(asked.text, max(k, RERANK_DEPTH) if rerank else k, mode, filters,
                            query=asked.tokens.sentence[None, :])
        return rate_hits(asked, hits, self.embedder, self.store.idf, self.answer_model, k=k, rerank=rerank,
                         stories=self.stories(hits) if rerank else None)

    def stories(self, hits: Sequence[Hit]) -> dict[str, str]:
        """What each hit's whole document states (`qa.answer.stated`), by document id: the rerank weighs how many
        of the question's names it gives."""
        documents = {doc_id: self.store.document(doc_id) for doc_id in dict.fromkeys(hit.doc_id for hit in hits)}
        return {doc_id: stated(document) for doc_id, document in documents.items() if document is not None}

    @cached_property
    def answer_model(self) -> AnswerModel:
        """The trained answer scorer, loaded on the first `ask`."""
        return AnswerModel.shipped()

    def _search(self, question: str, k: int, mode: Mode, filters: Filters | None, candidates: int = 100,
                query: np.ndarray | None = None) -> list[Hit]:
        """`search` of a checked question; `query` is its vector when the caller already has it."""
        if mode not in MODES:
            raise QuestionError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
        check_k(k)
        filters = self._alike_sources(check_filters(filters or Filters()))
        n = max(candidates, k)
        vector = None
        if mode in ("hybrid", "dense"):
            vector = query if query is not None else self.embedder.encode_query(question)
        with self.store.snapshot():  # the passages fetched are those the search found, whatever a sync commits
            rankings = []
            if vector is not None:
                rankings.append(self.store.dense(vector, n, filters).pairs())
            if mode in ("hybrid", "bm25"):
                rankings.append(self.store.keyword(question, n, filters).pairs())
            if mode == "hybrid":
                fused = convex_combination(dict(rankings[0]), dict(rankings[1]), weight=DENSE_WEIGHT)
            else:
                fused = rankings[0]
            return self._hits(fused[:k])


    def _alike_sources(self, filters: Filters) -> Filters:
        """The filters with each source also naming the publishers written like it, case, apostrophes and spacing
        aside: "reuters" is Reuters, "L'Orient-Le Jour" is L’Orient-Le Jour (a reader types what the list shows)."""
        if not filters.sources:
            return filters
        wanted = {source_key(source) for source in filters.sources}
        alike = {row.publisher for row in self.documents() if row.publisher and source_key(row.publisher) in wanted}
        return replace(filters, sources=tuple(dict.fromkeys([*filters.sources, *sorted(alike)])))

    def _hits(self, ranked: list[tuple[int, float]]) -> list[Hit]:
        rows = self.store.chunk_rows([chunk_id for chunk_id, _ in ranked])
        return [
            Hit(rank=rank, score=score, text=row["text"], chunk_id=chunk_id, doc_id=row["doc_id"],
                title=row["title"], publisher=row["publisher"], author=row["author"], date=row["date"],
                path=row["path"], page=row["page"], start=row["start"], end=row["end"], url=row["url"] or "")
            for rank, (chunk_id, score) in enumerate(ranked, start=1)
            if (row := rows.get(chunk_id)) is not None
        ]
