"""The embedded store (the default): generations of SQLite (documents, chunks) + FAISS + BM25 + vectors + manifest.

    index/
      CURRENT              name of the live generation (replaced atomically)
      build.lock           held by the one build that may run at a time
      last-sync.json       what the last sync did (failed files, duplicates)
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

import fcntl
import json
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict
from pathlib import Path

import faiss
import numpy as np

from qa.bm25 import BM25Index
from qa.errors import BuildLockedError, IndexCorruptError, IndexMismatchError, IndexNotFoundError
from qa.faiss_index import build_faiss, configure_faiss, search_faiss
from qa.records import Chunk, Document, SyncReport
from qa.storage import (
    REBUILD_HINT, Candidates, DocumentRow, Filters, Manifest, Store, Writer, document_from_row, filter_sql, pages_json,
)

logger = logging.getLogger(__name__)

CURRENT = "CURRENT"
LAST_SYNC = "last-sync.json"

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


class Generation(Store):
    """One complete index generation opened for reading: every query sees this one snapshot."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest = read_manifest(path)
        try:
            self.ids = np.load(path / "ids.npy")
            self.faiss = faiss.read_index(str(path / "dense.faiss"))
            self.bm25 = BM25Index.load(path / "bm25", size=len(self.ids))
            self.db = sqlite3.connect(f"file:{path / 'store.sqlite'}?mode=ro&immutable=1", uri=True,
                                      check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("SELECT 1 FROM chunks LIMIT 1").fetchall()
        except (OSError, RuntimeError, ValueError, sqlite3.Error) as error:
            raise IndexCorruptError(f"index files in {path} are damaged ({error}); {REBUILD_HINT}") from None

    @classmethod
    def open(cls, index_dir: Path, faiss_search: str = "") -> Generation:
        """The current generation in `index_dir`, with FAISS search-time parameters applied."""
        generation = cls(current_generation(index_dir))
        configure_faiss(generation.faiss, faiss_search)
        return generation

    def dense(self, query: np.ndarray, n: int, filters: Filters | None = None) -> Candidates:
        return search_faiss(self.faiss, query, n, self._allowed(filters))

    def keyword(self, question: str, n: int, filters: Filters | None = None) -> Candidates:
        allowed = self._allowed(filters)
        positions, scores = self.bm25.search(question, n, np.isin(self.ids, allowed) if allowed is not None else None)
        return Candidates(self.ids[positions], scores)

    def idf(self, terms: Sequence[str]) -> np.ndarray:
        return self.bm25.idf(terms)

    def _allowed(self, filters: Filters | None) -> np.ndarray | None:
        """Ids of the chunks whose document passes the filters; None when there are no filters."""
        if not filters:
            return None
        sql, params = filter_sql(filters, "?")
        rows = self.db.execute(f"SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id) WHERE {sql}",
                               params).fetchall()
        return np.array(sorted(row[0] for row in rows), dtype=np.int64)

    def chunk_rows(self, chunk_ids: Sequence[int]) -> dict[int, sqlite3.Row]:
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
        return None if row is None else document_from_row(row)

    def vectors(self) -> np.ndarray:
        """All stored vectors (memory-mapped), row i for chunk `ids[i]`."""
        return np.load(self.path / "vectors.npy", mmap_mode="r")

    def last_report(self) -> SyncReport | None:
        return last_report(self.path.parent)

    def is_current(self) -> bool:
        try:
            return (self.path.parent / CURRENT).read_text().strip() == self.path.name
        except OSError:
            return True

    def location(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self.db.close()


class EmbeddedWriter(Writer):
    """Syncs an index folder: each write is a new generation made current atomically."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self.base: Generation | None = None
        self.manifest: Manifest | None = None

    def lock(self, wait: bool = True) -> AbstractContextManager[None]:
        return build_lock(self.index_dir, wait)

    def prepare(self, manifest: Manifest, rebuild: bool) -> bool:
        self.manifest = manifest
        self.base = None if rebuild else open_base(self.index_dir, manifest)
        return self.base is not None

    def indexed(self) -> dict[str, str]:
        return {row.doc_id: row.content_hash for row in self.base.documents()} if self.base else {}

    def write(self, remove: set[str], add: list[tuple[Document, list[Chunk]]], vectors: np.ndarray) -> str:
        assert self.manifest is not None, "prepare() first"
        folder = write_generation(self.index_dir, self.manifest, self.base, remove, add, vectors)
        self.close()
        self.base = Generation(folder)
        return folder.name

    def save_report(self, report: SyncReport) -> None:
        tmp = self.index_dir / f"{LAST_SYNC}.tmp"
        tmp.write_text(json.dumps(asdict(report), indent=2))
        os.replace(tmp, self.index_dir / LAST_SYNC)

    def close(self) -> None:
        if self.base is not None:
            self.base.close()


def last_report(index_dir: Path) -> SyncReport | None:
    """The outcome of the last sync of this index folder, or None if there is no readable record."""
    try:
        return SyncReport.from_dict(json.loads((Path(index_dir) / LAST_SYNC).read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        return None


@contextmanager
def build_lock(index_dir: Path, wait: bool = True) -> Iterator[None]:
    """Hold the index's build lock; wait for another build to finish, or raise BuildLockedError."""
    Path(index_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(index_dir) / "build.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise BuildLockedError(f"another build of {index_dir} is running; try again when it ends") from None
            logger.warning("another build of %s is running; waiting for it to finish", index_dir)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_base(index_dir: Path, manifest: Manifest) -> Generation | None:
    """The current generation if it can be extended with `manifest`'s settings; None means build from scratch."""
    try:
        base = Generation(current_generation(index_dir))
    except IndexNotFoundError:
        return None
    except IndexCorruptError as error:
        logger.warning("%s; building a new index from scratch", error)
        return None
    try:
        base.manifest.check_compatible(manifest.model, manifest.dimension, index_dir)
    except IndexMismatchError as error:
        logger.warning("%s; building a new index from scratch", error)
        base.close()
        return None
    m = base.manifest
    if (m.chunk_tokens, m.overlap_tokens, m.faiss_factory) != (
        manifest.chunk_tokens, manifest.overlap_tokens, manifest.faiss_factory
    ):
        logger.warning("chunking or FAISS settings changed; building a new index from scratch")
        base.close()
        return None
    return base


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
             pages_json(d), now)
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
