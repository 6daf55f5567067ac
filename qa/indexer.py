"""Keeps the index in step with the corpus: hashes files, embeds only new or changed ones, drops removed ones.

A bad file is reported and skipped; the rest of the build goes on. One build runs at a time (a lock file),
and the new generation replaces the old one atomically, so a failed or killed build leaves the last good
index in place.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from qa.chunking import chunk_document
from qa.config import SUPPORTED_SUFFIXES, Settings
from qa.embedding import Embedder, Progress
from qa.errors import BuildLockedError, IndexCorruptError, IndexMismatchError, IndexNotFoundError, LoadError, QAError
from qa.loading import load_document
from qa.records import Chunk, Document
from qa.store import Generation, Manifest, current_generation, write_generation

logger = logging.getLogger(__name__)

LAST_SYNC = "last-sync.json"
Stage = Callable[[str], None]


@dataclass
class SyncReport:
    """What a sync did, file by file (doc ids are paths relative to the corpus folder)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    rebuilt: bool = False
    generation: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> str:
        """One line: counts of each outcome."""
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated", f"{len(self.removed)} removed",
                 f"{len(self.unchanged)} unchanged", f"{len(self.failed)} failed"]
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} duplicate")
        return ", ".join(parts) + f"; {self.chunks_embedded} chunks embedded"


def corpus_files(corpus_dir: Path) -> dict[str, Path]:
    """Supported files under the corpus folder by doc id (relative posix path), hidden files skipped."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise QAError(f"corpus folder {corpus_dir} does not exist")
    files = {}
    for path in sorted(corpus_dir.rglob("*")):
        relative = path.relative_to(corpus_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES:
            files[relative.as_posix()] = path
    return files


def file_hash(path: Path) -> str:
    """sha256 of the file's bytes, read in blocks (bounded memory for large files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


def open_base(index_dir: Path, model_id: str, dimension: int, settings: Settings) -> Generation | None:
    """The current generation if it can be extended with these settings; None means build from scratch."""
    try:
        base = Generation(current_generation(index_dir))
    except IndexNotFoundError:
        return None
    except IndexCorruptError as error:
        logger.warning("%s; building a new index from scratch", error)
        return None
    try:
        base.manifest.check_compatible(model_id, dimension, index_dir)
    except IndexMismatchError as error:
        logger.warning("%s; building a new index from scratch", error)
        return None
    m = base.manifest
    if (m.chunk_tokens, m.overlap_tokens, m.faiss_factory) != (
        settings.chunk_tokens, settings.overlap_tokens, settings.faiss_factory
    ):
        logger.warning("chunking or FAISS settings changed; building a new index from scratch")
        return None
    return base


def sync(
    settings: Settings,
    embedder: Embedder,
    rebuild: bool = False,
    progress: Progress | None = None,
    stage: Stage | None = None,
    wait: bool = True,
) -> SyncReport:
    """Bring the index in `settings.index_dir` up to date with `settings.corpus_dir`; see SyncReport.

    With `wait=False`, raise BuildLockedError at once if another build is running (the page uses this
    so it never hangs behind a command-line build).
    """
    if settings.chunk_tokens > embedder.max_tokens:
        raise QAError(f"chunk_tokens {settings.chunk_tokens} exceeds the model's window of {embedder.max_tokens}")
    tell = stage or (lambda message: logger.info(message))
    report = SyncReport()
    with build_lock(settings.index_dir, wait=wait):
        base = None if rebuild else open_base(settings.index_dir, embedder.model_id, embedder.dimension, settings)
        report.rebuilt = base is None
        indexed = {row.doc_id: row.content_hash for row in base.documents()} if base else {}

        tell("Checking the corpus")
        files = corpus_files(settings.corpus_dir)
        hashes: dict[str, str] = {}
        for doc_id, path in files.items():
            try:
                hashes[doc_id] = file_hash(path)
            except OSError as error:
                report.failed.append((doc_id, f"cannot read file ({error.strerror or error})"))

        to_load: list[str] = []
        seen = {digest: doc_id for doc_id, digest in indexed.items() if hashes.get(doc_id) == digest}
        for doc_id, digest in hashes.items():
            if indexed.get(doc_id) == digest:
                report.unchanged.append(doc_id)
            elif digest in seen:
                report.duplicates.append((doc_id, seen[digest]))
            else:
                to_load.append(doc_id)
                seen[digest] = doc_id
        duplicate_ids = {doc_id for doc_id, _ in report.duplicates}
        report.removed = sorted((set(indexed) - set(hashes)) | (duplicate_ids & set(indexed)))

        tell(f"Reading {len(to_load)} new or changed files")
        add: list[tuple[Document, list[Chunk]]] = []
        for doc_id in to_load:
            try:
                doc = load_document(files[doc_id], doc_id=doc_id, max_bytes=settings.max_file_bytes)
            except LoadError as error:
                # a changed file that no longer loads keeps its last good version in the index
                logger.warning("skipped %s", error)
                report.failed.append((doc_id, error.reason))
                continue
            add.append((doc, chunk(doc, settings, embedder)))
            (report.updated if doc_id in indexed else report.added).append(doc_id)
        remove = set(report.removed) | set(report.updated)

        if base is not None and not add and not remove:
            report.generation = base.path.name
            save_report(settings.index_dir, report)
            return report

        report.chunks_embedded = sum(len(chunks) for _, chunks in add)
        folder = embed_and_write(settings, embedder, add, base, remove, progress, tell)
        report.generation = folder.name
        if base is not None:
            base.close()
        save_report(settings.index_dir, report)
        logger.info("index %s: %s", folder, report.summary())
        return report


def chunk(doc: Document, settings: Settings, embedder: Embedder) -> list[Chunk]:
    """The document's chunks with the configured size and overlap, counted in the model's word pieces."""
    return chunk_document(doc, embedder.count_tokens, settings.chunk_tokens, settings.overlap_tokens,
                          embedder.split_long)


def embed_and_write(
    settings: Settings,
    embedder: Embedder,
    add: list[tuple[Document, list[Chunk]]],
    base: Generation | None = None,
    remove: set[str] | None = None,
    progress: Progress | None = None,
    stage: Stage | None = None,
) -> Path:
    """Embed the chunks of `add` and write a new generation (`base` - `remove` + `add`); returns its folder."""
    tell = stage or (lambda message: logger.info(message))
    texts = [piece.text for _, chunks in add for piece in chunks]
    tell(f"Embedding {len(texts)} passages")
    vectors = embedder.encode(texts, progress=progress) if texts else np.zeros((0, embedder.dimension), np.float32)
    tell("Writing the index")
    manifest = Manifest(
        model=embedder.model_id,
        dimension=embedder.dimension,
        chunk_tokens=settings.chunk_tokens,
        overlap_tokens=settings.overlap_tokens,
        faiss_factory=settings.faiss_factory,
    )
    return write_generation(settings.index_dir, manifest, base, remove or set(), add, vectors)


def build_from_documents(
    settings: Settings, embedder: Embedder, documents: Sequence[Document], progress: Progress | None = None
) -> Path:
    """A fresh index generation in `settings.index_dir` from documents already in memory; returns its folder.

    For benchmark sets (see qa.evaluation): the same chunk, embed and write path as `sync`, without a
    corpus folder, replacing whatever index was there.
    """
    if settings.chunk_tokens > embedder.max_tokens:
        raise QAError(f"chunk_tokens {settings.chunk_tokens} exceeds the model's window of {embedder.max_tokens}")
    with build_lock(settings.index_dir):
        return embed_and_write(settings, embedder, [(doc, chunk(doc, settings, embedder)) for doc in documents],
                               progress=progress)


def save_report(index_dir: Path, report: SyncReport) -> None:
    """Record the last sync's outcome beside the generations, so `info` and the page can show failed files."""
    tmp = Path(index_dir) / f"{LAST_SYNC}.tmp"
    tmp.write_text(json.dumps(asdict(report), indent=2))
    os.replace(tmp, Path(index_dir) / LAST_SYNC)


def last_report(index_dir: Path) -> SyncReport | None:
    """The outcome of the last sync of this index, or None if there is no readable record."""
    try:
        data = json.loads((Path(index_dir) / LAST_SYNC).read_text())
        data["failed"] = [tuple(pair) for pair in data["failed"]]
        data["duplicates"] = [tuple(pair) for pair in data["duplicates"]]
        return SyncReport(**data)
    except (OSError, ValueError, TypeError, KeyError):
        return None

