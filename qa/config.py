"""Settings: where the corpus and index live, which model, how to chunk. Defaults work offline."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from qa.errors import QAError

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")  # the one list: loaders, corpus scan, uploads
# Documents of types not read, which a build names so a reporter knows they are not searched (an e-mail, an old Word
# file). Images, scripts and the assets of a saved page are no documents: those stay unsaid.
UNREAD_DOCUMENT_SUFFIXES = (".doc", ".rtf", ".odt", ".eml", ".msg", ".epub", ".pages", ".ppt", ".pptx", ".xls",
                            ".xlsx", ".mht", ".mhtml", ".webarchive")
# "onnx" (int8 onnxruntime, 3-5x the encode rate of "torch" here, same SciFact nDCG@10) or "torch"; see qa.embedding.
DEFAULT_BACKEND = "onnx"


@dataclass(frozen=True)
class Settings:
    """Everything a build or a search needs to know; override with env vars or CLI flags.

    `model` is a local path or a model name; "" means the bundled all-MiniLM-L6-v2.
    `chunk_tokens` counts word pieces of the model's tokenizer (its window is 256 with [CLS]/[SEP]).
    `faiss_factory` is a FAISS index-factory string: "Flat" (exact) or e.g. "HNSW32".
    `faiss_search` sets search-time parameters of an approximate index, e.g. "efSearch=128" or "nprobe=16".
    `backend` computes the embeddings: "torch" or "onnx" (int8, recorded in the index's model id).
    `store` is a postgresql:// URL to keep the index in that database (qa.pgstore); "" means `index_dir`.
    `batch_documents` is how many documents a Postgres sync writes per transaction.
    """

    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    store: str = ""
    batch_documents: int = 64
    model: str = ""
    chunk_tokens: int = 200
    overlap_tokens: int = 40
    faiss_factory: str = "Flat"
    faiss_search: str = ""
    backend: str = DEFAULT_BACKEND
    max_file_bytes: int = 20_000_000
    max_question_chars: int = 2_000
    k: int = 5

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then `QA_CORPUS_DIR`, `QA_INDEX_DIR`, `QA_STORE`, `QA_MODEL`, `QA_BACKEND`, `QA_BATCH_DOCUMENTS`,
        then explicit overrides.

        An override of None or "" is ignored, as is an empty variable (`QA_CORPUS_DIR=` does not mean here).
        """
        settings = cls()
        env = {
            "corpus_dir": os.environ.get("QA_CORPUS_DIR"),
            "index_dir": os.environ.get("QA_INDEX_DIR"),
            "store": os.environ.get("QA_STORE"),
            "model": os.environ.get("QA_MODEL"),
            "backend": os.environ.get("QA_BACKEND"),
            "batch_documents": os.environ.get("QA_BATCH_DOCUMENTS"),
        }
        values = {key: value for key, value in env.items() if value}
        values.update({key: value for key, value in overrides.items() if value not in (None, "")})
        for key in ("corpus_dir", "index_dir"):
            if key in values:
                values[key] = Path(values[key])
        if isinstance(values.get("batch_documents"), str):
            values["batch_documents"] = whole_number(values["batch_documents"], "QA_BATCH_DOCUMENTS")
        return replace(settings, **values)


def whole_number(text: str, name: str) -> int:
    """`text` as a whole number of at least 1; QAError naming `name` otherwise."""
    if not text.strip().isdigit() or int(text) < 1:
        raise QAError(f"{name} must be a whole number of 1 or more, not {text!r}")
    return int(text)
