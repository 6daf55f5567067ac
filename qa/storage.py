"""The store interface: what retrieval and sync ask of an index, whichever engine holds it.

Two implementations: the embedded store (qa.store: SQLite + FAISS + bm25s generations in a folder, the
default) and the Postgres store (qa.pgstore: one PostgreSQL database with pgvector, chosen by a URL).
Both answer dense and keyword search with the same `Candidates` shape and apply `Filters` themselves, so
`Retriever`, `sync`, the CLI, the page and the evaluation never know which one they hold.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qa.errors import IndexMismatchError, QAError
from qa.records import Chunk, Document, PageSpan, SyncReport

if TYPE_CHECKING:
    from qa.config import Settings

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: documents keep their original URL; an index of format 1 is rebuilt by the next build
REBUILD_HINT = "run `python -m qa build` to rebuild it from the corpus"
# An index of another model or format is replaced only when asked: every document is embedded again, and readers on
# the old model are refused from then on.
REBUILD_ASKED = "rebuild it with `python -m qa build --rebuild`"
URL_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True)
class Candidates:
    """Chunk ids and their scores, best first: what dense and keyword search both return."""

    ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def pairs(self) -> list[tuple[int, float]]:
        """(chunk id, score) pairs, best first, as the fusion functions take them."""
        return [(int(i), float(s)) for i, s in zip(self.ids, self.scores)]


@dataclass(frozen=True)
class Filters:
    """Restrict a search to some sources (publisher names or document ids) and a date range (ISO, inclusive)."""

    sources: tuple[str, ...] = ()
    since: str = ""
    until: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.sources, str):  # Filters(sources="Reuters") means that one source, not its letters
            object.__setattr__(self, "sources", (self.sources,))

    def __bool__(self) -> bool:
        return bool(self.sources or self.since or self.until)


def filter_sql(filters: Filters, mark: str) -> tuple[str, list[str]]:
    """An SQL condition on the documents table (alias d) and its parameters; `mark` is the driver's placeholder."""
    clauses, params = [], []
    if filters.sources:
        marks = ",".join([mark] * len(filters.sources))
        clauses.append(f"(d.publisher IN ({marks}) OR d.doc_id IN ({marks}))")
        params += [*filters.sources, *filters.sources]
    if filters.since:
        clauses.append(f"d.date >= {mark}")
        params.append(filters.since)
    if filters.until:
        clauses.append(f"d.date <> '' AND d.date <= {mark}")  # an undated document is in no date range
        params.append(filters.until + "\uffff")
    return " AND ".join(clauses) or "TRUE", params


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
    files: dict = field(default_factory=dict)  # an index folder's files: size and sha256 each (qa.integrity)

    def check_compatible(self, model: str, dimension: int, where: object) -> None:
        """Raise IndexMismatchError if this index cannot be searched with `model`, saying how to rebuild it."""
        if self.format_version != FORMAT_VERSION:
            raise IndexMismatchError(
                f"index in {where} has format {self.format_version}, this version reads {FORMAT_VERSION}; "
                f"{REBUILD_ASKED}"
            )
        if not same_model(self.model, model) or self.dimension != dimension:
            raise IndexMismatchError(
                f"index in {where} was built with model {self.model!r} ({self.dimension} dims), "
                f"but the configured model is {model!r} ({dimension} dims); use the model it was built with "
                f"(--model or QA_MODEL), or {REBUILD_ASKED} with the configured one"
            )


def same_model(built: str, configured: str) -> bool:
    """Whether two model ids name one model: the same id, the same weights (`qa.embedding.weights_digest`, after
    the "@") in folders of different names, or an id recorded before weights were (the folder's name alone)."""
    name, _, weights = configured.partition("@")
    if built == configured:
        return True
    if "@" in built:
        return built.partition("@")[2] == weights
    digest, plus, backend = weights.partition("+")
    return bool(digest) and built == name + plus + backend


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
    url: str = ""


def document_from_row(row: Mapping) -> Document:
    """A stored document row (page spans as a JSON list of [page, start, end]) as a Document."""
    pages = tuple(PageSpan(*span) for span in json.loads(row["pages"] or "[]"))
    return Document(row["doc_id"], row["path"], row["text"], row["title"], row["publisher"], row["author"],
                    row["date"], pages, row["content_hash"], row["url"])


def pages_json(document: Document) -> str:
    """The document's page spans as stored: a JSON list of [page, start, end]."""
    return json.dumps([[p.page, p.start, p.end] for p in document.pages])


class Store(ABC):
    """An index opened for reading (and, through `writer`, for syncing)."""

    manifest: Manifest
    fallback: str = ""  # why an earlier generation is served instead of the damaged current one ("" if it is not)

    @abstractmethod
    def dense(self, query: np.ndarray, n: int, filters: Filters | None = None) -> Candidates:
        """The `n` chunks whose vectors have the highest inner product with `query` (shape (1, dim))."""

    @abstractmethod
    def keyword(self, question: str, n: int, filters: Filters | None = None) -> Candidates:
        """The `n` chunks with the highest positive BM25 score (Lucene variant, qa.bm25's K1 and B)."""

    @abstractmethod
    def idf(self, terms: Sequence[str]) -> np.ndarray:
        """Lucene's idf of each term over the chunks (unseen terms get df 0), for the answer marker."""

    @abstractmethod
    def chunk_rows(self, chunk_ids: Sequence[int]) -> dict[int, Mapping]:
        """Chunk rows joined with their document's metadata (chunk_id, doc_id, start, end, page, text, title,
        publisher, author, date, path, url), by chunk id."""

    @abstractmethod
    def documents(self) -> list[DocumentRow]:
        """Every document with its chunk count, by title."""

    @abstractmethod
    def document(self, doc_id: str) -> Document | None:
        """The whole stored document (text and page spans), or None."""

    @abstractmethod
    def last_report(self) -> SyncReport | None:
        """The outcome of the last sync, or None if none was recorded."""

    @abstractmethod
    def is_current(self) -> bool:
        """False once a newer build has replaced what this store reads (for a live database: once it holds an
        index of another model or format, which reopening then refuses with the reason)."""

    def snapshot(self) -> AbstractContextManager[None]:
        """Reads inside see one state of the index (a search and the fetch of its passages); an index folder's
        generation never changes, so by default this does nothing."""
        return nullcontext()

    @abstractmethod
    def location(self) -> str:
        """Where the index lives, for people (a folder, or a URL without its password)."""

    @abstractmethod
    def close(self) -> None:
        """Release files and connections."""


class Writer(ABC):
    """The write side of a store, used by `sync`: lock, read what is indexed, write batches of documents."""

    #: documents per write; a write is one atomic step (None: all in one)
    batch_documents: int | None = None

    @abstractmethod
    def lock(self, wait: bool = True) -> AbstractContextManager[None]:
        """Hold the store's build lock; wait for another build, or raise BuildLockedError."""

    @abstractmethod
    def prepare(self, manifest: Manifest, rebuild: bool) -> bool:
        """Get ready to write with `manifest`; True if the existing content is kept (False: built anew)."""

    @abstractmethod
    def indexed(self) -> dict[str, str]:
        """Content hash of every indexed document, by doc id."""

    @abstractmethod
    def write(self, remove: set[str], add: list[tuple[Document, list[Chunk]]], vectors: np.ndarray) -> str:
        """Atomically drop the documents in `remove`, then add `add` (one vector row per chunk, in order).

        Returns a name for what was written (the generation, or the store).
        """

    def needs_repair(self) -> bool:
        """True when the store must be written even if nothing changed (its current state is damaged)."""
        return False

    def store_for_workers(self, store: str) -> str:
        """Where parallel ingest workers must write (`store` unless this build writes somewhere else first)."""
        return store

    def publish(self) -> None:
        """Make what this build wrote the index readers see; by default every write already is."""

    def embedded(self, doc_ids: set[str]) -> dict[str, np.ndarray]:
        """The vectors the store holds for these documents' passages, by the text they were embedded from
        (`qa.chunking.embedding_text`): a document read again (by a newer reader, or edited in one place) keeps those
        of its passages whose text did not change instead of embedding them again. None by default."""
        return {}

    @abstractmethod
    def save_report(self, report: SyncReport) -> None:
        """Record the last sync's outcome, so `info` and the page can show failed files."""

    @abstractmethod
    def close(self) -> None:
        """Release files and connections."""


def is_url(location: object) -> bool:
    """True for a postgresql:// (or postgres://) URL, i.e. a Postgres store rather than an index folder."""
    return str(location).startswith(URL_SCHEMES)


def open_store(settings: Settings) -> Store:
    """The store `settings` points at, opened for reading: `settings.store` if set, else `settings.index_dir`."""
    if settings.store:
        from qa.pgstore import PostgresStore

        return PostgresStore.open(check_store_url(settings.store))
    from qa.store import Generation

    return Generation.open(check_index_dir(settings.index_dir), settings.faiss_search)


def open_writer(settings: Settings) -> Writer:
    """The write side of the store `settings` points at."""
    if settings.store:
        from qa.pgstore import PostgresWriter

        return PostgresWriter(check_store_url(settings.store), settings.batch_documents)
    from qa.store import EmbeddedWriter

    return EmbeddedWriter(check_index_dir(settings.index_dir))


def check_index_dir(index_dir: Path) -> Path:
    """The index folder, unless that path, or the nearest of its parents that exists, is a file (a build could
    never make it a folder); QAError then."""
    index_dir = Path(index_dir)
    existing = next(path for path in (index_dir, *index_dir.parents) if path.exists() or path == Path(path.anchor))
    if not existing.is_dir():
        why = "is a file, not an index folder" if existing == index_dir else f"cannot be a folder: {existing} is a file"
        raise QAError(f"{index_dir} {why}; point --index (or QA_INDEX_DIR) at a folder")
    return index_dir


def check_store_url(url: str) -> str:
    """The URL if it names a Postgres store; QAError saying what is accepted otherwise."""
    if not is_url(url):
        raise QAError(f"store {url!r} is not a postgresql:// URL; use --index for an index folder")
    return url


def batches(items: Sequence, size: int | None) -> Iterator[Sequence]:
    """`items` in consecutive slices of `size` (one slice of all for None); nothing for no items."""
    step = size or max(len(items), 1)
    for start in range(0, len(items), step):
        yield items[start:start + step]
