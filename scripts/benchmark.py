"""Benchmark of the index on real text: build, re-sync, query latency, FAISS index types, memory, cold start.

Usage:
    PYTHONPATH=. python scripts/benchmark.py /work/shared/eval/scifact [--backend onnx] [--out benchmarks/results]
    PYTHONPATH=. python scripts/benchmark.py /work/shared/eval/bbc-news --store pgserver   # both stores compared

DATA is a BEIR-format folder (`corpus.jsonl`, `queries.jsonl`); each document is written as one Markdown file
(title in the front matter) and indexed by the project's own pipeline. What is measured:

- build: chunks/s of a full build (`sync` from scratch, model loaded and warmed up) next to the bare model
  encode rate on the very same chunks in the same run, their ratio, the time of each build stage, peak
  memory and index size on disk per chunk.
- re-sync: `sync` after adding one held-out document (three times) to the built index and to an index of
  1,000 of its documents, split into the document's encode time and everything else; plus one
  `python -m qa build` run (process start and model load included).
- query: warm latency of `Retriever.search` (dense, BM25, hybrid), one query at a time, at each size, and of
  its parts (query embedding, FAISS, BM25, fusion, SQLite fetch). Sizes above the real chunk count reuse real
  chunks under new document ids, with their vectors perturbed (Gaussian noise, sigma 0.025 per dimension,
  renormalized: cosine about 0.9 to the original) so that no two vectors are equal.
- faiss: recall@10 of approximate index types against exact search at one size, their build time and
  single-query latency.
- memory: resident memory of a fresh process after loading the model, then a generation, then warm queries.
- cold start: `python -m qa ask` on the bundled seed corpus, from process start to the printed answer.

The machine is described in the results (CPU, cores, load average before and after): the timings are only
as quiet as the machine was. Runs in about 10-15 minutes on 2 cores with the onnx backend. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa.cli import reporting_failures  # noqa: E402
from qa.config import DEFAULT_BACKEND, Settings  # noqa: E402
from qa.embedding import Embedder  # noqa: E402
from qa.evaluation import machine as evaluation_machine  # noqa: E402
from qa.evaluation import read_jsonl  # noqa: E402
from qa.fusion import reciprocal_rank_fusion  # noqa: E402
from qa.indexer import sync  # noqa: E402
from qa.records import Chunk, Document  # noqa: E402
from qa.retrieval import Retriever  # noqa: E402
from qa.faiss_index import build_faiss, configure_faiss, search_faiss  # noqa: E402
from qa.storage import Manifest  # noqa: E402
from qa.store import Generation, current_generation, write_generation  # noqa: E402

SEED_QUESTION = "who was suspected of the Kadhimi attack"
HELD_OUT = 4  # documents kept out of the build: three timed re-syncs in-process, one through the CLI
NOISE_SIGMA = 0.025
MODES = ("dense", "bm25", "hybrid")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="BEIR-format folder with corpus.jsonl and queries.jsonl")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=("torch", "onnx"),
                        help=f"embedding backend (default {DEFAULT_BACKEND})")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results",
                        help="where to write the figures (default benchmarks/results)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new temporary one, removed after)")
    parser.add_argument("--docs", type=int, default=0, help="index only the first N documents (default: all)")
    parser.add_argument("--sizes", help="index sizes for query latency (default 1000,10000,100000,1000000; "
                                        "with --store 100000,1000000)")
    parser.add_argument("--store", help="instead: compare the embedded store with Postgres on this server "
                                        "(postgresql://..., or pgserver for a private one); see store_benchmark.py")
    parser.add_argument("--api-requests", type=int, default=400, help="with --store: /search requests to the API")
    parser.add_argument("--queries", type=int, default=200, help="timed queries per mode and size")
    parser.add_argument("--factory-size", type=int, default=100_000, help="size for the FAISS index types")
    parser.add_argument("--factories", default="HNSW32:efSearch=64;HNSW32:efSearch=128;"
                                               "IVF1024,Flat:nprobe=8;IVF1024,Flat:nprobe=32",
                        help="FAISS index types to compare with exact search: FACTORY:SEARCH_PARAMS;...")
    parser.add_argument("--compare-backends", action="store_true",
                        help="instead: nDCG@10 and vector agreement of the torch and onnx backends on DATA's test "
                             "queries (embeds every chunk with both; 10-20 minutes for SciFact on 2 cores)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    results: dict = {"machine": machine(), "backend": args.backend, "data": str(args.data)}
    with scratch_folder(args.work) as work:
        if args.compare_backends:
            results.update(compare_backends(args.data, work))
            return finish(results, started, args.out, "bench-backends", render_comparison)
        say(f"machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
            f"load {results['machine']['load_start']}; backend {args.backend}; scratch {work}")
        documents, held_out = write_corpus(args.data, work / "corpus", args.docs)
        questions = read_queries(args.data)
        settings = Settings(corpus_dir=work / "corpus", index_dir=work / "index", backend=args.backend)
        load_start = time.perf_counter()
        embedder = Embedder(backend=args.backend)
        results["model_load_s"] = round(time.perf_counter() - load_start, 2)
        if args.store:
            return compare_stores(args, results, started, work, settings, embedder, documents, questions)

        results["build"] = bench_build(settings, embedder, documents)
        real = real_chunks(settings.index_dir)
        results["resync"] = bench_resync(settings, embedder, held_out, real)
        sizes = [int(size) for size in (args.sizes or "1000,10000,100000,1000000").split(",") if size]
        memory_size = 100_000 if 100_000 in sizes else max(sizes)
        results["query"] = bench_queries(work, real, sizes, embedder, settings, questions, args.queries, memory_size)
        results["faiss"] = bench_factories(real, args.factory_size, parse_factories(args.factories), embedder,
                                           questions)
        results["memory"] = bench_memory(work / f"size-{memory_size}", memory_size, args.backend, questions)
        results["cold_start"] = bench_cold_start(work, embedder, args.backend)
    return finish(results, started, args.out, "bench", render)


def compare_stores(args: argparse.Namespace, results: dict, started: float, work: Path, settings: Settings,
                   embedder: Embedder, documents: int, questions: list[str]) -> int:
    """The `--store` run: build, query, memory, disk and API figures of both stores (store_benchmark.py)."""
    import store_benchmark as stores

    server, private = stores.server_url(args.store, work)
    try:
        results["build"] = stores.bench_store_build(settings, embedder, server, documents)
        sizes = [int(size) for size in (args.sizes or "100000,1000000").split(",") if size]
        results["query"] = stores.bench_store_queries(work, settings.index_dir, sizes, settings, embedder, server,
                                                      questions, args.api_requests)
    finally:
        if private is not None:
            private.cleanup()
    return finish(results, started, args.out, "bench-stores", stores.render_stores)


@contextmanager
def scratch_folder(work: Path | None) -> Iterator[Path]:
    """`work` if given (kept afterwards), else a new temporary folder removed when the block ends."""
    folder = work or Path(tempfile.mkdtemp(prefix="qa-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield folder
    finally:
        if not work:
            shutil.rmtree(folder, ignore_errors=True)


def finish(results: dict, started: float, out: Path, prefix: str, renderer: Callable[[dict], str]) -> int:
    """Stamp the end load and total time on the results, save them, and return the exit code."""
    results["machine"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    results["total_s"] = round(time.perf_counter() - started, 1)
    save(results, out, prefix, renderer)
    return 0


# --- the measurements -------------------------------------------------------------------------------------

def bench_build(settings: Settings, embedder: Embedder, documents: int) -> dict:
    """A full build timed by stage, then the bare model encode on the same chunks."""
    say(f"build: {documents} documents from scratch")
    # warm-up, so neither timing below pays for the runtime's first allocations
    embedder.encode([path.read_text()[:1500] for path in sorted(settings.corpus_dir.iterdir())[:64]])
    marks: list[tuple[float, str]] = []
    start = time.perf_counter()
    report = sync(settings, embedder, rebuild=True, stage=lambda message: marks.append((time.perf_counter(), message)))
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    stages = stage_times(marks, start + seconds)

    generation = Generation(current_generation(settings.index_dir))
    texts = [row[0] for row in generation.db.execute("SELECT text FROM chunks ORDER BY chunk_id")]
    files = {path.relative_to(generation.path).as_posix(): path.stat().st_size
             for path in generation.path.rglob("*") if path.is_file()}
    generation.close()
    chunks = report.chunks_embedded
    say(f"  {chunks} chunks in {seconds:.1f} s = {chunks / seconds:.1f} chunks/s; stages {stages}")

    bare_start = time.perf_counter()
    embedder.encode_in_order(texts)  # the model alone: no sorting, progress or index writing
    bare = time.perf_counter() - bare_start
    say(f"  bare encode of the same {len(texts)} chunks: {bare:.1f} s = {len(texts) / bare:.1f} chunks/s; "
        f"build/bare = {bare / seconds:.3f}")
    return {
        "documents": documents, "chunks": chunks, "seconds": round(seconds, 2),
        "chunks_per_s": round(chunks / seconds, 2),
        "bare_encode_seconds": round(bare, 2), "bare_chunks_per_s": round(len(texts) / bare, 2),
        "ratio": round(bare / seconds, 3), "stages_s": stages, "peak_rss_mb": round(peak_mb, 1),
        "disk_bytes": sum(files.values()), "disk_bytes_per_chunk": round(sum(files.values()) / chunks, 1),
        "disk_bytes_by_file": dict(sorted(files.items())),
    }


def bench_resync(settings: Settings, embedder: Embedder, held_out: list[Path],
                 real: tuple[list[tuple[Document, list[Chunk]]], np.ndarray]) -> dict:
    """Time syncs that add one held-out document each: to the built index, then to one of its first 1,000.

    The 1,000-document index is written from the built one's chunks and vectors (nothing re-embedded), with
    a corpus folder of the same files, so the sync sees them unchanged. The last held-out document is
    added to the built index through `python -m qa build` (process start, imports, model load included).
    """
    out = {"full": resync_runs(settings, embedder, held_out[:-1])}
    shutil.copy(held_out[-1], settings.corpus_dir / held_out[-1].name)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "qa", "build", "--corpus", str(settings.corpus_dir), "--index",
                    str(settings.index_dir)], check=True, cwd=REPO, env=child_env(settings.backend),
                   capture_output=True)
    out["cli_seconds"] = round(time.perf_counter() - start, 2)
    say(f"re-sync through `python -m qa build` (process start and model load included): {out['cli_seconds']} s")

    docs, vectors = real
    small = replace(settings, corpus_dir=settings.corpus_dir.with_name("corpus-1000"),
                    index_dir=settings.index_dir.with_name("index-1000"))
    small.corpus_dir.mkdir()
    lengths = [len(chunks) for _, chunks in docs[:1000]]
    for document, _ in docs[:1000]:
        shutil.copy(settings.corpus_dir / document.doc_id, small.corpus_dir / document.doc_id)
    manifest = Manifest(model=embedder.model_id, dimension=embedder.dimension, chunk_tokens=small.chunk_tokens,
                        overlap_tokens=small.overlap_tokens, faiss_factory=small.faiss_factory)
    write_generation(small.index_dir, manifest, None, set(), docs[:1000], vectors[: sum(lengths)])
    out["1000"] = resync_runs(small, embedder, held_out[:-1])
    return out


def resync_runs(settings: Settings, embedder: Embedder, paths: list[Path]) -> dict:
    """Copy each file into the corpus and time the sync that indexes it."""
    runs = []
    for path in paths:
        shutil.copy(path, settings.corpus_dir / path.name)
        marks: list[tuple[float, str]] = []
        start = time.perf_counter()
        report = sync(settings, embedder, stage=lambda message: marks.append((time.perf_counter(), message)))
        seconds = time.perf_counter() - start
        stages = stage_times(marks, start + seconds)
        assert report.added == [path.name] and not report.rebuilt, report.summary()
        encode = stages.get("Embedding", 0.0)
        indexed = len(report.unchanged)
        runs.append({"documents": indexed, "chunks": report.chunks_embedded, "seconds": round(seconds, 3),
                     "encode_s": encode, "other_s": round(seconds - encode, 3), "stages_s": stages})
        say(f"re-sync of {indexed:,} documents +1 ({report.chunks_embedded} chunks): {seconds:.2f} s, "
            f"of which encode {encode:.2f} s")
    return {"runs": runs, "median_seconds": round(statistics.median(run["seconds"] for run in runs), 3),
            "median_other_s": round(statistics.median(run["other_s"] for run in runs), 3)}


def bench_queries(work: Path, real: tuple[list[tuple[Document, list[Chunk]]], np.ndarray], sizes: list[int],
                  embedder: Embedder, settings: Settings, questions: list[str], count: int, keep: int) -> dict:
    """Warm latency of each mode at each size, one query at a time, with the time of each part.

    Each size's generation is removed after its queries, except the one of size `keep` (the memory probe's).
    """
    out = {}
    for size in sizes:
        folder = work / f"size-{size}"
        start = time.perf_counter()
        make_generation(folder, real, size, embedder, settings.faiss_factory)
        made = time.perf_counter() - start
        retriever = Retriever.open(folder, embedder, replace(settings, index_dir=folder))
        for question in questions[:20]:  # warm-up: caches, lazy pages, thread pools
            for mode in MODES:
                retriever.search(question, k=10, mode=mode)
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        parts: dict[str, list[float]] = {part: [] for part in ("embed", "faiss", "bm25", "fusion", "fetch")}
        for question in questions[20 : 20 + count]:
            for mode in MODES:  # interleaved, so background load spreads evenly over the modes
                start = time.perf_counter()
                retriever.search(question, k=10, mode=mode)
                times[mode].append(time.perf_counter() - start)
            time_parts(retriever, question, parts)
        retriever.store.close()
        out[str(size)] = {
            "generation_write_s": round(made, 1),
            **{mode: percentiles(values) for mode, values in times.items()},
            "parts_ms": {part: percentiles(values) for part, values in parts.items()},
        }
        say(f"query at {size:,} chunks (written in {made:.0f} s): "
            + "; ".join(f"{mode} p50 {out[str(size)][mode]['p50']} p95 {out[str(size)][mode]['p95']} ms"
                        for mode in MODES)
            + " | parts p50: " + ", ".join(f"{p} {v['p50']}" for p, v in out[str(size)]["parts_ms"].items()))
        if size != keep:
            shutil.rmtree(folder, ignore_errors=True)
    return out


def time_parts(retriever: Retriever, question: str, parts: dict[str, list[float]]) -> None:
    """Time the pieces a hybrid search is made of, each called the way `search` calls it."""
    store = retriever.store
    clock = time.perf_counter
    t0 = clock()
    query = retriever.embedder.encode_query(question)
    t1 = clock()
    dense = store.dense(query, 100)
    t2 = clock()
    keyword = store.keyword(question, 100)
    t3 = clock()
    fused = reciprocal_rank_fusion([dense.ids.tolist(), keyword.ids.tolist()])
    t4 = clock()
    store.chunk_rows([chunk_id for chunk_id, _ in fused[:10]])
    t5 = clock()
    for part, seconds in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
        parts[part].append(seconds)


def bench_factories(real: tuple[list[tuple[Document, list[Chunk]]], np.ndarray], size: int,
                    factories: list[tuple[str, str]], embedder: Embedder, questions: list[str]) -> dict:
    """Recall@10 of approximate FAISS index types against exact search, build time and single-query latency."""
    import faiss


    _, vectors = grown(real, size)
    ids = np.arange(len(vectors), dtype=np.int64)
    queries = embedder.encode(questions[:300])
    exact = build_faiss(vectors, ids, vectors.shape[1], "Flat")
    configure_faiss(exact, "")
    truth = [set(search_faiss(exact, q[None, :], 10).ids.tolist()) for q in queries]
    out: dict = {"size": size, "types": []}
    built: dict[str, tuple[faiss.Index, float]] = {}
    for factory, params in [("Flat", ""), *factories]:
        if factory not in built:
            start = time.perf_counter()
            built[factory] = (build_faiss(vectors, ids, vectors.shape[1], factory), time.perf_counter() - start)
        index, build_s = built[factory]
        configure_faiss(index, params)
        latencies, recall = [], []
        for query, expected in zip(queries, truth):
            start = time.perf_counter()
            found = search_faiss(index, query[None, :], 10).ids
            latencies.append(time.perf_counter() - start)
            recall.append(len(expected.intersection(found.tolist())) / 10)
        row = {"factory": factory, "params": params, "build_s": round(build_s, 1),
               "recall_at_10": round(float(np.mean(recall)), 4), "latency_ms": percentiles(latencies),
               "bytes": int(faiss.serialize_index(index).nbytes)}
        out["types"].append(row)
        say(f"faiss {factory} {params} at {size:,}: recall@10 {row['recall_at_10']}, "
            f"p50 {row['latency_ms']['p50']} ms, p95 {row['latency_ms']['p95']} ms, built in {row['build_s']} s")
    return out


MEMORY_PROBE = """
import json, sys, time
def rss():
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) / 1024
from qa import Embedder, Retriever, Settings
before = rss()
embedder = Embedder(backend=sys.argv[2])
model = rss()
retriever = Retriever.open(sys.argv[1], embedder, Settings(index_dir=sys.argv[1], backend=sys.argv[2]))
opened = rss()
for question in json.loads(sys.argv[3]):
    for mode in ("dense", "bm25", "hybrid"):
        retriever.search(question, k=10, mode=mode)
print(json.dumps({"python_mb": before, "model_mb": model, "opened_mb": opened, "warm_mb": rss()}))
"""


def bench_memory(folder: Path, size: int, backend: str, questions: list[str]) -> dict:
    """Resident memory of a fresh process: after the model, after opening the generation, after warm queries."""
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(folder), backend, json.dumps(questions[:100])],
                            check=True, cwd=REPO, env=child_env(backend), capture_output=True, text=True)
    rss = json.loads(result.stdout.strip().splitlines()[-1])
    raw = size * 384 * 4 / 2**20
    index = rss["warm_mb"] - rss["model_mb"]
    out = {"size": size, **{k: round(v, 1) for k, v in rss.items()}, "raw_vectors_mb": round(raw, 1),
           "index_mb": round(index, 1), "index_over_raw": round(index / raw, 3)}
    say(f"memory at {size:,} chunks: model {rss['model_mb'] - rss['python_mb']:.0f} MB; index after warm queries "
        f"{index:.0f} MB = {index / raw:.2f} x raw vectors ({raw:.0f} MB)")
    return out


COLD_PROBE = """
import sys, time
from qa.cli import main
if main(sys.argv[1:]) != 0:
    sys.exit("no answer")
print(f"@answered {time.time()}")
"""


def bench_cold_start(work: Path, embedder: Embedder, backend: str) -> dict:
    """From process start to the printed answer of `python -m qa ask` on the bundled seed corpus (3 runs)."""
    corpus, index = work / "seed-corpus", work / "seed-index"
    shutil.copytree(REPO / "corpus", corpus, ignore=shutil.ignore_patterns(".*"))
    sync(Settings(corpus_dir=corpus, index_dir=index, backend=backend), embedder)
    runs = []
    for _ in range(3):
        start = time.time()
        result = subprocess.run([sys.executable, "-c", COLD_PROBE, "ask", SEED_QUESTION, "--index", str(index),
                                 "--corpus", str(corpus)], check=True, cwd=REPO, env=child_env(backend),
                                capture_output=True, text=True)
        answered = float(result.stdout.rsplit("@answered ", 1)[1])
        runs.append(answered - start)
    say(f"cold start to first answer: {', '.join(f'{run:.2f}' for run in runs)} s")
    return {"runs_s": [round(run, 2) for run in runs], "median_s": round(statistics.median(runs), 2)}


def compare_backends(data: Path, work: Path) -> dict:
    """Both backends on the same BEIR test set: nDCG@10 (dense, hybrid), vector agreement, dense top-10 overlap.

    Each backend indexes the set with the project's own pipeline and is searched with `Retriever.search`
    (`qa.evaluation.open_index` and `run_search`), so the only difference between the two is the backend.
    """
    from qa.evaluation import load_beir, open_index, run_search

    beir = load_beir(data, split="test")
    out: dict = {"documents": len(beir.documents), "queries": len(beir.queries)}
    vectors, ids, runs = {}, {}, {}
    for name in ("torch", "onnx"):
        embedder = Embedder(backend=name)
        settings = Settings(index_dir=work / f"eval-{name}", backend=name)
        before = (settings.index_dir / "CURRENT").read_text() if (settings.index_dir / "CURRENT").is_file() else ""
        start = time.perf_counter()
        retriever = open_index(beir, settings, embedder)
        seconds = time.perf_counter() - start
        generation = retriever.store
        vectors[name], ids[name] = np.asarray(generation.vectors()), generation.ids
        reused = before.strip() == generation.path.name  # open_index kept an index of this --work folder
        scores = {"index_reused": reused, "index_s": round(seconds, 1), "chunks": len(generation.ids),
                  "index_chunks_per_s": None if reused else round(len(generation.ids) / seconds, 1)}
        for mode in ("dense", "hybrid"):
            run, result = run_search(retriever, beir, mode)
            scores[f"ndcg10_{mode}"] = round(result.metrics["nDCG@10"], 4)
            runs[name, mode] = run
        out[name] = scores
        how = "index reused" if reused else f"indexed at {scores['index_chunks_per_s']}/s"
        say(f"  {name}: {scores['chunks']} chunks, {how}; "
            f"nDCG@10 dense {scores['ndcg10_dense']}, hybrid {scores['ndcg10_hybrid']}")
    assert np.array_equal(ids["torch"], ids["onnx"]), "the backends chunked the set differently"
    cosines = (vectors["torch"] * vectors["onnx"]).sum(axis=1)
    overlap = [len(set(runs["torch", "dense"][qid][:10]) & set(runs["onnx", "dense"][qid][:10])) / 10
               for qid in runs["torch", "dense"]]
    out["chunks"] = len(cosines)
    out["agreement"] = {"mean_cosine": round(float(cosines.mean()), 4), "min_cosine": round(float(cosines.min()), 4),
                        "p01_cosine": round(float(np.percentile(cosines, 1)), 4),
                        "dense_top10_document_overlap": round(float(np.mean(overlap)), 4)}
    out["delta"] = {mode: round(out["onnx"][f"ndcg10_{mode}"] - out["torch"][f"ndcg10_{mode}"], 4)
                    for mode in ("dense", "hybrid")}
    say(f"  agreement {out['agreement']}; onnx - torch nDCG@10 {out['delta']}")
    return out


# --- building blocks -------------------------------------------------------------------------------------

def write_corpus(data: Path, folder: Path, limit: int) -> tuple[int, list[Path]]:
    """One Markdown file per BEIR document (title in the front matter); the last HELD_OUT kept aside."""
    folder.mkdir(parents=True)
    aside = folder.parent / "held-out"
    aside.mkdir()
    rows = list(read_jsonl(data / "corpus.jsonl"))
    rows = rows[: limit + HELD_OUT] if limit else rows
    held = []
    for number, row in enumerate(rows):
        title = " ".join(row.get("title", "").split())
        body = f"---\ntitle: {title}\n---\n{title}\n\n{row['text']}\n" if title else row["text"] + "\n"
        target = (aside if number >= len(rows) - HELD_OUT else folder) / f"{row['_id']}.md"
        target.write_text(body)
        if target.parent == aside:
            held.append(target)
    return len(rows) - HELD_OUT, held


def read_queries(data: Path) -> list[str]:
    return [record["text"] for record in read_jsonl(data / "queries.jsonl")]


def real_chunks(index_dir: Path) -> tuple[list[tuple[Document, list[Chunk]]], np.ndarray]:
    """The built index's documents with their chunks, and their vectors in the same order."""
    generation = Generation(current_generation(index_dir))
    position = {int(chunk_id): row for row, chunk_id in enumerate(generation.ids)}
    all_vectors = np.asarray(generation.vectors())
    docs, rows = [], []
    for doc_row in generation.documents():
        document = generation.document(doc_row.doc_id)
        chunk_rows = generation.db.execute(
            "SELECT chunk_id, ordinal, start, end, page, tokens, text FROM chunks WHERE doc_id = ? ORDER BY ordinal",
            (doc_row.doc_id,)).fetchall()
        chunks = [Chunk(doc_row.doc_id, r["ordinal"], r["start"], r["end"], r["text"], r["page"], r["tokens"])
                  for r in chunk_rows]
        docs.append((document, chunks))
        rows += [position[r["chunk_id"]] for r in chunk_rows]
    generation.close()
    return docs, all_vectors[rows]


def grown(real: tuple[list[tuple[Document, list[Chunk]]], np.ndarray], size: int,
          ) -> tuple[list[tuple[Document, list[Chunk]]], np.ndarray]:
    """`size` chunks: the real ones, then copies under new document ids with perturbed vectors."""
    docs, vectors = real
    out_docs, total, copy = [], 0, 0
    while total < size:
        for document, chunks in docs:
            take = chunks[: size - total]
            if not take:
                break
            if copy:
                doc_id = f"{document.doc_id}~{copy}"
                document = replace(document, doc_id=doc_id, content_hash=f"{document.content_hash}~{copy}")
                take = [Chunk(doc_id, c.ordinal, c.start, c.end, c.text, c.page, c.tokens) for c in take]
            out_docs.append((document, take))
            total += len(take)
        copy += 1
    # each pass takes the documents in order, so row i is a copy of real row i % len(vectors)
    out = vectors[np.arange(size) % len(vectors)]
    rng = np.random.default_rng(0)
    for first in range(len(vectors), size, 100_000):  # in blocks: the float64 noise of 1M rows is 3 GB
        block = out[first : first + 100_000]
        block += rng.normal(0, NOISE_SIGMA, block.shape).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return out_docs, out


def make_generation(folder: Path, real: tuple[list[tuple[Document, list[Chunk]]], np.ndarray], size: int,
                    embedder: Embedder, factory: str) -> None:
    """Write a generation of `size` chunks through the store's own write path."""
    add, vectors = grown(real, size)
    manifest = Manifest(model=embedder.model_id, dimension=embedder.dimension, chunk_tokens=200, overlap_tokens=40,
                        faiss_factory=factory)
    write_generation(folder, manifest, None, set(), add, vectors)


def parse_factories(spec: str) -> list[tuple[str, str]]:
    """"HNSW32:efSearch=64;IVF1024,Flat:nprobe=8" -> [("HNSW32", "efSearch=64"), ("IVF1024,Flat", "nprobe=8")]."""
    return [tuple(item.partition(":")[::2]) for item in spec.split(";") if item]


def stage_times(marks: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds spent in each stage reported by `sync`, keyed by the stage message's first word."""
    ends = [t for t, _ in marks[1:]] + [end]
    return {message.split()[0]: round(stop - t, 3) for (t, message), stop in zip(marks, ends)}


def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean in milliseconds."""
    ms = np.array(seconds) * 1000
    return {"n": len(ms), "p50": round(float(np.percentile(ms, 50)), 2), "p95": round(float(np.percentile(ms, 95)), 2),
            "p99": round(float(np.percentile(ms, 99)), 2), "mean": round(float(ms.mean()), 2)}


def child_env(backend: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "QA_BACKEND": backend, "HF_HUB_OFFLINE": "1"}


def machine() -> dict:
    """The evaluation's machine description (CPU, cores, Python) plus memory, load, package versions and date."""
    memory = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    packages = ("numpy", "faiss-cpu", "bm25s", "onnxruntime", "torch", "sentence-transformers", "tokenizers")
    return {**evaluation_machine(), "memory_gb": round(memory / 2**20, 1),
            "load_start": [round(x, 2) for x in os.getloadavg()],
            "packages": {name: metadata.version(name) for name in packages},
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def say(message: str) -> None:
    print(message, flush=True)


def save(results: dict, out: Path, prefix: str, renderer: Callable[[dict], str]) -> None:
    """Write <prefix>-<stamp>.json and .md into `out`, and print the Markdown."""
    out.mkdir(parents=True, exist_ok=True)
    name = f"{prefix}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    markdown = renderer(results)
    (out / f"{name}.md").write_text(markdown)
    print("\n" + markdown)
    print(f"saved {out / name}.json and .md")


def machine_line(r: dict) -> str:
    m = r["machine"]
    return (f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; Python {m['python']}; "
            + ", ".join(f"{k} {v}" for k, v in m["packages"].items())
            + f". Load average (1/5/15 min) at start {m['load_start']}, at end {m['load_end']} "
            "(other jobs share these cores when it is above 0.5).")


def render_comparison(r: dict) -> str:
    """The backend comparison as a Markdown report."""
    a = r["agreement"]
    lines = [f"# Embedding backends compared {r['machine']['date']}", "", machine_line(r), "",
             f"`{r['data']}`: {r['documents']} documents, {r['chunks']} chunks, {r['queries']} test queries; "
             f"whole run {r['total_s']} s.", "",
             "| backend | index chunks/s (chunk + embed + write) | nDCG@10 dense | nDCG@10 hybrid |",
             "| --- | ---: | ---: | ---: |"]
    for name in ("torch", "onnx"):
        b = r[name]
        rate = "index reused from an earlier run" if b["index_reused"] else b["index_chunks_per_s"]
        lines.append(f"| {name} | {rate} | {b['ndcg10_dense']} | {b['ndcg10_hybrid']} |")
    lines += ["", f"onnx - torch nDCG@10: dense {r['delta']['dense']}, hybrid {r['delta']['hybrid']}. "
              f"Chunk vectors: mean cosine {a['mean_cosine']}, 1st percentile {a['p01_cosine']}, min "
              f"{a['min_cosine']}; dense top-10 documents shared {a['dense_top10_document_overlap']}.", ""]
    return "\n".join(lines)


def render(r: dict) -> str:
    """The results as a Markdown report."""
    m, b, s = r["machine"], r["build"], r["resync"]
    lines = [
        f"# Benchmark {m['date']}",
        "",
        machine_line(r),
        f"Backend `{r['backend']}`; data `{r['data']}`; model load {r['model_load_s']} s; whole run {r['total_s']} s.",
        "",
        "## Build",
        "",
        "| documents | chunks | build s | build chunks/s | bare encode chunks/s | build / bare | peak RSS MB "
        "| disk bytes/chunk |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {b['documents']} | {b['chunks']} | {b['seconds']} | {b['chunks_per_s']} | {b['bare_chunks_per_s']} "
        f"| {b['ratio']} | {b['peak_rss_mb']} | {b['disk_bytes_per_chunk']} |",
        "",
        "Stages (s): " + ", ".join(f"{k} {v}" for k, v in b["stages_s"].items())
        + ". On disk per chunk: " + ", ".join(f"{k} {v / b['chunks']:.0f} B" for k, v in b["disk_bytes_by_file"].items()
                                              if v > 10 * b["chunks"]) + ".",
        "",
        "## Re-sync after adding one document",
        "",
        "In-process `sync` (model loaded), one held-out document at a time:",
        "",
        "| documents indexed | chunks added | total s | encode s | everything else s |",
        "| ---: | ---: | ---: | ---: | ---: |",
        *[f"| {run['documents']:,} | {run['chunks']} | {run['seconds']} | {run['encode_s']} "
          f"| {run['other_s']} |" for key in ("1000", "full") for run in s[key]["runs"]],
        "",
        f"Adding one to the full index through `python -m qa build` (process start, imports, model load "
        f"included): {s['cli_seconds']} s.",
        "",
        "## Query latency (ms), warm, one query at a time, k=10",
        "",
        "Sizes above the real chunk count reuse real chunks with perturbed vectors (see the script).",
        "",
        "| chunks | dense p50 / p95 / p99 | BM25 p50 / p95 / p99 | hybrid p50 / p95 / p99 "
        "| embed | FAISS | BM25 | fusion | fetch |",
        "| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size, q in r["query"].items():
        cells = [" / ".join(str(q[mode][p]) for p in ("p50", "p95", "p99")) for mode in MODES]
        parts = [f"{q['parts_ms'][p]['p50']}" for p in ("embed", "faiss", "bm25", "fusion", "fetch")]
        lines.append(f"| {int(size):,} | " + " | ".join(cells) + " | " + " | ".join(parts) + " |")
    lines += ["", "Parts are p50 of each step of a hybrid search (100 candidates each).", "",
              f"## FAISS index types at {r['faiss']['size']:,} chunks", "",
              "| factory | search params | recall@10 vs exact | p50 ms | p95 ms | build s | MB |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in r["faiss"]["types"]:
        lines.append(f"| {row['factory']} | {row['params'] or '-'} | {row['recall_at_10']} | "
                     f"{row['latency_ms']['p50']} | {row['latency_ms']['p95']} | {row['build_s']} | "
                     f"{row['bytes'] / 2**20:.0f} |")
    mem, cold = r["memory"], r["cold_start"]
    lines += ["", "## Memory of a loaded index", "",
              f"{mem['size']:,} chunks, fresh process (RSS MB): Python + imports {mem['python_mb']}, + model "
              f"{mem['model_mb']}, + generation opened {mem['opened_mb']}, after 100 warm queries per mode "
              f"{mem['warm_mb']}. Index = {mem['index_mb']} MB = {mem['index_over_raw']} x the raw vectors "
              f"({mem['raw_vectors_mb']} MB).", "",
              "## Cold start", "",
              f"`python -m qa ask` on the seed index, process start to printed answer: {cold['runs_s']} s "
              f"(median {cold['median_s']} s).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(reporting_failures(main))
