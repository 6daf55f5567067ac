"""Retrieval-based question answering over a folder of news articles and reports."""

from qa.config import Settings
from qa.embedding import Embedder
from qa.errors import (BuildLockedError, IndexCorruptError, IndexMismatchError, IndexNotFoundError, LoadError, QAError,
                       QuestionError, StoreUnavailableError)
from qa.indexer import SyncReport, sync
from qa.loading import load_document
from qa.records import Answer, Chunk, Document, Hit, Sentence
from qa.retrieval import Filters, Retriever

__all__ = [
    "Answer", "BuildLockedError", "Chunk", "Document", "Embedder", "Filters", "Hit", "IndexCorruptError",
    "IndexMismatchError", "IndexNotFoundError", "LoadError", "QAError", "QuestionError", "Retriever", "Sentence",
    "Settings", "StoreUnavailableError", "SyncReport", "load_document", "sync",
]
