"""A reporter's question history, kept across reloads: each question with its answer, what each source says,
its timeline and how it was searched, saved in a SQLite file beside the index.

Questions are kept per *notebook* (a name, e.g. one per story; the page takes it from `?notebook=` in its
address), so a reload, a new tab or a restarted server shows the same history, and two stories do not mix.
What is saved is what was found at the time, so the history stays a record even after the archive changes.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from qa.records import Answer
from qa.sources import SourceLine
from qa.timeline import Timeline

logger = logging.getLogger(__name__)

DEFAULT_NOTEBOOK = "default"
MAX_NOTEBOOK_CHARS = 100


@dataclass(frozen=True)
class Turn:
    """One question asked: its answer, one line per source, the documents by month, and the search in words
    (mode, passages, filters: `search`); `filtered` says whether filters narrowed it."""

    answer: Answer
    sources: tuple[SourceLine, ...] = ()
    timeline: Timeline = Timeline()
    search: str = ""
    filtered: bool = False

    def to_dict(self) -> dict:
        return {"answer": self.answer.to_dict(), "sources": [line.to_dict() for line in self.sources],
                "timeline": self.timeline.to_dict(), "search": self.search, "filtered": self.filtered}

    @classmethod
    def from_dict(cls, data: dict) -> Turn:
        return cls(Answer.from_dict(data["answer"]), tuple(SourceLine.from_dict(line) for line in data["sources"]),
                   Timeline.from_dict(data["timeline"]), data["search"], bool(data["filtered"]))


def notebook_name(text: str | None) -> str:
    """The notebook a name given by a reader means: stripped, at most MAX_NOTEBOOK_CHARS, DEFAULT_NOTEBOOK if blank."""
    return " ".join((text or "").split())[:MAX_NOTEBOOK_CHARS] or DEFAULT_NOTEBOOK


class History:
    """The saved turns of every notebook, in one SQLite file (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def beside(cls, index_dir: Path) -> History:
        """The history of the index in `index_dir`: `<index_dir>-history.sqlite` next to it (not inside it, where
        only the index's own generations live)."""
        index_dir = Path(index_dir)
        return cls(index_dir.with_name(f"{index_dir.name}-history.sqlite"))

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=10)
        connection.execute("CREATE TABLE IF NOT EXISTS turns (id INTEGER PRIMARY KEY, notebook TEXT NOT NULL, "
                           "asked_at TEXT NOT NULL DEFAULT (datetime('now')), turn TEXT NOT NULL)")
        return connection

    def add(self, notebook: str, turn: Turn) -> int:
        """Save a turn at the end of the notebook; return its id (`saved`), by which a page that shares the
        notebook with others tells its own question from theirs."""
        with closing(self._connect()) as connection, connection:
            return connection.execute("INSERT INTO turns (notebook, turn) VALUES (?, ?)",
                                      (notebook, json.dumps(turn.to_dict()))).lastrowid

    def turns(self, notebook: str) -> list[Turn]:
        """The notebook's turns, oldest first (`saved` without their ids)."""
        return [turn for _, turn in self.saved(notebook)]

    def saved(self, notebook: str) -> list[tuple[int, Turn]]:
        """The notebook's turns with their ids, oldest first; a saved turn that cannot be read back is logged and
        left out."""
        with closing(self._connect()) as connection:
            rows = connection.execute("SELECT id, turn FROM turns WHERE notebook = ? ORDER BY id",
                                      (notebook,)).fetchall()
        turns = []
        for row_id, text in rows:
            try:
                turns.append((row_id, Turn.from_dict(json.loads(text))))
            except (ValueError, KeyError, TypeError):
                logger.warning("history %s: turn %d of notebook %r cannot be read; left out", self.path, row_id,
                               notebook)
        return turns

    def clear(self, notebook: str, up_to: int | None = None) -> int:
        """Forget the notebook's turns (those saved up to id `up_to`, when given: a colleague's question asked
        after the reader was asked to confirm is kept); return how many were forgotten."""
        with closing(self._connect()) as connection, connection:
            return connection.execute("DELETE FROM turns WHERE notebook = ? AND id <= ?",
                                      (notebook, up_to if up_to is not None else 2**63 - 1)).rowcount
