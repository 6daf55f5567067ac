"""Is a generation of the embedded store intact? File sizes and checksums recorded at build time, checked later.

A build records, in the manifest, the size and sha256 of every file it wrote. Opening a generation compares the
sizes (one `stat` a file: a truncated, missing or replaced file is caught at once); `python -m qa check` and a
sync that reuses a generation's vectors also compare the checksums (a disk error or a stray edit in the middle
of a file). The counts that must agree (chunks in SQLite, ids, vectors, FAISS, BM25) are checked by the store.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

FileRecords = dict[str, dict[str, object]]  # relative path -> {"size": bytes, "sha256": hex digest}


def sha256(path: Path) -> str:
    """sha256 of the file's bytes, read in blocks (bounded memory for large files)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_records(folder: Path, skip: tuple[str, ...] = ("manifest.json",)) -> FileRecords:
    """Size and checksum of every file under `folder` (but `skip`), by path relative to it."""
    return {path.relative_to(folder).as_posix(): {"size": path.stat().st_size, "sha256": sha256(path)}
            for path in sorted(folder.rglob("*")) if path.is_file() and path.name not in skip}


def file_problems(folder: Path, records: FileRecords, checksums: bool = False) -> list[str]:
    """One line per recorded file that is missing, not a file, of another size or (with `checksums`) content."""
    problems = []
    for name, record in records.items():
        path = folder / name
        try:
            if not path.is_file():
                problems.append(f"{name} is {'not a file' if path.exists() else 'missing'}")
            elif path.stat().st_size != record["size"]:
                problems.append(f"{name} has {path.stat().st_size:,} bytes, not the {record['size']:,} it was written with")
            elif checksums and sha256(path) != record["sha256"]:
                problems.append(f"{name} has changed since it was written (checksum differs)")
        except OSError as error:
            problems.append(f"{name} cannot be read ({error.strerror or error})")
    return problems
