"""The trained answer scorer: how likely a sentence is to state the answer to a question.

A cross-encoder: the question and one sentence go through MiniLM together ([CLS] question [SEP] sentence
[SEP]), so every word of one attends to every word of the other, and a linear head on the mean of the output
vectors gives one logit. Similarity features could not tell a sentence that *restates* the question (the lead
naming the same people) from one that *answers* it (the one with the figure); this model is trained on that
difference (`scripts/train_answer_model.py`: the recipe, seed, held-out articles and figures are in
`models/answer-scorer.json`).

It ships as an int8 ONNX file in `qa/models/` with its own copy of the tokenizer, and runs with onnxruntime and
`tokenizers` only: nothing is downloaded, torch is not imported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from qa.errors import QAError

MODEL_DIR = Path(__file__).parent / "models"
MODEL_FILE, CARD_FILE, TOKENIZER_FILE = "answer-scorer-int8.onnx", "answer-scorer.json", "answer-scorer-tokenizer.json"
# Question and sentence together, in word pieces with the three special tokens; longer pairs are cut from the
# longer side. 128 holds 99% of SQuAD's (question, sentence) pairs whole.
MAX_PAIR_TOKENS = 128


def pair_tokenizer(path: Path) -> Tokenizer:
    """The tokenizer at `path`, encoding (question, sentence) pairs cut at MAX_PAIR_TOKENS, unpadded.

    Training and scoring both encode through this, so the model sees pairs exactly as it was trained on them.
    """
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_PAIR_TOKENS)
    return tokenizer


def in_context(sentence: str, title: str) -> str:
    """The sentence as the model reads it: after its document's title ("GE profits rise | Its net profit was $5bn"),
    so a sentence that never names its subject can still be told to be about the one asked for."""
    return f"{title} | {sentence}" if title.strip() else sentence


def read_card(folder: Path = MODEL_DIR) -> dict:
    """The model card: training recipe, seed, held-out articles, the figures reached, the calibrated thresholds."""
    return json.loads((folder / CARD_FILE).read_text())


class AnswerModel:
    """Scores (question, sentence) pairs with the shipped int8 cross-encoder; higher means more likely an answer."""

    def __init__(self, folder: Path = MODEL_DIR) -> None:
        from qa.onnx_backend import open_session

        try:
            self.tokenizer = pair_tokenizer(folder / TOKENIZER_FILE)
            self.session = open_session(folder / MODEL_FILE)
        except Exception as error:  # a missing or damaged file: say which, never a traceback from deep inside
            raise QAError(f"cannot load the answer model in {folder} ({error}); reinstall or re-run "
                          "scripts/train_answer_model.py") from None
        self.inputs = [node.name for node in self.session.get_inputs()]

    @classmethod
    @cache
    def shipped(cls) -> AnswerModel:
        """The model in `qa/models`, loaded once per process."""
        return cls()

    def probabilities(self, question: str, sentences: Sequence[str], title: str = "") -> np.ndarray:
        """The probability of each sentence (of the document titled `title`) answering the question (float32).

        One pair per run: dynamic int8 quantization scales activations per run, so in a batch a pair's score
        would depend on its batch-mates.
        """
        encodings = self.tokenizer.encode_batch([(question, in_context(sentence, title)) for sentence in sentences])
        logits = np.array([self._run(encoding) for encoding in encodings], dtype=np.float32)
        return 1 / (1 + np.exp(-logits))

    def _run(self, encoding: Any) -> float:
        feed = {
            "input_ids": np.array([encoding.ids], dtype=np.int64),
            "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
        }
        return float(self.session.run(None, {name: feed[name] for name in self.inputs})[0].reshape(-1)[0])
