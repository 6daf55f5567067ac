"""Keeps the index in step with the corpus: hashes files, embeds only new or changed ones, drops removed ones.

A bad file is reported and skipped; the rest of the build goes on. One build runs at a time (the store's
lock), and each write is atomic (a new generation made current, or one database transaction per batch of
documents), so a failed or killed build leaves the last good index in place.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np

from qa import loading
from qa.chunking import chunk_document, embedding_text
from qa.config import Settings
from qa.corpus import corpus_files, remove_file, unread_documents
from qa.embedding import Embedder, Progress
from qa.errors import LoadError, QAError
from qa.integrity import sha256
from qa.loading import content_key, embedded_as_now, load_document, read_by_newer, same_file
from qa.records import Chunk, Document, SyncReport
from qa.storage import Manifest, Writer, batches, open_writer

logger = logging.getLogger(__name__)

Stage = Callable[[str], None]


def shown_name(doc_id: str) -> str:
    """`doc_id` with the bytes of a file name that are not UTF-8 shown as �: such a name cannot be stored,
    printed or typed, so the file is reported under this name instead of indexed."""
    return doc_id.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def one_line(doc_id: str) -> str:
    """`doc_id` as one printable line: not-UTF-8 bytes as � (`shown_name`), line breaks as \\n (printed, a name
    holding one would forge a line of the build's report)."""
    return shown_name(doc_id).replace("\n", "\\n").replace("\r", "\\r")


def sync(
    settings: Settings,
    embedder: Embedder,
    rebuild: bool = False,
    progress: Progress | None = None,
    stage: Stage | None = None,
    wait: bool = True,
    workers: int = 1,
    prune: bool = False,
) -> SyncReport:
    """Bring the index in `settings.index_dir` up to date with `settings.corpus_dir`; see SyncReport.

    With `wait=False`, raise BuildLockedError at once if another build is running (the page uses this
    so it never hangs behind a command-line build). `workers` > 1 embeds in that many processes
    (`ingest_in_parallel`, database stores only). `prune` lets a sync remove most of the index (see
    `check_removals`).
    """
    if settings.chunk_tokens > embedder.max_tokens:
        raise QAError(f"chunk_tokens {settings.chunk_tokens} exceeds the model's window of {embedder.max_tokens}")
    if workers > 1 and not settings.store:
        raise QAError("parallel ingest (--workers) needs a database store (--store postgresql://...); "
                      "an index folder is written by one process")
    corpus_files(settings.corpus_dir)  # a mistyped --corpus is refused before a --rebuild drops anything
    tell = stage or (lambda message: logger.info(message))
    report = SyncReport()
    writer = open_writer(settings)
    try:
        with writer.lock(wait=wait):
            report.rebuilt = not writer.prepare(manifest_for(settings, embedder), rebuild)
            _sync_locked(settings, embedder, writer, report, progress, tell, workers, prune)
            writer.publish()
    finally:
        writer.close()
    logger.info("index %s: %s", report.generation, report.summary())
    return report


def withdraw_unindexed(added: Sequence[str], report: SyncReport, settings: Settings,
                       embedder: Embedder) -> list[tuple[str, str]]:
    """Move the just-added files (doc ids) that `report`'s sync did not index, unreadable ones and copies of a
    document already there, out of the corpus into `.removed/` (kept, not deleted), and sync again so the last
    build's record no longer lists them; return them with why. A mistaken upload or `add` leaves no clutter."""
    why = dict(report.failed) | {doc_id: f"same content as {original}" for doc_id, original in report.duplicates}
    withdrawn = [(doc_id, why[doc_id]) for doc_id in added if doc_id in why]
    for doc_id, _ in withdrawn:
        remove_file(doc_id, settings.corpus_dir)
    if withdrawn:
        sync(settings, embedder)
    return withdrawn


def _sync_locked(settings: Settings, embedder: Embedder, writer: Writer, report: SyncReport,
                 progress: Progress | None, tell: Stage, workers: int = 1, prune: bool = False) -> None:
    """The body of `sync`, run under the store's build lock: compare, load, then embed and write what changed."""
    indexed = writer.indexed()
    tell("Checking the corpus")
    files = corpus_files(settings.corpus_dir)
    report.failed.extend((one_line(doc_id), why) for doc_id, why in unread_documents(settings.corpus_dir))
    hashes: dict[str, str] = {}
    unreadable: set[str] = set()
    for doc_id, path in files.items():
        if shown_name(doc_id) != doc_id:
            report.failed.append((shown_name(doc_id), "its file name is not valid UTF-8; rename the file to index it"))
            continue
        if one_line(doc_id) != doc_id:
            report.failed.append((one_line(doc_id), "its file name holds a line break; rename the file to index it"))
            continue
        if path.exists() and not path.is_file():  # a pipe or a device would be read for ever
            report.failed.append((doc_id, "not a regular file (a pipe, socket or device); skipped"))
            continue
        try:
            hashes[doc_id] = content_key(sha256(path))
        except OSError as error:  # often passing (permissions, a share): an indexed version stays until it reads
            kept = "; its last indexed version stays searchable" if doc_id in indexed else ""
            report.failed.append((doc_id, f"cannot read file ({error.strerror or error}){kept}"))
            unreadable.add(doc_id)

    to_load: list[str] = []
    seen = {digest: doc_id for doc_id, digest in indexed.items() if hashes.get(doc_id) == digest}
    for doc_id, digest in hashes.items():
        if indexed.get(doc_id) == digest or read_by_newer(indexed.get(doc_id, ""), digest):
            report.unchanged.append(doc_id)
            continue
        if doc_id in indexed and same_file(indexed[doc_id], digest):
            report.reread.append(doc_id)
        if digest in seen:
            report.duplicates.append((doc_id, seen[digest]))
        else:
            to_load.append(doc_id)
            seen[digest] = doc_id
    duplicate_ids = {doc_id for doc_id, _ in report.duplicates}
    report.removed = sorted((set(indexed) - set(hashes) - unreadable) | (duplicate_ids & set(indexed)))
    if not prune:
        check_removals(len(report.removed), len(indexed), settings.corpus_dir)

    if report.reread:
        tell(f"Reading again {len(report.reread)} unchanged files that an earlier version of the readers read (once)")
    if workers > 1 and to_load:
        tell(f"Reading and embedding {len(to_load)} new or changed files with {workers} workers")
        report.generation = writer.write(set(report.removed), [], np.zeros((0, embedder.dimension), np.float32))
        ingest_in_parallel(replace(settings, store=writer.store_for_workers(settings.store)),
                           [(doc_id, files[doc_id]) for doc_id in to_load], set(indexed), workers, report, progress)
    else:
        tell(f"Reading {len(to_load)} new or changed files")
        add = load_changed([(doc_id, files[doc_id]) for doc_id in to_load], set(indexed), settings, embedder, report)
        if report.rebuilt or add or report.removed or writer.needs_repair():
            # the unchanged passages of a file read again, embedded as this release embeds them
            known = writer.embedded({doc_id for doc_id in report.updated if embedded_as_now(indexed[doc_id])})
            report.generation, report.chunks_embedded = embed_and_write(writer, embedder, add, set(report.removed),
                                                                        progress, tell, known)
    writer.save_report(report)


PRUNE_SHARE, PRUNE_FLOOR = 0.5, 20  # more than this share of an index of at least this many documents


def check_removals(removed: int, indexed: int, corpus_dir: Path) -> None:
    """QAError when a sync would remove every document of an index of two or more, or more than PRUNE_SHARE of
    one of PRUNE_FLOOR or more, unless asked with --prune: a share that failed to mount, or --corpus pointed at
    the wrong folder, looks like files removed, and their vectors would be lost to a long re-embedding."""
    if (indexed > 1 and removed == indexed) or (indexed >= PRUNE_FLOOR and removed > PRUNE_SHARE * indexed):
        raise QAError(f"this build would remove {removed:,} of the index's {indexed:,} documents, whose files are not "
                      f"in {corpus_dir} (a share that failed to mount, or the wrong --corpus?); the index is "
                      "unchanged. If they were removed on purpose, run `python -m qa build --prune`")


def load_changed(files: Sequence[tuple[str, Path]], indexed: set[str], settings: Settings, embedder: Embedder,
                 report: SyncReport) -> list[tuple[Document, list[Chunk]]]:
    """Load and chunk these files, noting each as added, updated (`indexed` before) or failed in `report`."""
    add: list[tuple[Document, list[Chunk]]] = []
    for doc_id, path in files:
        try:
            with reader_warnings() as said:
                doc = load_document(path, doc_id=doc_id, max_bytes=settings.max_file_bytes)
        except LoadError as error:
            # a changed file that no longer loads keeps its last good version in the index
            logger.warning("skipped %s", error)
            report.failed.append((doc_id, error.reason))
            continue
        report.warned += [(doc_id, message.removeprefix(f"{path}: ")) for message in said]
        add.append((doc, chunk(doc, settings, embedder)))
        (report.updated if doc_id in indexed else report.added).append(doc_id)
    return add


@contextmanager
def reader_warnings() -> Iterator[list[str]]:
    """The warnings the readers log while the block runs (an encoding guessed, a date left out), collected for
    the sync report: the page shows them to whoever added the file, where a log line would go unseen."""
    said: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: said.append(record.getMessage())
    loading.logger.addHandler(handler)
    try:
        yield said
    finally:
        loading.logger.removeHandler(handler)


def ingest_in_parallel(settings: Settings, files: Sequence[tuple[str, Path]], indexed: set[str], workers: int,
                       report: SyncReport, progress: Progress | None = None) -> None:
    """Load, chunk, embed and write the files in `workers` processes, each with its own model and connection.

    For a database store only: each share of `writer.batch_documents` files is one transaction written by the
    worker that embedded it, so the workers never wait for each other to encode (the caller holds the build
    lock for all of them). Each worker gets an equal part of the cores. The same processes could run on several
    machines against one database; here they share this one.
    """
    shares = [list(share) for share in batches(files, settings.batch_documents)]
    threads = max(1, (os.cpu_count() or 1) // workers)
    done = 0
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_end_with_build,
                             initargs=(os.getpid(),)) as pool:
        jobs = [pool.submit(_ingest_share, (settings, threads, share, indexed)) for share in shares]
        for job in as_completed(jobs):
            try:
                part = job.result()
            except BrokenProcessPool:
                raise QAError("an ingest worker process stopped before finishing its files; the batches already "
                              "written stay, run the build again") from None
            report.added += part.added
            report.updated += part.updated
            report.failed += part.failed
            report.warned += part.warned
            report.chunks_embedded += part.chunks_embedded
            done += len(part.added) + len(part.updated) + len(part.failed)
            if progress:
                progress(done, len(files))


_worker: dict = {}  # in an ingest worker process: its model and database writer, made by its first share


def _end_with_build(build: int) -> None:
    """In a worker, from its start: end this process within a second once the build process that started it is
    gone (killed), so no worker goes on writing after the build's lock is released; its open transaction is
    rolled back with its connection."""
    def watch() -> None:
        while os.getppid() == build:
            time.sleep(1)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="end-with-build").start()


def _ingest_share(job: tuple[Settings, int, list[tuple[str, Path]], set[str]]) -> SyncReport:
    """In a worker: load, chunk and embed one share of files and write it in one transaction; what it did.

    The model and the connection are opened on the first share, so a failure there (a model that cannot load, a
    database that refuses) reaches the build as that share's error.
    """
    settings, threads, files, indexed = job
    if not _worker:
        os.environ["QA_THREADS"] = str(threads)
        _worker.update(embedder=Embedder.from_settings(settings), writer=open_writer(settings))
    part = SyncReport()
    add = load_changed(files, indexed, settings, _worker["embedder"], part)
    if add:
        writer = _worker["writer"]
        _, part.chunks_embedded = embed_and_write(writer, _worker["embedder"], add, set(), stage=logger.debug,
                                                  known=writer.embedded(set(part.updated)))
    return part


def manifest_for(settings: Settings, embedder: Embedder) -> Manifest:
    """What an index built with these settings and this model records."""
    return Manifest(model=embedder.model_id, dimension=embedder.dimension, chunk_tokens=settings.chunk_tokens,
                    overlap_tokens=settings.overlap_tokens, faiss_factory=settings.faiss_factory)


def chunk(doc: Document, settings: Settings, embedder: Embedder) -> list[Chunk]:
    """The document's chunks with the configured size and overlap, counted in the model's word pieces."""
    return chunk_document(doc, embedder.count_tokens, settings.chunk_tokens, settings.overlap_tokens,
                          embedder.split_long)


def embed_and_write(
    writer: Writer,
    embedder: Embedder,
    add: list[tuple[Document, list[Chunk]]],
    remove: set[str],
    progress: Progress | None = None,
    stage: Stage | None = None,
    known: Mapping[str, np.ndarray] | None = None,
) -> tuple[str, int]:
    """Drop `remove`, then embed and write `add`, in the writer's batches (each one atomic); returns the last
    name and how many passages were embedded: a passage as the embedder reads it (`embedding_text`) that is in
    `known` (`Writer.embedded`) keeps that vector. After a release whose readers changed, every file is read
    again, and most passages come out as they were: 6,897 passages of 2,225 BBC articles were all embedded
    again (64 s), none of them changed.

    Removed documents go with the first batch; a changed document is replaced in the batch that adds it, so
    a reader sees its old version or its new one, never neither.
    """
    tell = stage or (lambda message: logger.info(message))
    known = known or {}
    total = sum(embedding_text(doc.title, piece.text) not in known for doc, chunks in add for piece in chunks)
    tell(f"Embedding {total} passages")
    done, name = 0, ""
    for number, batch in enumerate(batches(add, writer.batch_documents) if add else [[]]):
        texts = [embedding_text(doc.title, piece.text) for doc, chunks in batch for piece in chunks]
        new = [text for text in dict.fromkeys(texts) if text not in known]
        encoded = dict(zip(new, embedder.encode(new, progress=_offset(progress, done, total)) if new else []))
        vectors = (np.array([known[text] if text in known else encoded[text] for text in texts], dtype=np.float32)
                   .reshape(len(texts), embedder.dimension))
        done += len(new)
        dropped = (remove if number == 0 else set()) | {doc.doc_id for doc, _ in batch}
        name = writer.write(dropped, list(batch), vectors)
    tell("Index written")
    return name, done


def _offset(progress: Progress | None, done: int, total: int) -> Progress | None:
    """A progress callback for one batch that reports the whole sync's progress."""
    if progress is None:
        return None
    return lambda batch_done, _batch_total: progress(done + batch_done, total)


def build_from_documents(
    settings: Settings, embedder: Embedder, documents: Sequence[Document], progress: Progress | None = None
) -> str:
    """A fresh index in the store `settings` points at, from documents already in memory; returns its name.

    For benchmark sets (see qa.evaluation): the same chunk, embed and write path as `sync`, without a
    corpus folder, replacing whatever index was there.
    """
    if settings.chunk_tokens > embedder.max_tokens:
        raise QAError(f"chunk_tokens {settings.chunk_tokens} exceeds the model's window of {embedder.max_tokens}")
    writer = open_writer(settings)
    try:
        with writer.lock():
            writer.prepare(manifest_for(settings, embedder), rebuild=True)
            return embed_and_write(writer, embedder, [(doc, chunk(doc, settings, embedder)) for doc in documents],
                                   set(), progress=progress)[0]
    finally:
        writer.close()
