"""The embedded store and the Postgres store measured in one run (`scripts/benchmark.py DATA --store URL`).

What is measured, on the same documents, chunks and vectors for both stores:
- build: `sync` of DATA's first documents from files into an index folder, into Postgres with one ingest worker,
  and into Postgres with two (`--workers 2`), in chunks/s and documents/s;
- query: warm hybrid search latency (p50/p95, k=10, one query at a time) at each size (default 100k and 1M
  chunks: the real chunks, then copies with perturbed vectors, as `benchmark.py` grows them), with the time to
  load each store, its size on disk and, for the embedded store, the resident memory of a process serving it;
- api: `python -m qa serve` on each store at the first size, 8 client threads on loopback each sending a bounded
  number of /search (hybrid, k=10) and /ask requests; requests per second and latency.

URL names a PostgreSQL server (with pgvector) on which the run may create and drop databases `qa_bench_*`;
`--store pgserver` starts a private one in the scratch folder. A bulk load into Postgres drops the table's
indexes, copies the rows, and builds the indexes once (`load_postgres`), as one would load an archive at first.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import psycopg

from benchmark import REPO, child_env, grown, make_generation, percentiles, real_chunks, say
from qa.config import Settings
from qa.embedding import Embedder
from qa.indexer import manifest_for, sync
from qa.pgstore import PostgresWriter
from qa.records import Chunk, Document
from qa.retrieval import Retriever

CLIENTS = 8
BULK_CHUNKS = 20_000  # chunks per transaction of a bulk load
RSS_PROBE = """
import json, sys
from qa import Embedder, Retriever, Settings
def rss():
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1]) / 1024
embedder = Embedder()
model = rss()
retriever = Retriever.open(sys.argv[1], embedder, Settings(index_dir=sys.argv[1], store=sys.argv[2]))
for question in json.loads(sys.argv[3]):
    retriever.search(question, k=10)
print(json.dumps({"model_mb": model, "warm_mb": rss()}))
"""


def server_url(store: str, work: Path) -> tuple[str, object | None]:
    """The server URL to create benchmark databases on, and the private pgserver started for `--store pgserver`."""
    if store != "pgserver":
        return store, None
    import pgserver

    server = pgserver.get_server(work / "pg", cleanup_mode="delete")
    return server.get_uri(), server


def fresh_database(url: str, name: str) -> str:
    """A new empty database `name` on the server at `url` (dropped first if it is there); its URL."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def drop_database(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def bench_store_build(settings: Settings, embedder: Embedder, server: str, documents: int) -> dict:
    """A build from files into each store: embedded (into `settings.index_dir`), Postgres with 1 and 2 workers."""
    out = {}
    for label, workers in (("embedded", 1), ("postgres, 1 worker", 1), ("postgres, 2 workers", 2)):
        name = f"qa_bench_build_{workers}"
        store = fresh_database(server, name) if label != "embedded" else ""
        target = replace(settings, store=store)
        start = time.perf_counter()
        report = sync(target, embedder, workers=workers)
        seconds = time.perf_counter() - start
        out[label] = {"documents": len(report.added), "chunks": report.chunks_embedded, "seconds": round(seconds, 1),
                      "chunks_per_s": round(report.chunks_embedded / seconds, 1),
                      "documents_per_s": round(len(report.added) / seconds, 1)}
        say(f"build into {label}: {documents} documents, {report.chunks_embedded} chunks in {seconds:.0f} s "
            f"({out[label]['chunks_per_s']} chunks/s)")
        if store:
            drop_database(server, name)
    return out


def load_postgres(url: str, docs: list[tuple[Document, list[Chunk]]], vectors: np.ndarray, settings: Settings,
                  embedder: Embedder) -> dict:
    """Bulk-load chunks and vectors into a new index at `url`: indexes dropped, rows copied, indexes built once."""
    writer = PostgresWriter(url, settings.batch_documents)
    timings = {}
    try:
        with writer.lock():
            writer.prepare(manifest_for(settings, embedder), rebuild=True)
            writer.conn.execute("ALTER TABLE qa_postings DROP CONSTRAINT qa_postings_pkey; "
                                "DROP INDEX qa_postings_by_chunk; DROP INDEX qa_chunks_embedding")
            start, done = time.perf_counter(), 0
            for batch in chunk_batches(docs, BULK_CHUNKS):
                count = sum(len(chunks) for _, chunks in batch)
                writer.write(set(), batch, vectors[done:done + count])
                done += count
            timings["copy_s"] = time.perf_counter() - start
            start = time.perf_counter()
            writer.conn.execute("SET maintenance_work_mem = '6GB'; SET max_parallel_maintenance_workers = 1")
            writer.conn.execute("ALTER TABLE qa_postings ADD PRIMARY KEY (term, chunk_id); "
                                "CREATE INDEX qa_postings_by_chunk ON qa_postings (chunk_id)")
            timings["postings_index_s"] = time.perf_counter() - start
            start = time.perf_counter()
            writer.conn.execute("CREATE INDEX qa_chunks_embedding ON qa_chunks USING hnsw (embedding vector_ip_ops)")
            timings["hnsw_index_s"] = time.perf_counter() - start
            writer.conn.execute("VACUUM ANALYZE")
    finally:
        writer.close()
    return {key: round(value, 1) for key, value in timings.items()}


def chunk_batches(docs: list[tuple[Document, list[Chunk]]], size: int) -> list[list[tuple[Document, list[Chunk]]]]:
    """Whole documents in batches of about `size` chunks."""
    out, batch, count = [], [], 0
    for doc in docs:
        batch.append(doc)
        count += len(doc[1])
        if count >= size:
            out.append(batch)
            batch, count = [], 0
    return out + ([batch] if batch else [])


def postgres_sizes(url: str) -> dict[str, float]:
    """MB on disk of each index table with its indexes, and of the whole database."""
    with psycopg.connect(url) as conn:
        tables = {table: conn.execute("SELECT pg_total_relation_size(%s)", [table]).fetchone()[0] / 2**20
                  for table in ("qa_chunks", "qa_postings", "qa_documents", "qa_terms")}
        tables["database"] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 2**20
        tables["hnsw_index"] = conn.execute("SELECT pg_relation_size('qa_chunks_embedding')").fetchone()[0] / 2**20
    return {key: round(value, 1) for key, value in tables.items()}


def folder_mb(folder: Path) -> float:
    return round(sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 2**20, 1)


def timed_hybrid(retriever: Retriever, questions: list[str]) -> dict[str, float]:
    """Warm hybrid search latency over `questions`, after 10 warm-up queries."""
    for question in questions[:10]:
        retriever.search(question, k=10)
    times = []
    for question in questions[10:]:
        start = time.perf_counter()
        retriever.search(question, k=10)
        times.append(time.perf_counter() - start)
    return percentiles(times)


def hit_overlap(a: Retriever, b: Retriever, questions: list[str]) -> float:
    """Mean share of the top-10 passages (by document and start) that two stores both return."""
    shares = []
    for question in questions:
        first = {(h.doc_id, h.start) for h in a.search(question, k=10)}
        second = {(h.doc_id, h.start) for h in b.search(question, k=10)}
        shares.append(len(first & second) / max(len(first), 1))
    return round(float(np.mean(shares)), 4)


def bench_store_queries(work: Path, index_dir: Path, sizes: list[int], settings: Settings, embedder: Embedder,
                        server: str, questions: list[str], api_requests: int) -> dict:
    """At each size: both stores written with the same chunks, hybrid latency, disk, memory; the API at the first."""
    real = real_chunks(index_dir)
    out = {}
    for number, size in enumerate(sizes):
        folder, name = work / f"store-size-{size}", f"qa_bench_{size}"
        start = time.perf_counter()
        make_generation(folder, real, size, embedder, settings.faiss_factory)
        embedded_s = time.perf_counter() - start
        url = fresh_database(server, name)
        docs, vectors = grown(real, size)
        loaded = load_postgres(url, docs, vectors, settings, embedder)
        del docs, vectors
        embedded = Retriever.open(folder, embedder, replace(settings, index_dir=folder, store=""))
        postgres = Retriever.open(url, embedder, replace(settings, store=url))
        row = {
            "embedded": {"write_s": round(embedded_s, 1), "disk_mb": folder_mb(folder),
                         "hybrid_ms": timed_hybrid(embedded, questions), **process_memory(folder, "", questions)},
            "postgres": {"load": loaded, "disk_mb": postgres_sizes(url), "hybrid_ms": timed_hybrid(postgres, questions)},
            "top10_overlap": hit_overlap(embedded, postgres, questions[:50]),
        }
        embedded.store.close()
        postgres.store.close()
        say(f"query at {size:,} chunks: hybrid p50/p95 embedded {row['embedded']['hybrid_ms']['p50']}/"
            f"{row['embedded']['hybrid_ms']['p95']} ms, postgres {row['postgres']['hybrid_ms']['p50']}/"
            f"{row['postgres']['hybrid_ms']['p95']} ms; top-10 overlap {row['top10_overlap']}; "
            f"disk {row['embedded']['disk_mb']} / {row['postgres']['disk_mb']['database']} MB; postgres load {loaded}")
        if number == 0:
            row["api"] = {"embedded": bench_api(["--index", str(folder)], questions, api_requests),
                          "postgres": bench_api(["--store", url], questions, api_requests)}
        out[str(size)] = row
        drop_database(server, name)
    return out


def process_memory(folder: Path, store: str, questions: list[str]) -> dict[str, float]:
    """Resident MB of a fresh process with the model loaded, then serving warm searches of this store."""
    result = subprocess.run([sys.executable, "-c", RSS_PROBE, str(folder), store, json.dumps(questions[:50])],
                            check=True, cwd=REPO, env=child_env("onnx"), capture_output=True, text=True)
    memory = json.loads(result.stdout.strip().splitlines()[-1])
    return {"model_mb": round(memory["model_mb"], 1), "serving_mb": round(memory["warm_mb"], 1)}


def bench_api(location: list[str], questions: list[str], requests: int) -> dict:
    """`python -m qa serve` on loopback and CLIENTS threads sending `requests` /search and requests // 5 /ask calls."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "qa", "serve", *location, "--port", str(port)], cwd=REPO,
                              env=child_env("onnx"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/health")
        out = {}
        for endpoint, count in (("search", requests), ("ask", max(CLIENTS, requests // 5))):
            out[endpoint] = load(f"{base}/{endpoint}", questions, count)
            say(f"api {location[0]} /{endpoint}: {out[endpoint]['requests_per_s']} requests/s with {CLIENTS} clients, "
                f"p50 {out[endpoint]['latency_ms']['p50']} ms, p95 {out[endpoint]['latency_ms']['p95']} ms, "
                f"{out[endpoint]['failed']} failed")
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the API at {url} did not start within {seconds:.0f} s")


def load(url: str, questions: list[str], count: int) -> dict:
    """`count` GET requests spread over CLIENTS threads (bounded: each thread sends its share, one at a time)."""
    times: list[float] = []
    failed = [0]
    guard = threading.Lock()

    def client(offset: int) -> None:
        for i in range(offset, count, CLIENTS):
            query = urllib.parse.urlencode({"q": questions[i % len(questions)], "k": 10})
            start = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{url}?{query}", timeout=60) as response:
                    response.read()
                ok = True
            except OSError:
                ok = False
            with guard:
                times.append(time.perf_counter() - start)
                failed[0] += not ok

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(offset,)) for offset in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    return {"requests": count, "seconds": round(seconds, 1), "requests_per_s": round(count / seconds, 1),
            "failed": failed[0], "latency_ms": percentiles(times)}


def render_stores(r: dict) -> str:
    """The store comparison as Markdown."""
    lines = [f"# Embedded and Postgres stores compared {r['machine']['date']}", "",
             f"`{r['data']}`, {r['machine']['cpu']}, {r['machine']['cores']} cores; whole run {r['total_s']} s.", "",
             "## Build from files", "", "| store | documents | chunks | seconds | chunks/s | documents/s |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {label} | {b['documents']} | {b['chunks']} | {b['seconds']} | {b['chunks_per_s']} | "
              f"{b['documents_per_s']} |" for label, b in r["build"].items()]
    lines += ["", "## Hybrid search, k=10, one query at a time", "",
              "| chunks | embedded p50 / p95 ms | Postgres p50 / p95 ms | top-10 overlap | embedded disk MB | "
              "embedded process MB (model alone) | Postgres database MB (HNSW index) | Postgres load s (copy, "
              "postings index, HNSW) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for size, q in r["query"].items():
        e, p = q["embedded"], q["postgres"]
        lines.append(f"| {int(size):,} | {e['hybrid_ms']['p50']} / {e['hybrid_ms']['p95']} | {p['hybrid_ms']['p50']} / "
                     f"{p['hybrid_ms']['p95']} | {q['top10_overlap']} | {e['disk_mb']} | {e['serving_mb']} "
                     f"({e['model_mb']}) | {p['disk_mb']['database']} ({p['disk_mb']['hnsw_index']}) | "
                     f"{p['load']['copy_s']}, {p['load']['postings_index_s']}, {p['load']['hnsw_index_s']} |")
    for size, q in r["query"].items():
        if "api" not in q:
            continue
        lines += ["", f"## HTTP API at {int(size):,} chunks, {CLIENTS} concurrent clients on loopback", "",
                  "| store | endpoint | requests | requests/s | p50 ms | p95 ms | failed |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for store, endpoints in q["api"].items():
            lines += [f"| {store} | /{name} | {a['requests']} | {a['requests_per_s']} | {a['latency_ms']['p50']} | "
                      f"{a['latency_ms']['p95']} | {a['failed']} |" for name, a in endpoints.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit("store_benchmark.py is run by scripts/benchmark.py: python scripts/benchmark.py DATA --store URL "
             "(or --store pgserver); see its --help")
