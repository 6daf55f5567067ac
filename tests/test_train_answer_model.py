"""The answer-span loss of scripts/train_answer_model.py, on the shipped tokenizer: where in a right sentence the
answer stands (after its document's title, never in it), and a loss that rewards pointing at it."""

from __future__ import annotations

import torch

from qa.answer_model import MODEL_DIR, TOKENIZER_FILE, in_context, pair_tokenizer
from scripts.train_answer_model import span_loss, span_targets

TOKENIZER = pair_tokenizer(MODEL_DIR / TOKENIZER_FILE)
QUESTION = "How many drones attacked the residence?"


def pieces(pair: tuple[str, str], target: torch.Tensor) -> str:
    """The text of the word pieces from the target's first to its last."""
    encoding = TOKENIZER.encode(*pair)
    start, end = encoding.offsets[int(target[0])][0], encoding.offsets[int(target[1])][1]
    return pair[1][start:end]


def test_the_target_is_the_answer_inside_the_sentence_after_the_title() -> None:
    pair = (QUESTION, in_context("It says three drones carried explosives; three were seen.", "Three drones hit Baghdad"))
    target = span_targets(TOKENIZER, [pair], [("three", "three drones")])[0]
    assert pieces(pair, target) == "three drones"  # the longest answer string, in the sentence, not the title


def test_a_sentence_without_the_answer_or_a_wrong_one_has_no_target() -> None:
    pairs = [(QUESTION, in_context("Gunfire sounded after the strike.", "Three drones hit Baghdad")),
             (QUESTION, "It was carried out by three drones.")]
    targets = span_targets(TOKENIZER, pairs, [("three",), ()])
    assert targets.tolist() == [[-1, -1], [-1, -1]]


def test_an_answer_cut_off_by_the_pair_window_has_no_target() -> None:
    pair = (QUESTION, "The strike was seen " + "far away " * 200 + "by three drones.")
    assert span_targets(TOKENIZER, [pair], [("three drones",)]).tolist() == [[-1, -1]]


def test_the_span_loss_rewards_pointing_at_the_answer_and_is_zero_without_targets() -> None:
    pair = (QUESTION, "It was carried out by three drones.")
    encoding = TOKENIZER.encode(*pair)
    types, mask = torch.tensor([encoding.type_ids]), torch.ones(1, len(encoding.ids), dtype=torch.long)
    target = span_targets(TOKENIZER, [pair], [("three drones",)])
    right, wrong = torch.zeros(1, len(encoding.ids), 2), torch.zeros(1, len(encoding.ids), 2)
    right[0, target[0, 0], 0] = right[0, target[0, 1], 1] = 5.0
    wrong[0, 1, 0] = wrong[0, 1, 1] = 5.0  # a piece of the question: never a place for the answer
    assert span_loss(right, types, mask, target) < span_loss(torch.zeros_like(right), types, mask, target)
    assert span_loss(wrong, types, mask, target) == span_loss(torch.zeros_like(wrong), types, mask, target)
    assert float(span_loss(right, types, mask, torch.tensor([[-1, -1]]))) == 0.0
