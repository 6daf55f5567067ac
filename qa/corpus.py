"""Adding files to, removing them from and restoring them to the corpus folder, safely (no path traversal, no
overwrite), and finding documents by name."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from qa.config import SUPPORTED_SUFFIXES, UNREAD_DOCUMENT_SUFFIXES
from qa.errors import QAError
from qa.records import NOT_READ
from qa.storage import DocumentRow
from qa.text import normal_form

REMOVED_DIR = ".removed"  # hidden, so builds skip it; removed files are kept here, not deleted


NAME_BYTES = 160  # of a file name's stem: file systems allow 255 bytes, less what `remove_file` and `_unused` add


def safe_name(name: str) -> str:
    """A plain file name from any given name: no folders, no leading dots, only safe characters."""
    base = Path(normal_form(name).replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^\w.-]+", "-", stem).strip(".-_") or "document"
    while len(stem.encode()) > NAME_BYTES:  # by bytes: 120 Arabic letters are 240, and removal adds a prefix
        stem = stem[:-1]
    return f"{stem}{suffix}"


def corpus_files(corpus_dir: Path, suffixes: Sequence[str] = SUPPORTED_SUFFIXES) -> dict[str, Path]:
    """Files of the given types (by default those read) under the corpus folder by doc id (relative posix path),
    hidden files skipped."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise QAError(f"corpus folder {corpus_dir} " + ("is a file" if corpus_dir.exists() else "does not exist"))
    files = {}
    seen: set[str] = set()  # folders by real path: a link back up the tree is walked once, not forever
    for folder, subfolders, names in os.walk(corpus_dir, followlinks=True):  # a linked folder's files count too
        real = os.path.realpath(folder)
        if real in seen:
            subfolders.clear()
            continue
        seen.add(real)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        for name in names:
            path = Path(folder) / name
            # a broken link is kept, so the build reports it by name rather than skipping it unsaid
            if not name.startswith(".") and path.suffix.lower() in suffixes:
                files[path.relative_to(corpus_dir).as_posix()] = path
    return dict(sorted(files.items()))


def unread_documents(folder: Path) -> list[tuple[str, str]]:
    """The documents under `folder` of types not read (`UNREAD_DOCUMENT_SUFFIXES`: an e-mail, an RTF file), each
    with why it is not searched; images and a saved page's assets are left out."""
    return [(name, f"{NOT_READ}{path.suffix.lower()} is not a type read; save it as "
                   f"{', '.join(SUPPORTED_SUFFIXES)} to search it")
            for name, path in corpus_files(folder, UNREAD_DOCUMENT_SUFFIXES).items()]


def add_bytes(name: str, data: bytes, corpus_dir: Path) -> Path:
    """Store `data` in the corpus under a safe, unused version of `name`; return the new path."""
    target = Path(corpus_dir) / safe_name(check_type(name))
    Path(corpus_dir).mkdir(parents=True, exist_ok=True)
    target = _unused(target)
    tmp = target.with_name(f".{target.name}.part")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def check_type(name: str) -> str:
    """`name`, if it is of a type the loaders read; QAError naming the supported types otherwise."""
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise QAError(f"{name} was not added: files of this type cannot be read; "
                      f"the supported types are {', '.join(SUPPORTED_SUFFIXES)}")
    return name


def add_paths(paths: list[Path], corpus_dir: Path) -> list[Path]:
    """Copy files, or the supported files of folders (hidden ones skipped, as a build skips them), into the
    corpus; return the new paths. Every path is checked before any file is copied, so a mistyped or unreadable
    one leaves the corpus as it was."""
    files, problems = [], []
    for path in paths:  # every problem is named at once, not one per try
        try:
            files += files_to_add(Path(path), Path(corpus_dir))
        except QAError as error:
            problems.append(str(error))
    if problems:
        raise QAError(" | ".join(problems))
    return [add_bytes(file.name, file.read_bytes(), corpus_dir) for file in files]


def files_to_add(path: Path, corpus_dir: Path) -> list[Path]:
    """The files `add_paths` copies for `path`; QAError if there are none, or if they are in the corpus already
    (adding the corpus folder would copy every file, and its `.removed/` ones, a second time)."""
    where = path.resolve()
    if where == corpus_dir.resolve() or corpus_dir.resolve() in where.parents:
        raise QAError(f"{path} is in the corpus folder already; run `python -m qa build` to index what is there")
    if path.is_dir():
        files = list(corpus_files(path).values())
        if not files:
            raise QAError(f"{path} holds no file of the types read ({', '.join(SUPPORTED_SUFFIXES)})")
    elif path.exists():
        files = [Path(check_type(str(path)))]
    else:
        raise QAError(f"{path}: no such file or folder")
    for file in files:  # a pipe or a device would be read for ever
        if not file.is_file():
            raise QAError(f"{file} is not a regular file (a pipe, socket, device or broken link); nothing was added")
    return files


def remove_file(doc_id: str, corpus_dir: Path) -> Path:
    """Move a corpus file into the hidden `.removed/` folder (kept, not deleted); return where it went."""
    corpus_dir = Path(corpus_dir).resolve()
    source = (corpus_dir / doc_id).resolve()
    if corpus_dir not in source.parents or not source.is_file():
        raise QAError(f"{doc_id}: no such document in {corpus_dir}")
    (corpus_dir / REMOVED_DIR).mkdir(exist_ok=True)
    # a name near the file system's 255 bytes (one copied in by hand) is kept shortened: the undo restores `doc_id`
    target = _unused(corpus_dir / REMOVED_DIR / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe_name(source.name)}")
    shutil.move(source, target)
    return target


def restore_file(kept: Path, doc_id: str, corpus_dir: Path) -> Path:
    """Put a file `remove_file` kept in `.removed/` back at `doc_id` in the corpus (or an unused name beside it,
    if a new file took that name since); return where it went. This is the page's *undo* of a removal."""
    corpus_dir = Path(corpus_dir).resolve()
    kept = Path(kept).resolve()
    if kept.parent != corpus_dir / REMOVED_DIR or not kept.is_file():
        raise QAError(f"{kept.name}: no such removed file in {corpus_dir / REMOVED_DIR}")
    target = (corpus_dir / doc_id).resolve()
    if corpus_dir not in target.parents:
        raise QAError(f"{doc_id}: not a place inside {corpus_dir}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target = _unused(target)
    shutil.move(kept, target)
    return target


def find_documents(documents: Sequence[DocumentRow], query: str) -> list[DocumentRow]:
    """The documents whose title, file name or publisher holds every word of `query` (any case); all for ""."""
    return [doc for doc in documents if matches(query, f"{doc.title} {doc.doc_id} {doc.publisher}")]


def matches(query: str, text: str) -> bool:
    """Whether `text` holds every word of `query`, in any case and Unicode form (any text matches "")."""
    text = normal_form(text).casefold()
    return all(word in text for word in normal_form(query).casefold().split())


def _unused(target: Path) -> Path:
    """`target`, or `name-2.ext`, `name-3.ext`... whichever does not exist yet."""
    candidate, n = target, 1
    while candidate.exists():
        n += 1
        candidate = target.with_name(f"{target.stem}-{n}{target.suffix}")
    return candidate
