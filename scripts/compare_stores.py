"""Compare the Postgres store with the embedded store on a BEIR-format set: same chunks, same vectors.

    python scripts/compare_stores.py ../shared/eval/scifact [--store postgresql://...] [--cache DIR]

Indexes the set with the project's pipeline into an index folder (cached, as `python -m qa eval` does),
copies that index's documents, chunks and vectors into the Postgres store (a private pgserver when no
--store is given), then runs every test query in each mode on both and prints nDCG@10 per store, the share
of each query's top-10 documents both stores return, and the largest BM25 score difference. No vector is
computed twice, so the only differences are the stores' own.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmark import real_chunks  # noqa: E402

from qa.cli import reporting_failures  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.embedding import Embedder  # noqa: E402
from qa.evaluation import load_beir, open_index, run_search  # noqa: E402
from qa.indexer import manifest_for  # noqa: E402
from qa.retrieval import Retriever  # noqa: E402
from qa.storage import batches, open_writer  # noqa: E402


def copy_into(settings: Settings, embedder: Embedder, index_dir: Path) -> None:
    """Write the index folder's documents, chunks and vectors into the store `settings.store` names."""
    docs, vectors = real_chunks(index_dir)
    writer = open_writer(settings)
    try:
        with writer.lock():
            writer.prepare(manifest_for(settings, embedder), rebuild=True)
            done = 0
            for batch in batches(docs, 500):
                count = sum(len(chunks) for _, chunks in batch)
                writer.write(set(), list(batch), vectors[done:done + count])
                done += count
    finally:
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", help="a BEIR-format set: corpus.jsonl, queries.jsonl, qrels/test.tsv")
    parser.add_argument("--store", help="postgresql:// URL (default: a private pgserver in a temporary folder)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "qa-eval-cache"),
                        help="folder of cached benchmark indexes (default: qa-eval-cache in the temporary folder)")
    args = parser.parse_args()
    beir = load_beir(args.data_dir)
    settings = Settings.from_env(store="")
    settings = replace(settings, index_dir=Path(args.cache) / f"{beir.name}-{settings.chunk_tokens}-"
                                                              f"{settings.overlap_tokens}-{settings.backend}")
    embedder = Embedder.from_settings(settings)
    embedded = open_index(beir, settings, embedder)
    url = args.store
    if not url:
        import pgserver

        url = pgserver.get_server(tempfile.mkdtemp(prefix="qa-pg-"), cleanup_mode="delete").get_uri()
    copy_into(replace(settings, store=url), embedder, settings.index_dir)
    postgres = Retriever.open(url, embedder, settings)
    print(f"{beir.name}: {len(beir.queries)} queries, {embedded.store.manifest.chunks} chunks")
    for mode in ("bm25", "dense", "hybrid"):
        runs = {name: run_search(retriever, beir, mode) for name, retriever in
                (("embedded", embedded), ("postgres", postgres))}
        overlap = np.mean([len(set(runs["embedded"][0][q][:10]) & set(runs["postgres"][0][q][:10]))
                           / max(len(runs["embedded"][0][q][:10]), 1) for q in runs["embedded"][0]])
        print(f"{mode}: nDCG@10 embedded {runs['embedded'][1].metrics['nDCG@10']:.4f}, "
              f"postgres {runs['postgres'][1].metrics['nDCG@10']:.4f}; top-10 document overlap {overlap:.4f}; "
              f"p50 {runs['embedded'][1].p50_ms:.1f} / {runs['postgres'][1].p50_ms:.1f} ms")
    worst = max(bm25_difference(embedded, postgres, query.text) for query in beir.queries)
    print(f"largest BM25 score difference of a passage in both top 10s: {worst:.2e}")


def bm25_difference(first: Retriever, second: Retriever, question: str) -> float:
    """The largest difference between the two stores' BM25 scores of a passage both rank in their top 10."""
    scores = [{(hit.doc_id, hit.start): hit.score for hit in retriever.search(question, k=10, mode="bm25")}
              for retriever in (first, second)]
    return max((abs(scores[0][key] - scores[1][key]) for key in scores[0].keys() & scores[1].keys()), default=0.0)


if __name__ == "__main__":
    sys.exit(reporting_failures(main))
