"""Errors the library raises: one base class, so callers can catch `QAError` and show its message."""

from __future__ import annotations


class QAError(Exception):
    """Base class: the message is meant for a person, one line, naming the file or problem."""


class LoadError(QAError):
    """A corpus file could not be read; the message names the file and the reason."""

    def __init__(self, path: object, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


class IndexNotFoundError(QAError):
    """No index has been built in the given folder yet."""


class IndexMismatchError(QAError):
    """The index was built with another model, chunker or format; it must be rebuilt."""


class IndexCorruptError(QAError):
    """The index files are damaged or unreadable; it must be rebuilt."""


class StoreUnavailableError(QAError):
    """The database holding the index cannot be reached (down, restarting, or the connection was dropped)."""


class QuestionError(QAError):
    """The question cannot be searched (empty, or too long)."""


class BuildLockedError(QAError):
    """Another build holds the index lock."""
