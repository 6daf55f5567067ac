"""The on-disk index: generations of SQLite (documents, chunks) + FAISS + BM25 + vectors + manifest.

    index/
      CURRENT              name of the live generation (replaced atomically)
      build.lock           held by the one build that may run at a time
      gen-<stamp>/         one complete, immutable index
        manifest.json      format version, model, dimension, chunker and FAISS settings, counts
        store.sqlite       documents and chunks (chunk_id is the FAISS id)
        vectors.npy        float32 vectors, row i <-> ids.npy[i]; lets a sync reuse unchanged embeddings
        ids.npy            chunk ids in ascending order (also the BM25 row order)
        dense.faiss        IndexIDMap2 over inner product (ids = chunk ids)
        bm25/              bm25s files, and each chunk's terms (so a sync tokenizes only new chunks)

A build writes `gen-<stamp>.tmp/`, renames it, then replaces CURRENT: readers see the old generation or
the new one, never half of one. Old generations are removed after the switch (the previous one is kept,
so a reader opened just before the switch keeps working).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from qa.bm25 import BM25Index
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from qa.records import Chunk, Document, PageSpan

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
CURRENT = "CURRENT"
REBUILD_HINT = "rebuild it with `python -m qa build --rebuild`"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, path TEXT, title TEXT, publisher TEXT, author TEXT, date TEXT,
    content_hash TEXT, text TEXT, pages TEXT, added_at REAL
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id INTEGER PRIMARY KEY, doc_id TEXT, ordinal INTEGER, start INTEGER, end INTEGER,
    page INTEGER, tokens INTEGER, text TEXT
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id);
"""


@dataclass(frozen=True)
class Manifest:
    """What an index was built with; an index is only searched with the same model and format."""

    model: str
    dimension: int
    chunk_tokens: int
    overlap_tokens: int
    faiss_factory: str
    documents: int = 0
    chunks: int = 0
    next_chunk_id: int = 0
    built_at: str = ""
    format_version: int = FORMAT_VERSION

    def check_compatible(self, model: str, dimension: int, where: Path) -> None:
        """Raise IndexMismatchError if this index cannot be searched with `model`."""
        if self.format_version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index in {where} has format {self.format_version}, this version reads {FORMAT_VERSION}; {REBUILD_HINT}"
            )
        if self.model != model or self.dimension != dimension:
            raise IndexMismatchError(
                f"index in {where} was built with model {self.model!r} ({self.dimension} dims), "
                f"but the configured model is {model!r} ({dimension} dims); {REBUILD_HINT}"
            )


@dataclass(frozen=True)
class DocumentRow:
    """A document as stored, without its text."""

    doc_id: str
    path: str
    title: str
    publisher: str
    author: str
    date: str
    content_hash: str
    chunks: int


def current_generation(index_dir: Path) -> Path:
    """The folder of the live generation; IndexNotFoundError if there is none."""
    pointer = Path(index_dir) / CURRENT
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        raise IndexNotFoundError(f"no index in {index_dir}; build it with `python -m qa build`") from None
    folder = Path(index_dir) / name
    if not name or not folder.is_dir():
        raise IndexCorruptError(f"index in {index_dir} points to a missing generation {name!r}; {REBUILD_HINT}")
    return folder


def read_manifest(generation: Path) -> Manifest:
    """The generation's manifest; IndexCorruptError if it is missing or damaged."""
    try:
        return Manifest(**json.loads((generation / "manifest.json").read_text()))
    except (OSError, ValueError, TypeError) as error:
        raise IndexCorruptError(f"index manifest in {generation} is unreadable ({error}); {REBUILD_HINT}") from None


class Generation:
    """One complete index generation opened for reading: every query sees this one snapshot."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest = read_manifest(path)
        try:
            self.ids = np.load(path / "ids.npy")
            self.dense = faiss.read_index(str(path / "dense.faiss"))
            self.bm25 = BM25Index.load(path / "bm25", size=len(self.ids))
            self.db = sqlite3.connect(f"file:{path / 'store.sqlite'}?mode=ro&immutable=1", uri=True,
                                      check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("SELECT 1 FROM chunks LIMIT 1").fetchall()
        except (OSError, RuntimeError, ValueError, sqlite3.Error) as error:
            raise IndexCorruptError(f"index files in {path} are damaged ({error}); {REBUILD_HINT}") from None

    def chunk_rows(self, chunk_ids: Iterable[int]) -> dict[int, sqlite3.Row]:
        """Chunk rows joined with their document's metadata, by chunk id, in one query."""
        ids = [int(i) for i in chunk_ids]
        if not ids:
            return {}
        rows = self.db.execute(
            f"""SELECT c.chunk_id, c.doc_id, c.start, c.end, c.page, c.text,
                       d.title, d.publisher, d.author, d.date, d.path
                FROM chunks c JOIN documents d USING (doc_id)
                WHERE c.chunk_id IN ({",".join("?" * len(ids))})""",
            ids,
        ).fetchall()
        return {row["chunk_id"]: row for row in rows}

    def documents(self) -> list[DocumentRow]:
        """Every document with its chunk count, by title."""
        rows = self.db.execute(
            """SELECT d.doc_id, d.path, d.title, d.publisher, d.author, d.date, d.content_hash,
                      COUNT(c.chunk_id) AS chunks
               FROM documents d LEFT JOIN chunks c USING (doc_id)
               GROUP BY d.doc_id ORDER BY d.title COLLATE NOCASE"""
        ).fetchall()
        return [DocumentRow(**dict(row)) for row in rows]

    def document(self, doc_id: str) -> Document | None:
        """The whole stored document (text and page spans), or None."""
        row = self.db.execute("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        if row is None:
            return None
        pages = tuple(PageSpan(*span) for span in json.loads(row["pages"] or "[]"))
        return Document(row["doc_id"], row["path"], row["text"], row["title"], row["publisher"], row["author"],
                        row["date"], pages, row["content_hash"])

    def chunk_ids_where(self, sql: str, params: Iterable[object]) -> np.ndarray:
        """Ids of the chunks whose document matches an SQL condition on `documents` (for filters)."""
        rows = self.db.execute(
            f"SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id) WHERE {sql}", list(params)
        ).fetchall()
        return np.array(sorted(row[0] for row in rows), dtype=np.int64)

    def vectors(self) -> np.ndarray:
        """All stored vectors (memory-mapped), row i for chunk `ids[i]`."""
        return np.load(self.path / "vectors.npy", mmap_mode="r")

    def close(self) -> None:
        self.db.close()


def write_generation(
    index_dir: Path,
    manifest: Manifest,
    base: Generation | None,
    remove: set[str],
    add: list[tuple[Document, list[Chunk]]],
    new_vectors: np.ndarray,
) -> Path:
    """Write a new generation = `base` - documents in `remove` + `add`, then make it current, atomically.

    `new_vectors` holds one row per chunk in `add`, in order. Unchanged documents keep their chunk ids
    and vectors, so nothing of theirs is embedded again.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    name = time.strftime("gen-%Y%m%d-%H%M%S-") + f"{time.time_ns() % 1_000_000_000:09d}"
    tmp = index_dir / f"{name}.tmp"
    tmp.mkdir()

    db = sqlite3.connect(tmp / "store.sqlite")
    if base is not None:
        base.db.backup(db)
    db.executescript(_SCHEMA)
    removed_ids = _delete_documents(db, remove)
    next_id = max(manifest.next_chunk_id, base.manifest.next_chunk_id if base else 0)
    added_ids = _insert_documents(db, add, next_id)
    db.commit()

    if base is not None:
        keep = ~np.isin(base.ids, removed_ids)
        ids = np.concatenate([base.ids[keep], added_ids])
        vectors = np.concatenate([np.asarray(base.vectors()[keep]), new_vectors]).astype(np.float32)
    else:
        ids, vectors = added_ids, new_vectors.astype(np.float32)
    np.save(tmp / "ids.npy", ids)
    np.save(tmp / "vectors.npy", vectors)
    faiss.write_index(build_faiss(vectors, ids, manifest.dimension, manifest.faiss_factory), str(tmp / "dense.faiss"))

    new_texts = [chunk.text for _, chunks in add for chunk in chunks]
    if base is None:
        bm25 = BM25Index.build(new_texts)
    elif base.bm25.has_terms():
        bm25 = BM25Index.build(new_texts, base=base.bm25, keep=keep)
    else:  # a base saved before BM25 terms were kept: tokenize all its texts once more
        bm25 = BM25Index.build([row[0] for row in db.execute("SELECT text FROM chunks ORDER BY chunk_id")])
    bm25.save(tmp / "bm25")
    documents = db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
    db.close()

    final = Manifest(**{
        **asdict(manifest),
        "documents": documents,
        "chunks": len(ids),
        "next_chunk_id": int(next_id + len(added_ids)),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    (tmp / "manifest.json").write_text(json.dumps(asdict(final), indent=2))
    _fsync_tree(tmp)
    folder = index_dir / name
    os.rename(tmp, folder)
    _replace_pointer(index_dir, name)
    remove_old_generations(index_dir, keep={name, base.path.name if base else name})
    return folder


def build_faiss(vectors: np.ndarray, ids: np.ndarray, dimension: int, factory: str) -> faiss.Index:
    """An IndexIDMap2 of the given factory type (inner product), trained if it needs training."""
    inner = faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
    if not inner.is_trained and len(vectors):
        inner.train(vectors)
    index = faiss.IndexIDMap2(inner)
    if len(vectors):
        index.add_with_ids(vectors, ids)
    return index


def configure_faiss(index: faiss.Index, search_params: str) -> None:
    """Apply search-time parameters of an approximate index, e.g. "efSearch=128" (HNSW) or "nprobe=16" (IVF).

    Raises IndexMismatchError naming the index type when a parameter does not apply to it.
    """
    if not search_params:
        return
    try:
        faiss.ParameterSpace().set_index_parameters(index, search_params)
    except RuntimeError as error:
        kind = type(faiss.downcast_index(index.index)).__name__
        raise IndexMismatchError(f"FAISS search parameters {search_params!r} do not apply to a {kind} index "
                                 f"({str(error).strip().splitlines()[-1]})") from None


def search_faiss(index: faiss.Index, queries: np.ndarray, k: int,
                 allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scores, ids) of the top `k` for each query, optionally only among the `allowed` ids, on one thread.

    For one query at a time one OpenMP thread is fastest: handing a single query's scan to a second thread
    costs more than it saves, the more so when other work holds the second core (exact search over 100k
    vectors: 7-9 ms on one thread, 37-48 ms on two, measured on this project's 2-core machine). The setting
    is per calling thread in OpenMP, so it is made and restored around each search, in whichever thread
    searches. faiss-cpu 1.15's `distance_compute_blas_threshold` (128000) already keeps a single query off
    the BLAS path, which measured 2x slower here.
    """
    params = _search_parameters(index, faiss.IDSelectorBatch(allowed)) if allowed is not None else None
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k, params=params)
    finally:
        faiss.omp_set_num_threads(threads)


def _search_parameters(index: faiss.Index, selector: faiss.IDSelector) -> faiss.SearchParameters:
    """Search parameters carrying `selector`, of the kind the inner index expects, keeping its efSearch/nprobe."""
    inner = faiss.downcast_index(index.index)
    while isinstance(inner, faiss.IndexPreTransform):
        inner = faiss.downcast_index(inner.index)
    if isinstance(inner, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=inner.hnsw.efSearch)
    if isinstance(inner, faiss.IndexIVF):
        return faiss.SearchParametersIVF(sel=selector, nprobe=inner.nprobe)
    return faiss.SearchParameters(sel=selector)


def _delete_documents(db: sqlite3.Connection, doc_ids: set[str]) -> np.ndarray:
    """Delete documents and their chunks; return the deleted chunk ids."""
    removed: list[int] = []
    for doc_id in doc_ids:
        removed += [row[0] for row in db.execute("SELECT chunk_id FROM chunks WHERE doc_id = ?", (doc_id,))]
        db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
    return np.array(removed, dtype=np.int64)


def _insert_documents(db: sqlite3.Connection, add: list[tuple[Document, list[Chunk]]], first_id: int) -> np.ndarray:
    """Insert documents and chunks (ids from `first_id` on, in order); return the new chunk ids."""
    now = time.time()
    db.executemany(
        "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            (d.doc_id, d.path, d.title, d.publisher, d.author, d.date, d.content_hash, d.text,
             json.dumps([[p.page, p.start, p.end] for p in d.pages]), now)
            for d, _ in add
        ],
    )
    rows = [(c.doc_id, c.ordinal, c.start, c.end, c.page, c.tokens, c.text) for _, chunks in add for c in chunks]
    ids = np.arange(first_id, first_id + len(rows), dtype=np.int64)
    db.executemany(
        "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?)",
        [(int(chunk_id), *row) for chunk_id, row in zip(ids, rows)],
    )
    return ids


def _replace_pointer(index_dir: Path, name: str) -> None:
    tmp = index_dir / f"{CURRENT}.tmp"
    with open(tmp, "w") as handle:
        handle.write(name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, index_dir / CURRENT)
    _fsync_dir(index_dir)


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_old_generations(index_dir: Path, keep: set[str]) -> None:
    """Delete generations (and leftovers of killed builds) other than those in `keep`."""
    for folder in Path(index_dir).glob("gen-*"):
        if folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
