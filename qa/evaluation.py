"""Evaluation on BEIR-format sets: loading, ranking metrics, and runs of the project's own pipeline.

Qrels and runs use the TREC shape: qrels are `{query_id: {doc_id: relevance}}`, a run is
`{query_id: [doc_id, ...]}` ranked best first. The metrics are pure functions of the two, averaged over
the queries that have at least one relevant document (a query missing from the run scores 0).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import platform
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from qa.answer import NO_ANSWER_THRESHOLD, RERANK_DEPTH
from qa.config import Settings
from qa.embedding import Embedder, Progress
from qa.errors import QAError
from qa.indexer import build_from_documents
from qa.records import Answer, Document
from qa.retrieval import DENSE_WEIGHT, Filters, Retriever
from qa.store import FORMAT_VERSION

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

    `fingerprint` is a digest of the files read, so a cached index of the set knows when it is stale.
    """

    name: str
    documents: tuple[Document, ...]
    queries: tuple[Query, ...]
    qrels: Mapping[str, Mapping[str, int]]
    fingerprint: str

    @property
    def has_answers(self) -> bool:
        """True for SQuAD-style sets, whose queries carry answer strings."""
        return any(query.answers for query in self.queries)


def load_beir(folder: str | Path, split: str = "test") -> BeirSet:
    """Read `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv`; keep the queries judged in that split.

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
    queries = tuple(
        Query(record["_id"], record["text"], tuple(dict.fromkeys((record.get("metadata") or {}).get("answers", ()))))
        for record in read_jsonl(paths[1])
        if record["_id"] in qrels
    )
    documents = tuple(beir_document(record, folder.name) for record in read_jsonl(paths[0]))
    return BeirSet(folder.name, documents, queries, qrels, digest.hexdigest())


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
              "faiss_factory": settings.faiss_factory, "format_version": FORMAT_VERSION}
    try:
        built = json.loads(stamp.read_text())
    except (OSError, ValueError):
        built = None
    if built != source:
        logger.info("indexing %d documents of %s into %s", len(beir.documents), beir.name, settings.index_dir)
        build_from_documents(settings, embedder, beir.documents, progress=progress)
        stamp.write_text(json.dumps(source, indent=2))
    return Retriever.open(settings.index_dir, embedder, settings)


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
        run[query.query_id] = document_ranking([*(hit.doc_id for hit in answer.hits), *search_run[query.query_id]])
    return ModeResult("hybrid+rerank (ask)", evaluate(beir.qrels, run), sum(times), *_latency(times)), answers


def answer_metrics(beir: BeirSet, answers: Mapping[str, Answer]) -> dict[str, float]:
    """For sets with answer strings: is an answer in the top passages, in the marked sentence, in the answer?

    "marked sentence contains an answer" is over the questions whose top passage is from a relevant
    document; "answer sentence contains an answer" over all questions (the sentence `ask` presents).
    """
    asked = [query for query in beir.queries if query.answers]
    first = [query for query in asked if answers[query.query_id].hits
             and answers[query.query_id].hits[0].doc_id in _relevant(beir.qrels.get(query.query_id, {}))]
    return {
        "answer in top-1 passage": _mean(
            any(contains_answer(hit.text, q.answers) for hit in answers[q.query_id].hits[:1]) for q in asked),
        "answer in top-5 passages": _mean(
            any(contains_answer(hit.text, q.answers) for hit in answers[q.query_id].hits[:5]) for q in asked),
        "gold passage first": len(first) / len(asked) if asked else 0.0,
        "marked sentence contains an answer (gold first)": _mean(
            contains_answer(answers[q.query_id].hits[0].answer_text, q.answers) for q in first),
        "answer sentence contains an answer": _mean(contains_answer(answers[q.query_id].text, q.answers) for q in asked),
        "confident": _mean(answers[q.query_id].confident for q in asked),
    }


@dataclass(frozen=True)
class Calibration:
    """Thresholds on the answer sentence's score, from answered and unanswerable questions.

    Positives: questions whose presented answer sentence contains an answer string. Negatives: the same
    questions asked with every document of their article filtered out. `threshold` (below it: "the
    corpus does not seem to answer this") maximizes TPR - FPR (Youden's J) over the observed scores;
    `strong_threshold` is the lowest at which at most STRONG_FPR of the negatives still pass (the page's
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


def choose_thresholds(positives: Sequence[float], negatives: Sequence[float], current: float = 0.0) -> Calibration:
    """The Calibration for these scores of answered (positives) and unanswerable (negatives) questions."""

    def rates(threshold: float) -> tuple[float, float]:
        return (_mean(score >= threshold for score in positives), _mean(score >= threshold for score in negatives))

    candidates = sorted(set(positives))
    best = max(candidates, key=lambda t: (rates(t)[0] - rates(t)[1], -t), default=0.0)
    strong = min((t for t in candidates if rates(t)[1] <= STRONG_FPR), default=best)
    return Calibration(round(best, 3), *rates(best), round(strong, 3), *rates(strong), len(positives),
                       len(negatives), current, *rates(current))


def calibrate_no_answer(retriever: Retriever, beir: BeirSet, answers: Mapping[str, Answer], every: int = 4,
                        current: float = 0.0) -> Calibration:
    """Ask every `every`-th answerable question again without its article; choose the thresholds (see Calibration).

    The article of a document is its title (SQuAD paragraphs of one Wikipedia article share it).
    """
    by_title: dict[str, list[str]] = {}
    for doc in beir.documents:
        by_title.setdefault(doc.title, []).append(doc.doc_id)
    title_of = {doc.doc_id: doc.title for doc in beir.documents}
    sample = [q for q in beir.queries if q.answers][::every]
    positives = [answers[q.query_id].best.answer.score for q in sample
                 if answers[q.query_id].best and contains_answer(answers[q.query_id].text, q.answers)]
    negatives = []
    for query in sample:
        gold_titles = {title_of[doc_id] for doc_id in _relevant(beir.qrels[query.query_id]) if doc_id in title_of}
        others = tuple(doc_id for title, ids in by_title.items() if title not in gold_titles for doc_id in ids)
        answer = retriever.ask(query.text, k=5, mode="hybrid", filters=Filters(sources=others))
        negatives.append(answer.best.answer.score if answer.best else -math.inf)
    return choose_thresholds(positives, negatives, current)


def machine() -> dict[str, object]:
    """Cores and CPU model (from /proc/cpuinfo where there is one), for the results to say where they ran."""
    model = ""
    try:
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model or platform.processor(), "python": platform.python_version()}


def benchmark(folder: str | Path, settings: Settings, embedder: Embedder, split: str = "test",
              modes: Sequence[str] = ("dense", "bm25", "hybrid"), calibrate: bool = True, every: int = 1) -> dict:
    """Index a BEIR-format set with the project's pipeline (in `settings.index_dir`) and measure every mode.

    Returns a JSON-ready report: set, sizes, settings, machine, timings, metrics per mode, the `ask` run
    (hybrid with the sentence rerank), and for SQuAD-style sets the answer checks and the no-answer
    calibration. `every` > 1 scores every n-th query only (a fixed sample, for slow machines).
    """
    beir = load_beir(folder, split)
    if every > 1:
        sample = beir.queries[::every]
        beir = replace(beir, queries=sample, qrels={q.query_id: beir.qrels[q.query_id] for q in sample})
    started = time.perf_counter()
    retriever = open_index(beir, settings, embedder)
    report: dict = {
        "set": beir.name, "split": split, "documents": len(beir.documents), "queries": len(beir.queries),
        "every": every,
        "chunks": retriever.generation.manifest.chunks, "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
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
            report["answers"] = answer_metrics(beir, answers)
            if calibrate:
                logger.info("%s: calibrating the no-answer threshold", beir.name)
                report["no_answer"] = asdict(
                    calibrate_no_answer(retriever, beir, answers, current=NO_ANSWER_THRESHOLD))
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    return report


def write_results(report: Mapping, out_dir: str | Path) -> tuple[Path, Path]:
    """Write `eval-<set>.json` and `eval-<set>.md` (a table per mode) into `out_dir`; return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"eval-{report['set']}"
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def markdown(report: Mapping) -> str:
    """The report as a Markdown page: where and when it ran, then one row per mode."""
    m = report["machine"]
    s = report["settings"]
    lines = [
        f"# {report['set']} ({report['split']})",
        "",
        f"{report['date']}; {m['cores']} cores, {m['cpu']}; Python {m['python']}; model {report['model']} "
        f"({report['backend']}).",
        f"{report['documents']:,} documents as {report['chunks']:,} passages of at most {s['chunk_tokens']} word pieces "
        f"(overlap {s['overlap_tokens']}), FAISS {s['faiss_factory']}, hybrid dense weight {s['dense_weight']}; "
        f"{report['queries']:,} queries" + (f" (one in {report['every']} of the split)" if report["every"] > 1 else "")
        + f". Index built or reused in {report['index_seconds']} s; the whole run took {report['total_seconds']:.0f} s.",
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
