"""Evaluation on BEIR-format sets: loading, ranking metrics, and runs of the project's own pipeline.

Qrels and runs use the TREC shape: qrels are `{query_id: {doc_id: relevance}}`, a run is
`{query_id: [doc_id, ...]}` ranked best first. The metrics are pure functions of the two, averaged over
the queries that have at least one relevant document (a query missing from the run scores 0).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import logging
import math
import os
import platform
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Literal

import qa
from qa.answer import NO_ANSWER_THRESHOLD, RERANK_DEPTH
from qa.config import Settings
from qa.embedding import Embedder, Progress
from qa.errors import QAError
from qa.indexer import build_from_documents
from qa.records import Answer, Document
from qa.retrieval import DENSE_WEIGHT, Filters, Retriever
from qa.storage import FORMAT_VERSION

logger = logging.getLogger(__name__)

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Sequence[str]]

RECALL_CUTOFFS = (1, 5, 10, 100)


def _relevant(judged: Mapping[str, int]) -> set[str]:
    return {doc_id for doc_id, rel in judged.items() if rel > 0}


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _judged_queries(qrels: Qrels) -> list[str]:
    """Queries with at least one relevant document; the others cannot be scored."""
    return [qid for qid, judged in qrels.items() if _relevant(judged)]


def ndcg_at_k(qrels: Qrels, run: Run, k: int = 10) -> float:
    """Mean nDCG@k with linear gain (rel / log2(rank + 1)), as trec_eval's ndcg_cut and BEIR.

    Järvelin and Kekäläinen (2002), "Cumulated gain-based evaluation of IR techniques".
    """

    def one(qid: str) -> float:
        judged = qrels[qid]
        dcg = sum(judged.get(doc_id, 0) / math.log2(rank + 1)
                  for rank, doc_id in enumerate(run.get(qid, ())[:k], start=1) if judged.get(doc_id, 0) > 0)
        ideal = sorted((rel for rel in judged.values() if rel > 0), reverse=True)[:k]
        return dcg / sum(rel / math.log2(rank + 1) for rank, rel in enumerate(ideal, start=1))

    return _mean(one(qid) for qid in _judged_queries(qrels))


def recall_at_k(qrels: Qrels, run: Run, k: int) -> float:
    """Mean share of a query's relevant documents found in the top k."""

    def one(qid: str) -> float:
        relevant = _relevant(qrels[qid])
        return len(relevant.intersection(run.get(qid, ())[:k])) / len(relevant)

    return _mean(one(qid) for qid in _judged_queries(qrels))


def mrr_at_k(qrels: Qrels, run: Run, k: int = 10) -> float:
    """Mean reciprocal rank of the first relevant document in the top k (0 when there is none)."""

    def one(qid: str) -> float:
        relevant = _relevant(qrels[qid])
        ranks = (rank for rank, doc_id in enumerate(run.get(qid, ())[:k], start=1) if doc_id in relevant)
        return 1.0 / next(ranks, math.inf)

    return _mean(one(qid) for qid in _judged_queries(qrels))


def evaluate(qrels: Qrels, run: Run) -> dict[str, float]:
    """nDCG@10, MRR@10 and Recall@1/5/10/100 of a run.

    Example:
        >>> evaluate({"q": {"a": 1}}, {"q": ["b", "a"]})["MRR@10"]
        0.5
    """
    scores = {"nDCG@10": ndcg_at_k(qrels, run, 10), "MRR@10": mrr_at_k(qrels, run, 10)}
    scores.update({f"R@{k}": recall_at_k(qrels, run, k) for k in RECALL_CUTOFFS})
    return scores


def document_ranking(doc_ids: Iterable[str]) -> list[str]:
    """Document ids of ranked passages, each document once at its best rank (max-pooling over its chunks)."""
    return list(dict.fromkeys(doc_ids))


@dataclass(frozen=True)
class Query:
    """A benchmark question; SQuAD-style sets also give the strings that answer it."""

    query_id: str
    text: str
    answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class BeirSet:
    """A BEIR-format set: its documents, the queries judged in one qrels split, and those qrels.

    `fingerprint` is a digest of the files the index depends on (not `unanswerable.jsonl`), so a cached
    index of the set knows when it is stale. `unanswerable` holds the questions no document answers, which
    an assistant should decline.
    """

    name: str
    documents: tuple[Document, ...]
    queries: tuple[Query, ...]
    qrels: Mapping[str, Mapping[str, int]]
    fingerprint: str
    unanswerable: tuple[Query, ...] = ()

    @property
    def has_answers(self) -> bool:
        """True for SQuAD-style sets, whose queries carry answer strings."""
        return any(query.answers for query in self.queries)

    @cached_property
    def titles(self) -> dict[str, str]:
        """Each document's title by id: the title names its article (SQuAD paragraphs of one article share it)."""
        return {doc.doc_id: doc.title for doc in self.documents}

    def gold_titles(self, query_id: str) -> set[str]:
        """The titles of a query's relevant documents: the articles that answer it."""
        return {self.titles[doc_id] for doc_id in _relevant(self.qrels.get(query_id, {})) if doc_id in self.titles}

    def with_queries(self, queries: Iterable[Query], unanswerable: Iterable[Query]) -> BeirSet:
        """The same set asking only these questions (qrels kept for them), for samples and held-out runs."""
        queries = tuple(queries)
        return replace(self, queries=queries, qrels={q.query_id: self.qrels[q.query_id] for q in queries},
                       unanswerable=tuple(unanswerable))


def load_beir(folder: str | Path, split: str = "test") -> BeirSet:
    """Read `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv`; keep the queries judged in that split.

    An `unanswerable.jsonl` beside them (same records, no gold documents) is read into `unanswerable`.

    Example:
        >>> scifact = load_beir("/data/scifact", split="train")
    """
    folder = Path(folder)
    paths = [folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"]
    for path in paths:
        if not path.is_file():
            raise QAError(f"{path} is missing; a BEIR-format set has corpus.jsonl, queries.jsonl and qrels/{split}.tsv")
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())

    qrels: dict[str, dict[str, int]] = {}
    for line in paths[2].read_text().splitlines()[1:]:  # the first line is the header
        if line.strip():
            query_id, doc_id, relevance = line.split("\t")
            qrels.setdefault(query_id, {})[doc_id] = int(relevance)
    queries = tuple(beir_query(record) for record in read_jsonl(paths[1]) if record["_id"] in qrels)
    unanswerable_path = folder / "unanswerable.jsonl"
    unanswerable = tuple(beir_query(record) for record in read_jsonl(unanswerable_path)) \
        if unanswerable_path.is_file() else ()
    documents = tuple(beir_document(record, folder.name) for record in read_jsonl(paths[0]))
    return BeirSet(folder.name, documents, queries, qrels, digest.hexdigest(), unanswerable)


def beir_query(record: Mapping) -> Query:
    """A BEIR query record as a Query, with its distinct answer strings when its metadata lists them."""
    return Query(record["_id"], record["text"], tuple(dict.fromkeys((record.get("metadata") or {}).get("answers", ()))))


def beir_document(record: Mapping[str, str], set_name: str) -> Document:
    """A BEIR corpus record as a Document, so it goes through the same chunk/embed/write path as a file.

    The title is the text's first line, as in an article file: both the embedding and BM25 see it (on
    SciFact train, title-in-text chunks scored nDCG@10 0.681 dense / 0.680 BM25 / 0.723 fused).
    """
    return Document(
        doc_id=record["_id"],
        path=f"{set_name}/{record['_id']}",
        text="\n".join(part for part in (record.get("title", ""), record["text"]) if part),
        title=record.get("title", ""),
        publisher=set_name,
    )


def read_jsonl(path: Path) -> Iterable[dict]:
    """The records of a JSON-lines file, skipping blank lines."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def open_index(beir: BeirSet, settings: Settings, embedder: Embedder, progress: Progress | None = None) -> Retriever:
    """A retriever over the set's documents in `settings.index_dir`, built with the project's own pipeline.

    The build is skipped when the folder already holds one of the same files, model and chunker settings
    (recorded in `source.json` beside the generations), so several runs can share one costly encode.
    """
    stamp = Path(settings.index_dir) / "source.json"
    source = {"set": beir.name, "fingerprint": beir.fingerprint, "model": embedder.model_id,
              "chunk_tokens": settings.chunk_tokens, "overlap_tokens": settings.overlap_tokens,
              "faiss_factory": settings.faiss_factory, "format_version": FORMAT_VERSION, "store": settings.store}
    try:
        built = json.loads(stamp.read_text())
    except (OSError, ValueError):
        built = None
    if built != source:
        logger.info("indexing %d documents of %s into %s", len(beir.documents), beir.name, settings.index_dir)
        build_from_documents(settings, embedder, beir.documents, progress=progress)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(source, indent=2))
    return Retriever.open(None, embedder, settings)


def cached_index_dir(data_dir: str | Path, settings: Settings, cache: str | Path | None = None) -> Path:
    """Where `python -m qa eval` keeps a set's index: one folder per set, chunk setting and backend in `cache`."""
    cache = Path(cache) if cache else Path(tempfile.gettempdir()) / "qa-eval-cache"
    name = Path(data_dir).resolve().name
    return cache / f"{name}-{settings.chunk_tokens}-{settings.overlap_tokens}-{settings.backend}"


def contains_answer(text: str, answers: Sequence[str]) -> bool:
    """True when any answer string occurs in the text (case-insensitive, whitespace-normalized)."""
    haystack = " ".join(text.split()).lower()
    return any(" ".join(answer.split()).lower() in haystack for answer in answers if answer.strip())


@dataclass(frozen=True)
class ModeResult:
    """One retrieval mode on one set: its metrics, seconds in total and per question."""

    mode: str
    metrics: dict[str, float]
    seconds: float
    p50_ms: float
    p95_ms: float


def _latency(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times) or [0.0]
    pick = lambda share: ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000  # noqa: E731
    return pick(0.50), pick(0.95)


def run_search(retriever: Retriever, beir: BeirSet, mode: str, depth: int = 100) -> tuple[Run, ModeResult]:
    """Each query's documents from `search` over its top `depth` passages (a document once, at its best rank).

    Recall@100 therefore counts the documents found within the top 100 passages, the search's own depth.
    """
    run: dict[str, list[str]] = {}
    times = []
    for query in beir.queries:
        started = time.perf_counter()
        hits = retriever.search(query.text, k=depth, mode=mode)
        times.append(time.perf_counter() - started)
        run[query.query_id] = document_ranking(hit.doc_id for hit in hits)
    return run, ModeResult(mode, evaluate(beir.qrels, run), sum(times), *_latency(times))


def run_ask(retriever: Retriever, beir: BeirSet, search_run: Run, k: int = 5) -> tuple[ModeResult, dict[str, Answer]]:
    """`ask` (hybrid search, sentence rerank, marked answers) per query; documents past its `k` hits follow
    the hybrid `search_run`, so only the top k reflect the rerank."""
    run: dict[str, list[str]] = {}
    answers: dict[str, Answer] = {}
    times = []
    for query in beir.queries:
        started = time.perf_counter()
        answer = retriever.ask(query.text, k=k, mode="hybrid")
        times.append(time.perf_counter() - started)
        answers[query.query_id] = answer
        run[query.query_id] = document_ranking([*(doc for hit in answer.hits for doc in hit.documents),
                                                 *search_run[query.query_id]])
    return ModeResult("hybrid+rerank (ask)", evaluate(beir.qrels, run), sum(times), *_latency(times)), answers


Kind = Literal["answerable", "unanswerable", "filtered"]


@dataclass(frozen=True)
class QuestionRecord:
    """One question as `ask` answered it in an evaluation: enough to recalibrate the no-answer threshold offline.

    `kind`: "answerable" (a judged query), "unanswerable" (from `unanswerable.jsonl`) or "filtered" (an
    answerable query asked again with every document of its article filtered out). `score` is the answer
    sentence's score (None when nothing was found), `holds_answer` whether that sentence holds an answer
    string, `gold_first` whether the top passage is from a relevant document, `phrase_text` the answer phrase
    marked inside the sentence ("" when none is).
    """

    query_id: str
    kind: Kind
    score: float | None
    confident: bool
    holds_answer: bool
    gold_first: bool
    answer_text: str
    phrase_text: str = ""

    def answered(self, threshold: float | None = None) -> bool:
        """Whether the assistant answers: as `ask` decided (None), or as it would at this threshold on `score`."""
        if threshold is None:
            return self.confident
        return self.score is not None and self.score >= threshold


def question_record(query: Query, kind: Kind, answer: Answer, relevant: Iterable[str] = ()) -> QuestionRecord:
    """The record of one asked question, given its gold document ids."""
    best = answer.best
    return QuestionRecord(query.query_id, kind, answer.confidence if best else None, answer.confident,
                          contains_answer(answer.text, query.answers),
                          bool(answer.hits) and not set(answer.hits[0].documents).isdisjoint(relevant), answer.text,
                          answer.phrase_text)


def answer_records(retriever: Retriever, beir: BeirSet, answers: Mapping[str, Answer]) -> list[QuestionRecord]:
    """Records of the answerable questions (from their `answers`) and of the unanswerable ones, asked here."""
    records = [question_record(q, "answerable", answers[q.query_id], _relevant(beir.qrels[q.query_id]))
               for q in beir.queries if q.answers]
    logger.info("%s: asking %d unanswerable queries", beir.name, len(beir.unanswerable))
    return records + [question_record(q, "unanswerable", retriever.ask(q.text, k=5, mode="hybrid"))
                      for q in beir.unanswerable]


# Each decision share: the group of questions it is over, and what counts in it at a threshold (None: as asked).
DECISIONS: dict[str, tuple[Kind, Callable[[QuestionRecord, float | None], bool]]] = {
    "answerable answered": ("answerable", lambda r, t: r.answered(t)),
    "answered and right": ("answerable", lambda r, t: r.answered(t) and r.holds_answer),
    "unanswerable declined": ("unanswerable", lambda r, t: not r.answered(t)),
    "declined with the article filtered out": ("filtered", lambda r, t: not r.answered(t)),
}


def decision_shares(records: Sequence[QuestionRecord], threshold: float | None = None) -> dict[str, float]:
    """The DECISIONS shares of these records at a threshold on the score (None: as `ask` decided).

    The report and an offline recalibration both compute them here; a share whose group has no records is
    left out.
    """
    shares = {}
    for name, (kind, counts) in DECISIONS.items():
        group = [record for record in records if record.kind == kind]
        if group:
            shares[name] = _mean(counts(record, threshold) for record in group)
    return shares


def threshold_table(records: Sequence[QuestionRecord], thresholds: Iterable[float]) -> list[dict[str, float]]:
    """`decision_shares` at each candidate threshold, to choose a new one from saved records without asking again."""
    return [{"threshold": threshold, **decision_shares(records, threshold)} for threshold in thresholds]


def read_records(report_path: str | Path) -> list[QuestionRecord]:
    """The per-question records (`questions`) of a saved `eval-<set>.json`, for `threshold_table` offline."""
    return [QuestionRecord(**row) for row in json.loads(Path(report_path).read_text())["questions"]]


def answer_metrics(beir: BeirSet, answers: Mapping[str, Answer], records: Sequence[QuestionRecord]) -> dict[str, float]:
    """For sets with answer strings: is an answer in the top passages, in the marked sentence, in the answer?

    "marked sentence contains an answer" is over the questions whose top passage is from a relevant
    document; "gold document first" and "answer sentence contains an answer" (the sentence `ask` presents)
    over all answerable questions, read from their `records`; "answer phrase marked" over the answerable
    questions, and whether a marked phrase contains an answer over those it was marked for.
    """
    asked = [query for query in beir.queries if query.answers]
    record = {r.query_id: r for r in records if r.kind == "answerable"}
    first = [q for q in asked if record[q.query_id].gold_first]
    return {
        "answer in top-1 passage": _mean(
            any(contains_answer(hit.text, q.answers) for hit in answers[q.query_id].hits[:1]) for q in asked),
        "answer in top-5 passages": _mean(
            any(contains_answer(hit.text, q.answers) for hit in answers[q.query_id].hits[:5]) for q in asked),
        "gold document first": _mean(record[q.query_id].gold_first for q in asked),
        "marked sentence contains an answer (gold first)": _mean(
            contains_answer(answers[q.query_id].hits[0].answer_text, q.answers) for q in first),
        "answer sentence contains an answer": _mean(record[q.query_id].holds_answer for q in asked),
        "answer phrase marked": _mean(bool(record[q.query_id].phrase_text) for q in asked),
        "marked answer phrase contains an answer": _mean(
            contains_answer(phrase, q.answers) for q in asked if (phrase := record[q.query_id].phrase_text)),
    }


@dataclass(frozen=True)
class Calibration:
    """Thresholds on the answer sentence's score, from answered and unanswerable questions.

    Positives: questions whose presented answer sentence contains an answer string. Negatives: the same
    questions asked with every document of their article filtered out. `threshold` (below it: "the
    corpus does not seem to answer this") maximizes TPR - FPR (Youden's J) over the observed scores (floored
    to 3 decimals); `strong_threshold` is the lowest at which at most STRONG_FPR of the negatives still pass (the page's
    "Strong match").
    """

    threshold: float
    true_positive_rate: float
    false_positive_rate: float
    strong_threshold: float
    strong_tpr: float
    strong_fpr: float
    positives: int
    negatives: int
    current_threshold: float
    current_tpr: float
    current_fpr: float


STRONG_FPR = 0.01


def choose_thresholds(records: Sequence[QuestionRecord], current: float = 0.0) -> Calibration:
    """The Calibration of these records: the "filtered" ones are the negatives, and the "answerable" records of
    the same questions whose answer sentence holds an answer the positives."""
    asked_again = {r.query_id for r in records if r.kind == "filtered"}
    positives = [r for r in records if r.kind == "answerable" and r.holds_answer and r.query_id in asked_again]
    negatives = [r for r in records if r.kind == "filtered"]

    def rates(threshold: float) -> tuple[float, float]:
        return _mean(r.answered(threshold) for r in positives), _mean(r.answered(threshold) for r in negatives)

    # Thresholds are floored to 3 decimals, so a positive scored at one is still answered at the value
    # reported (and shipped); the rates are those at that value.
    candidates = sorted({math.floor(r.score * 1000) / 1000 for r in positives if r.score is not None})
    best = max(candidates, key=lambda t: (rates(t)[0] - rates(t)[1], -t), default=0.0)
    strong = min((t for t in candidates if rates(t)[1] <= STRONG_FPR), default=best)
    return Calibration(best, *rates(best), strong, *rates(strong), len(positives), len(negatives), current,
                       *rates(current))


def calibrate_no_answer(retriever: Retriever, beir: BeirSet, records: Sequence[QuestionRecord], every: int = 4,
                        current: float = 0.0) -> tuple[Calibration, list[QuestionRecord]]:
    """Ask every `every`-th answerable question again without its article; choose the thresholds (see Calibration).

    `records` are the answerable questions' records; returns the calibration and the records of the
    questions asked again (kind "filtered"). The article of a document is its title.
    """
    by_title: dict[str, list[str]] = {}
    for doc in beir.documents:
        by_title.setdefault(doc.title, []).append(doc.doc_id)
    filtered = []
    for query in [q for q in beir.queries if q.answers][::every]:
        gold_titles = beir.gold_titles(query.query_id)
        others = tuple(doc_id for title, ids in by_title.items() if title not in gold_titles for doc_id in ids)
        answer = retriever.ask(query.text, k=5, mode="hybrid", filters=Filters(sources=others))
        filtered.append(question_record(query, "filtered", answer, _relevant(beir.qrels[query.query_id])))
    return choose_thresholds([*records, *filtered], current), filtered


def held_out_articles(path: Path | None = None) -> tuple[str, ...]:
    """The titles of the articles the shipped answer model was not trained on, the only fair ones to report on."""
    path = path or Path(qa.__file__).parent / "models" / "answer-scorer.json"
    try:
        return tuple(json.loads(path.read_text())["held_out_articles"])
    except (OSError, ValueError, KeyError) as error:
        raise QAError(f"cannot read the held-out articles (key held_out_articles) of {path}: {error}") from error


def held_out_only(beir: BeirSet, titles: Iterable[str]) -> BeirSet:
    """The set asking only the questions whose gold documents all belong to these articles (by title).

    Unanswerable questions have no gold article and all stay.
    """
    titles = set(titles)
    kept = [q for q in beir.queries if (gold := beir.gold_titles(q.query_id)) and gold <= titles]
    if not kept:
        raise QAError(f"no question of {beir.name} has its gold documents in the {len(titles)} held-out articles")
    return beir.with_queries(kept, beir.unanswerable)


def machine() -> dict[str, object]:
    """Cores and CPU model (from /proc/cpuinfo where there is one), for the results to say where they ran."""
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model or platform.processor(), "python": platform.python_version()}


def answer_report(retriever: Retriever, beir: BeirSet, answers: Mapping[str, Answer], calibrate: bool) -> dict:
    """The answer part of a report on a set with answer strings: checks, decisions, calibration, question records.

    `decisions` are as `ask` decided; `decisions_at` the same shares at the shipped and the chosen thresholds;
    `questions` the records (QuestionRecord) they are computed from, to recalibrate offline.
    """
    records = answer_records(retriever, beir, answers)
    report: dict = {"answers": answer_metrics(beir, answers, records)}
    thresholds = {NO_ANSWER_THRESHOLD}
    if calibrate:
        logger.info("%s: calibrating the no-answer threshold", beir.name)
        calibration, filtered = calibrate_no_answer(retriever, beir, records, current=NO_ANSWER_THRESHOLD)
        records += filtered
        report["no_answer"] = asdict(calibration)
        thresholds |= {calibration.threshold, calibration.strong_threshold}
    report["decisions"] = decision_shares(records)
    report["decisions_at"] = threshold_table(records, sorted(thresholds))
    report["questions"] = [asdict(record) for record in records]
    return report


def benchmark(folder: str | Path, settings: Settings, embedder: Embedder, split: str = "test",
              modes: Sequence[str] = ("dense", "bm25", "hybrid"), calibrate: bool = True, every: int = 1,
              held_out: Sequence[str] = ()) -> dict:
    """Index a BEIR-format set with the project's pipeline (in `settings.index_dir`) and measure every mode.

    Returns a JSON-ready report: set, sizes, settings, machine, timings, metrics per mode, the `ask` run
    (hybrid with the sentence rerank), and for SQuAD-style sets `answer_report`. `held_out` (article
    titles) keeps only the questions of those articles; `every` > 1 then scores every n-th query only (a
    fixed sample, for slow machines).
    """
    beir = load_beir(folder, split)
    if held_out:
        beir = held_out_only(beir, held_out)
    if every > 1:
        beir = beir.with_queries(beir.queries[::every], beir.unanswerable[::every])
    started = time.perf_counter()
    retriever = open_index(beir, settings, embedder)
    report: dict = {
        "set": beir.name, "data_dir": str(Path(folder).resolve()), "split": split, "documents": len(beir.documents),
        "queries": len(beir.queries), "unanswerable": len(beir.unanswerable), "every": every, "held_out_articles": list(held_out),
        "no_answer_threshold": NO_ANSWER_THRESHOLD,
        "chunks": retriever.store.manifest.chunks, "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(), "model": embedder.model_id, "backend": getattr(embedder, "backend", "torch"),
        "settings": {"chunk_tokens": settings.chunk_tokens, "overlap_tokens": settings.overlap_tokens,
                     "faiss_factory": settings.faiss_factory, "dense_weight": DENSE_WEIGHT},
        "index_seconds": round(time.perf_counter() - started, 1), "modes": [],
    }
    runs = {}
    for mode in modes:
        logger.info("%s: searching %d queries, mode %s", beir.name, len(beir.queries), mode)
        runs[mode], result = run_search(retriever, beir, mode)
        report["modes"].append(asdict(result))
    if "hybrid" in runs:
        logger.info("%s: asking %d queries", beir.name, len(beir.queries))
        result, answers = run_ask(retriever, beir, runs["hybrid"])
        report["modes"].append(asdict(result))
        if beir.has_answers:
            report.update(answer_report(retriever, beir, answers, calibrate))
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    return report


def results_stem(report: Mapping) -> str:
    """`eval-<set>`, or `eval-<set>-heldout` for a run on the held-out articles, so neither overwrites the other."""
    return f"eval-{report['set']}" + ("-heldout" if report["held_out_articles"] else "")


def write_results(report: Mapping, out_dir: str | Path) -> tuple[Path, Path]:
    """Write `<results_stem>.json` and `.md` (a table per mode) into `out_dir`; return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = results_stem(report)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def markdown(report: Mapping) -> str:
    """The report as a Markdown page: where and when it ran, then one row per mode."""
    m = report["machine"]
    s = report["settings"]
    held_out = report["held_out_articles"]
    lines = [
        f"# {report['set']} ({report['split']}" + (", held-out articles only)" if held_out else ")"),
        "",
        f"{report['date']}; {m['cores']} cores, {m['cpu']}; Python {m['python']}; model {report['model']} "
        f"({report['backend']}).",
        f"{report['documents']:,} documents as {report['chunks']:,} passages of at most {s['chunk_tokens']} word pieces "
        f"(overlap {s['overlap_tokens']}), FAISS {s['faiss_factory']}, hybrid dense weight {s['dense_weight']}; "
        f"{report['queries']:,} queries"
        + (f" and {report['unanswerable']:,} unanswerable ones" if report["unanswerable"] else "")
        + (f" (one in {report['every']} of the split)" if report["every"] > 1 else "")
        + f". Index built or reused in {report['index_seconds']} s; the whole run took {report['total_seconds']:.0f} s.",
        *([f"Restricted to the questions whose gold documents are from the {len(held_out)} articles held out from the "
           f"answer model's training (qa/models/answer-scorer.json): {', '.join(held_out)}."] if held_out else []),
        "",
        "| mode | nDCG@10 | MRR@10 | R@1 | R@5 | R@10 | R@100 | seconds | p50 ms | p95 ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["modes"]:
        x = row["metrics"]
        lines.append(f"| {row['mode']} | {x['nDCG@10']:.3f} | {x['MRR@10']:.3f} | {x['R@1']:.3f} | {x['R@5']:.3f} | "
                     f"{x['R@10']:.3f} | {x['R@100']:.3f} | {row['seconds']:.0f} | {row['p50_ms']:.0f} | "
                     f"{row['p95_ms']:.0f} |")
    lines += ["", "Documents count once, at their best passage's rank; R@100 counts those within the top 100 "
              f"passages. The ask row reranks the hybrid top {RERANK_DEPTH} by sentence and token-match scores "
              "(qa.answer) and returns 5 passages; its ranks past 5 follow the hybrid search."]
    if "answers" in report:
        lines += ["", "## Answers", "", "| check | share of questions |", "| --- | --- |"]
        lines += [f"| {name} | {value:.3f} |" for name, value in report["answers"].items()]
    if "decisions" in report:
        lines += decisions_markdown(report)
    if "no_answer" in report:
        c = report["no_answer"]
        lines += ["", "## No-answer threshold", "",
                  f"Positives: {c['positives']} questions whose answer sentence contains an answer string; negatives: "
                  f"the same sample ({c['negatives']} questions) asked with their article filtered out. The threshold "
                  "maximizing TPR - FPR is "
                  f"{c['threshold']:.3f} (TPR {c['true_positive_rate']:.3f}, FPR {c['false_positive_rate']:.3f}). "
                  f"The lowest with FPR at most {STRONG_FPR} (a strong match) is {c['strong_threshold']:.3f} "
                  f"(TPR {c['strong_tpr']:.3f}, FPR {c['strong_fpr']:.3f}). "
                  f"At the shipped qa.answer.NO_ANSWER_THRESHOLD {c['current_threshold']:.3f}: TPR "
                  f"{c['current_tpr']:.3f}, FPR {c['current_fpr']:.3f}."]
    return "\n".join(lines) + "\n"


def decisions_markdown(report: Mapping) -> list[str]:
    """The answer-or-decline section: the shares as `ask` decided, then at each threshold of `decisions_at`."""
    counts = Counter(row["kind"] for row in report["questions"])
    names = list(report["decisions"])
    lines = ["", "## Answer or decline", "",
             f"As `ask` decided (qa.answer.NO_ANSWER_THRESHOLD {report['no_answer_threshold']:.3f}); per-question "
             "records are in the JSON (`questions`).", "", "| share | value | over |", "| --- | --- | --- |"]
    lines += [f"| {name} | {report['decisions'][name]:.3f} | {counts[DECISIONS[name][0]]:,} {DECISIONS[name][0]} |"
              for name in names]
    lines += ["", "The same shares at other thresholds on the answer sentence's score:", "",
              "| threshold | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    lines += [f"| {row['threshold']:.3f} | " + " | ".join(f"{row[name]:.3f}" for name in names) + " |"
              for row in report["decisions_at"]]
    return lines
