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
the new one, never half of one. Old generations are removed after the switch (the previous one is kept, also
by a build from scratch, so a reader opened just before the switch keeps working).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import faiss
import numpy as np

from qa.bm25 import BM25Index
from qa.chunking import embedding_text
from qa.errors import BuildLockedError, IndexCorruptError, IndexMismatchError, IndexNotFoundError, QAError
from qa.faiss_index import build_faiss, configure_faiss, search_faiss
from qa.integrity import file_problems, file_records
from qa.records import Chunk, Document, SyncReport
from qa.storage import (
    FORMAT_VERSION, REBUILD_HINT, Candidates, DocumentRow, Filters, Manifest, Store, Writer, batches,
    check_index_dir, document_from_row, filter_sql, pages_json,
)

logger = logging.getLogger(__name__)

CURRENT = "CURRENT"
LAST_SYNC = "last-sync.json"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, path TEXT, title TEXT, publisher TEXT, author TEXT, date TEXT,
    content_hash TEXT, text TEXT, pages TEXT, added_at REAL, url TEXT
);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id INTEGER PRIMARY KEY, doc_id TEXT, ordinal INTEGER, start INTEGER, end INTEGER,
    page INTEGER, tokens INTEGER, text TEXT
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id);
"""


GENERATION_NAME = re.compile(r"gen-\d{8}-\d{6}-\d{9}")
# Up to this size a generation's checksums are verified every time it is opened (a fraction of a second); a larger
# one is checked by sizes and counts, and in full by `python -m qa check` and by a sync before it reuses vectors.
CHECKSUMS_ON_OPEN_BYTES = 64 * 2**20


def current_generation(index_dir: Path) -> Path:
    """The folder CURRENT names; IndexNotFoundError if there is no index, IndexCorruptError if CURRENT is damaged."""
    index_dir = Path(index_dir)
    pointer = index_dir / CURRENT
    try:
        raw = pointer.read_bytes()
    except FileNotFoundError:
        if not generations(index_dir):
            raise IndexNotFoundError(f"no index in {index_dir}; build it with `python -m qa build`") from None
        raise IndexCorruptError(f"{pointer} is missing") from None
    except OSError as error:
        raise IndexCorruptError(f"{pointer} cannot be read ({error.strerror or error})") from None
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise IndexCorruptError(f"{pointer} holds bytes that are not a generation name") from None
    if not GENERATION_NAME.fullmatch(name):
        raise IndexCorruptError(f"{pointer} names {name[:60]!r}, not a generation of this folder")
    folder = index_dir / name
    if not folder.is_dir():
        raise IndexCorruptError(f"{pointer} names generation {name}, which is missing")
    return folder


def generation_name(now_ns: int) -> str:
    """The folder name of a generation built at `now_ns` (UTC): from one clock reading, so names sort by time."""
    seconds, nanoseconds = divmod(now_ns, 1_000_000_000)
    return time.strftime("gen-%Y%m%d-%H%M%S-", time.gmtime(seconds)) + f"{nanoseconds:09d}"


def generations(index_dir: Path) -> list[Path]:
    """The complete generation folders of an index folder, newest first (leftovers of killed builds skipped)."""
    return sorted((p for p in Path(index_dir).glob("gen-*") if GENERATION_NAME.fullmatch(p.name) and p.is_dir()),
                  reverse=True)


def open_generation(index_dir: Path, checksums: bool = False) -> Generation:
    """The current generation if it is intact, else the newest intact one (its `fallback` says why).

    IndexNotFoundError if there is no index; IndexCorruptError naming the damage if no generation is intact.
    """
    try:
        return Generation(current_generation(index_dir), checksums)
    except IndexCorruptError as error:
        damage = str(error)
    for folder in generations(index_dir):
        try:
            generation = Generation(folder, checksums)
        except IndexCorruptError:
            continue
        if generation.path.name == _pointer_name(index_dir):
            return generation  # a build made it current while the one CURRENT named was read: nothing is damaged
        generation.fallback = damage
        logger.warning("%s; serving the earlier generation %s", damage, folder.name)
        return generation
    raise IndexCorruptError(f"{damage}; no intact generation is left: {REBUILD_HINT}")


def check_index(index_dir: Path) -> list[tuple[str, str]]:
    """Each generation of the folder, newest first, with "" if it is intact (checksums and SQLite's own check
    included) or the first problem found; CURRENT's own damage comes first, named CURRENT."""
    report = []
    try:
        current_generation(check_index_dir(index_dir))
    except IndexCorruptError as error:
        report.append((CURRENT, str(error)))
    for folder in generations(index_dir):
        try:
            generation = Generation(folder, checksums=True)
        except IndexCorruptError as error:
            report.append((folder.name, str(error)))
            continue
        try:
            verdict = generation.db.execute("PRAGMA quick_check").fetchone()[0]
            report.append((folder.name, "" if verdict == "ok" else f"store.sqlite fails SQLite's check: {verdict}"))
        except sqlite3.DatabaseError as error:
            report.append((folder.name, f"store.sqlite fails SQLite's check: {error}"))
        finally:
            generation.close()
    return report


def _pointer_name(index_dir: Path) -> str:
    """What CURRENT holds, as text ("" when it cannot be read): a reader notices a newer build by it changing."""
    try:
        return (Path(index_dir) / CURRENT).read_bytes().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def read_manifest(generation: Path) -> Manifest:
    """The generation's manifest; IndexCorruptError if it is missing or damaged."""
    try:
        manifest = Manifest(**json.loads((generation / "manifest.json").read_text()))
        if not isinstance(manifest.files, dict) or not all(isinstance(r, dict) for r in manifest.files.values()):
            raise ValueError("its file records are not a table")
        return manifest
    except (OSError, ValueError, TypeError) as error:
        raise IndexCorruptError(f"index manifest in {generation} is unreadable ({error}); {REBUILD_HINT}") from None


class Generation(Store):
    """One complete index generation opened for reading: every query sees this one snapshot.

    Opening checks that it is intact: its files have the sizes the build recorded (and, with `checksums`, the
    same content), and its parts hold as many chunks as the manifest says. IndexCorruptError names what is not.
    `fallback` is set (to what was wrong with the current one) when this is an earlier generation served instead.
    """

    def __init__(self, path: Path, checksums: bool = False) -> None:
        self.path = path
        self.fallback = ""
        self.pointer = _pointer_name(path.parent)
        self.manifest = read_manifest(path)
        small = sum(int(record["size"]) for record in self.manifest.files.values()) <= CHECKSUMS_ON_OPEN_BYTES
        problems = file_problems(path, self.manifest.files, checksums or small)
        if problems:
            raise IndexCorruptError(f"index generation {path} is damaged: {problems[0]}")
        try:
            self.ids = np.load(path / "ids.npy")
            self.faiss = faiss.read_index(str(path / "dense.faiss"))
            self.bm25 = BM25Index.load(path / "bm25", size=len(self.ids))
            self.db = sqlite3.connect(f"file:{path / 'store.sqlite'}?mode=ro&immutable=1", uri=True,
                                      check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            counts = {"the ids file": len(self.ids), "the vectors file": len(self.vectors()),
                      "the FAISS index": self.faiss.ntotal, "BM25": self.bm25.rows(),
                      "SQLite": self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]}
        except Exception as error:  # noqa: BLE001 - numpy, FAISS, bm25s and SQLite each fail their own way
            raise IndexCorruptError(f"index files in {path} are damaged ({type(error).__name__}: {error})") from None
        wrong = [f"{part} holds {count}" for part, count in counts.items() if count != self.manifest.chunks]
        if wrong:
            self.db.close()
            raise IndexCorruptError(f"index generation {path} is damaged: the manifest lists {self.manifest.chunks} "
                                    f"chunks but {', '.join(wrong)}")
        if len(self.ids) > 1 and not bool(np.all(np.diff(self.ids) > 0)):
            self.db.close()
            raise IndexCorruptError(f"index generation {path} is damaged: its ids are out of order")

    @classmethod
    def open(cls, index_dir: Path, faiss_search: str = "") -> Generation:
        """The current (or newest intact) generation in `index_dir`, with FAISS search-time parameters applied."""
        generation = open_generation(index_dir)
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
        rows = self._query(f"SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id) WHERE {sql}",
                               params).fetchall()
        return np.array(sorted(row[0] for row in rows), dtype=np.int64)

    def chunk_rows(self, chunk_ids: Sequence[int]) -> dict[int, sqlite3.Row]:
        """Chunk rows joined with their document's metadata, by chunk id, in one query."""
        ids = [int(i) for i in chunk_ids]
        if not ids:
            return {}
        rows = self._query(
            f"""SELECT c.chunk_id, c.doc_id, c.start, c.end, c.page, c.text,
                       d.title, d.publisher, d.author, d.date, d.path, d.url
                FROM chunks c JOIN documents d USING (doc_id)
                WHERE c.chunk_id IN ({",".join("?" * len(ids))})""",
            ids,
        ).fetchall()
        return {row["chunk_id"]: row for row in rows}

    def documents(self) -> list[DocumentRow]:
        """Every document with its chunk count, by title."""
        rows = self._query(
            """SELECT d.doc_id, d.path, d.title, d.publisher, d.author, d.date, d.content_hash,
                      COUNT(c.chunk_id) AS chunks, d.url
               FROM documents d LEFT JOIN chunks c USING (doc_id)
               GROUP BY d.doc_id ORDER BY d.title COLLATE NOCASE"""
        ).fetchall()
        return [DocumentRow(**dict(row)) for row in rows]

    def document(self, doc_id: str) -> Document | None:
        """The whole stored document (text and page spans), or None."""
        row = self._query("SELECT * FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return None if row is None else document_from_row(row)

    def vectors(self) -> np.ndarray:
        """All stored vectors (memory-mapped), row i for chunk `ids[i]`."""
        return np.load(self.path / "vectors.npy", mmap_mode="r")

    def last_report(self) -> SyncReport | None:
        return last_report(self.path.parent)

    def is_current(self) -> bool:
        """False once CURRENT names another generation than when this one was opened (a newer build), or once files
        of this one are missing or of another size (damaged under a reader: reopening serves an intact one)."""
        return _pointer_name(self.path.parent) == self.pointer and not file_problems(self.path, self.manifest.files)

    def location(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self.db.close()

    def _query(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        """Run a read on the generation's SQLite file; damage found only now (a page corrupted in the middle)
        becomes IndexCorruptError, a message instead of a traceback."""
        try:
            return self.db.execute(sql, params)
        except sqlite3.DatabaseError as error:
            raise IndexCorruptError(f"index file {self.path / 'store.sqlite'} is damaged ({error}); "
                                    f"{REBUILD_HINT}") from None


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

    def embedded(self, doc_ids: set[str]) -> dict[str, np.ndarray]:
        if self.base is None:
            return {}
        rows = [row for part in batches(sorted(doc_ids), 500)  # SQLite takes a bounded number of parameters
                for row in self.base.db.execute(f"SELECT chunk_id, title, chunks.text FROM chunks JOIN documents "
                                                f"USING (doc_id) WHERE doc_id IN ({','.join('?' * len(part))})", part)]
        positions = np.searchsorted(self.base.ids, [row["chunk_id"] for row in rows])  # the ids are sorted
        vectors = self.base.vectors()[positions]
        return {embedding_text(row["title"], row["text"]): vector for row, vector in zip(rows, vectors)}

    def write(self, remove: set[str], add: list[tuple[Document, list[Chunk]]], vectors: np.ndarray) -> str:
        assert self.manifest is not None, "prepare() first"
        folder = write_generation(self.index_dir, self.manifest, self.base, remove, add, vectors)
        self.close()
        self.base = Generation(folder)
        return folder.name

    def needs_repair(self) -> bool:
        """The base is an earlier generation served because the current one is damaged: write a new current."""
        return self.base is not None and bool(self.base.fallback)

    def save_report(self, report: SyncReport) -> None:
        """Keep what the sync did for `info` and the page; a report that cannot be written is logged, not a failed
        build (the index it describes is already current), and a folder left in its place is removed."""
        tmp, target = self.index_dir / f"{LAST_SYNC}.tmp", self.index_dir / LAST_SYNC
        try:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            tmp.write_text(json.dumps(report.stored(), indent=2))
            os.replace(tmp, target)
        except OSError as error:
            tmp.unlink(missing_ok=True)
            logger.warning("the index is updated, but what the sync did could not be recorded in %s (%s)", target,
                           error.strerror or error)

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
    """The newest intact generation (checksums verified: its vectors are reused) if it can be extended with
    `manifest`'s settings; None means build from scratch. A damaged current generation is repaired this way:
    the sync re-embeds only what the intact one lacks."""
    try:
        base = open_generation(index_dir, checksums=True)
    except IndexNotFoundError:
        return None
    except IndexCorruptError as error:
        logger.warning("%s; building a new index from scratch", error)
        return None
    m = base.manifest
    if m.format_version != FORMAT_VERSION:
        logger.warning("index in %s has format %s, this version writes %s; building a new index from scratch",
                       index_dir, m.format_version, FORMAT_VERSION)
        base.close()
        return None
    try:  # re-embedding everything with another model refuses every reader still on the old one: only when asked
        m.check_compatible(manifest.model, manifest.dimension, index_dir)
    except IndexMismatchError:
        base.close()
        raise
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
    name = generation_name(time.time_ns())
    tmp, folder = index_dir / f"{name}.tmp", index_dir / name
    previous = _pointer_name(index_dir)
    try:
        tmp.mkdir()
        _write_files(tmp, manifest, base, remove, add, new_vectors)
        Generation(tmp).close()  # read back (sizes, counts; checksums when small) before it replaces the last one
        os.rename(tmp, folder)
        _replace_pointer(index_dir, name)
    except BaseException as error:
        published = _pointer_name(index_dir) == name
        if not published:  # a half-written or unpublished generation only takes space
            for leftover in (tmp, folder):
                shutil.rmtree(leftover, ignore_errors=True)
        (index_dir / f"{CURRENT}.tmp").unlink(missing_ok=True)
        if published and isinstance(error, OSError):  # only flushing the folder after the switch failed
            logger.warning("generation %s is current, but flushing %s to disk failed (%s)", name, index_dir, error)
        elif _disk_full(error):
            raise QAError(f"the disk holding {index_dir} is full ({error}); the index in use is unchanged and "
                          "still answers. Free some space, then run `python -m qa build` again") from None
        else:
            raise
    # the generation current until now stays, even under a build from scratch: a reader that opened it just
    # before the switch is still reading its files
    remove_old_generations(index_dir, keep={name, previous, base.path.name if base else name})
    return folder


def _disk_full(error: BaseException) -> bool:
    """Whether a write failed for want of space (an OSError, numpy's short write, SQLite's or FAISS's own message)."""
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC or bool(re.search(r"requested and \d+ written", str(error)))
    return isinstance(error, (RuntimeError, sqlite3.OperationalError)) and bool(
        re.search(r"disk is full|no space", str(error), re.IGNORECASE))


def _write_files(tmp: Path, manifest: Manifest, base: Generation | None, remove: set[str],
                 add: list[tuple[Document, list[Chunk]]], new_vectors: np.ndarray) -> None:
    """Every file of the new generation, in `tmp`, with the manifest (counts, file checksums) written last."""
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
    _fsync_tree(tmp)
    final = replace(final, files=file_records(tmp))
    (tmp / "manifest.json").write_text(json.dumps(asdict(final), indent=2))
    _fsync_tree(tmp)


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
        "INSERT OR REPLACE INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        [
            (d.doc_id, d.path, d.title, d.publisher, d.author, d.date, d.content_hash, d.text,
             pages_json(d), now, d.url)
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
    """Point CURRENT at generation `name`, atomically (a folder left in its place by damage is removed first)."""
    if (index_dir / CURRENT).is_dir() and not (index_dir / CURRENT).is_symlink():
        shutil.rmtree(index_dir / CURRENT)
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
