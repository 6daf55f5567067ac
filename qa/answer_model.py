"""The trained answer scorer: how likely a sentence is to state the answer to a question.

A cross-encoder: the question and one sentence go through MiniLM together ([CLS] question [SEP] sentence
[SEP]), so every word of one attends to every word of the other, and a linear head on the mean of the output
vectors gives one logit. Similarity features could not tell a sentence that *restates* the question (the lead
naming the same people) from one that *answers* it (the one with the figure); this model is trained on that
difference (`scripts/train_answer_model.py`: the recipe, seed, held-out articles and figures are in
`models/answer-scorer.json`).

Inside the answer sentence it also marks the answer phrase ("three drones" in "...carried out by three
drones..."): a linear head over the same run's word-piece vectors scores where the answer starts and ends
(`scripts/train_answer_phrase.py`, `models/answer-phrase.json`), and the phrase is given only when the head is
sure of it (`AnswerModel.phrase`).

It ships as an int8 ONNX file in `qa/models/` with its own copy of the tokenizer, and runs with onnxruntime and
`tokenizers` only: nothing is downloaded, torch is not imported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from qa.errors import QAError
from qa.onnx_backend import open_session, run_each

MODEL_DIR = Path(__file__).parent / "models"
MODEL_FILE, CARD_FILE, TOKENIZER_FILE = "answer-scorer-int8.onnx", "answer-scorer.json", "answer-scorer-tokenizer.json"
PHRASE_FILE = "answer-phrase.json"
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


@dataclass(frozen=True)
class PhraseHead:
    """Scores each word piece as the answer phrase's start and end: `vectors @ weight + bias`; a phrase of at most
    `max_pieces` pieces is given only when its probability (start times end) reaches `threshold`."""

    weight: np.ndarray  # (hidden size, 2)
    bias: np.ndarray  # (2,)
    threshold: float
    max_pieces: int

    @classmethod
    def read(cls, path: Path) -> PhraseHead:
        data = json.loads(path.read_text())
        return cls(np.array(data["weight"], dtype=np.float32), np.array(data["bias"], dtype=np.float32),
                   float(data["threshold"]), int(data["max_pieces"]))


def best_span(scores: np.ndarray, allowed: np.ndarray, max_pieces: int) -> tuple[int, int, float]:
    """The (first, last) piece of the best-scored span among the `allowed` pieces, at most `max_pieces` long, and
    its probability: softmax of the start scores (column 0) times softmax of the end scores (column 1)."""
    places = np.flatnonzero(allowed)
    starts, ends = scores[places, 0], scores[places, 1]
    pair = starts[:, None] + ends[None, :]
    gap = places[None, :] - places[:, None]
    pair[(gap < 0) | (gap >= max_pieces)] = -np.inf
    first, last = np.unravel_index(int(np.argmax(pair)), pair.shape)
    start_p, end_p = np.exp(starts - starts.max()), np.exp(ends - ends.max())
    return int(places[first]), int(places[last]), float(start_p[first] / start_p.sum() * end_p[last] / end_p.sum())


@dataclass(frozen=True)
class Pieces:
    """One (question, sentence) pair's word pieces as the model ran them: their character offsets in the sentence
    as read (`in_context`: `shift` characters of title come first), their output vectors, and which are the
    sentence's own (not the question's, the title's or a marker's)."""

    offsets: list[tuple[int, int]]
    vectors: np.ndarray
    allowed: np.ndarray
    shift: int


def locate_phrase(head: PhraseHead, pieces: Pieces, sentence: str) -> tuple[tuple[int, int], float] | None:
    """The best phrase of the sentence under `head`, as character offsets in `sentence` (whole words), with its
    probability; None when no piece of the sentence is inside the model's window."""
    if not pieces.allowed.any():
        return None
    first, last, probability = best_span(pieces.vectors @ head.weight + head.bias, pieces.allowed, head.max_pieces)
    start, end = pieces.offsets[first][0] - pieces.shift, pieces.offsets[last][1] - pieces.shift
    return whole_words(sentence, start, end), probability


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """The span widened to whole words: a phrase never starts or ends inside a word ("400,000", not "00,000")."""
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    while end < len(text) and text[end].isalnum():
        end += 1
    return start, end


def read_card(folder: Path = MODEL_DIR) -> dict:
    """The model card: training recipe, seed, held-out articles, the figures reached, the calibrated thresholds."""
    return json.loads((folder / CARD_FILE).read_text())


class AnswerModel:
    """Scores (question, sentence) pairs with the shipped int8 cross-encoder; higher means more likely an answer."""

    def __init__(self, folder: Path = MODEL_DIR) -> None:
        try:
            self.tokenizer = pair_tokenizer(folder / TOKENIZER_FILE)
            self.session = open_session(folder / MODEL_FILE)
            # made for this model by scripts/train_answer_phrase.py; without it no phrase is marked
            self.phrase_head = PhraseHead.read(folder / PHRASE_FILE) if (folder / PHRASE_FILE).is_file() else None
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
        logits = np.array(run_each(lambda encoding: float(self._run(encoding, "logit").reshape(-1)[0]), encodings),
                          dtype=np.float32)
        return 1 / (1 + np.exp(-logits))

    def phrase(self, question: str, sentence: str, title: str = "") -> tuple[int, int] | None:
        """Where in the sentence the answer phrase stands (character offsets, whole words), or None when the
        phrase head is less sure of it than its calibrated threshold (`PhraseHead`)."""
        if self.phrase_head is None:
            return None
        found = locate_phrase(self.phrase_head, self.pieces(question, sentence, title), sentence)
        return found[0] if found and found[1] >= self.phrase_head.threshold else None

    def pieces(self, question: str, sentence: str, title: str = "") -> Pieces:
        """The pair's encoding and word-piece vectors, from one model run, with which pieces are the sentence's."""
        encoding = self.tokenizer.encode(question, in_context(sentence, title))
        shift = len(in_context(sentence, title)) - len(sentence)
        allowed = np.array([side == 1 and start >= shift and end > start
                            for side, (start, end) in zip(encoding.sequence_ids, encoding.offsets)])
        return Pieces(encoding.offsets, self._run(encoding, "tokens")[0], allowed, shift)

    def _run(self, encoding: Any, output: str) -> np.ndarray:
        """The model's `output` ("logit", or "tokens": the word-piece vectors the logit is pooled from) for one pair."""
        feed = {
            "input_ids": np.array([encoding.ids], dtype=np.int64),
            "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
            "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
        }
        return self.session.run([output], {name: feed[name] for name in self.inputs})[0]
