"""The shipped answer model: it loads offline, tells the answering sentence from the one that restates the
question on real news sentences, marks the answer phrase inside it, and carries the card that says how it was
made."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from qa.answer_model import (CARD_FILE, MAX_PAIR_TOKENS, MODEL_DIR, MODEL_FILE, PHRASE_FILE, AnswerModel, best_span,
                             in_context, read_card, whole_words)
from qa.errors import QAError
from qa.onnx_backend import int8_saturates

# Sentences of BBC News articles (2004) and of the bundled Track Persia article: one that restates the story and
# one that states the asked-for fact. The first pair is the answer sentence with its figure cut out, the case
# the training's answer-cut negatives teach. (The issue's own wordings of these questions are not all won yet:
# see the README's answer figures.)
PAIRS = [
    ("How many jobs is South Korea hoping to create with its plan to front-load state spending in 2005?",
     "It aims to create jobs and will focus on infrastructure and home building, as well as providing public firms "
     "with money to hire new workers.",
     "It aims to create 400,000 jobs and will focus on infrastructure and home building, as well as providing "
     "public firms with money to hire new workers."),
    ("Which city hosted the 1998 Winter Olympics that Yoshiaki Tsutsumi helped to bring to Japan?",
     "Yoshiaki Tsutsumi was once ranked as the world's richest man and ran a business spanning hotels, railways, "
     "construction and a baseball team.",
     "He used his wealth and influence to bring the Winter Olympic Games to Nagano in 1998."),
    ("How many drones were used in the attack on the residence of al-Kadhimi?",
     "The Houthis have used Iranian drones against targets in Yemen and Saudi Arabia.",
     "The assassination operation was reportedly carried out by three drones carrying explosives targeting the "
     "residence of al-Kadhimi in the most fortified Green Zone."),
]


@pytest.mark.parametrize(("question", "restates", "answers"), PAIRS)
def test_the_answering_sentence_scores_above_the_one_that_restates_the_question(
        answer_model: AnswerModel, question: str, restates: str, answers: str) -> None:
    scores = answer_model.probabilities(question, [restates, answers])
    assert scores[1] > scores[0]


def test_scores_do_not_depend_on_the_other_sentences(answer_model: AnswerModel) -> None:
    question, restates, answers = PAIRS[0]
    alone = answer_model.probabilities(question, [answers])
    together = answer_model.probabilities(question, [restates, answers, restates])
    assert together[1] == pytest.approx(alone[0], abs=1e-6)
    assert together[0] == pytest.approx(together[2], abs=1e-6)


def test_the_sentence_is_read_after_its_documents_title(answer_model: AnswerModel) -> None:
    # a sentence that never names its subject answers only in a story about the thing asked for
    question, sentence = "How many drones attacked the prime minister's residence?", "Three drones were launched."
    assert in_context(sentence, "Kadhimi attack") == "Kadhimi attack | Three drones were launched."
    assert in_context(sentence, "  ") == sentence
    about, elsewhere = (float(answer_model.probabilities(question, [sentence], title)[0])
                        for title in ("Drone attack on Iraqi prime minister Kadhimi", "Houthi drones hit Saudi oil plant"))
    assert about > 2 * elsewhere


def test_a_question_of_10000_characters_is_cut_to_the_models_window(answer_model: AnswerModel) -> None:
    assert len(answer_model.tokenizer.encode("why " * 2500, "A short sentence.").ids) == MAX_PAIR_TOKENS
    assert 0 <= answer_model.probabilities("why " * 2500, ["A short sentence."])[0] <= 1
    span = answer_model.phrase("why " * 2500, "A short sentence.")  # a phrase, if any, is inside the sentence
    assert span is None or 0 <= span[0] < span[1] <= len("A short sentence.")


def test_no_sentences_no_scores(answer_model: AnswerModel) -> None:
    assert answer_model.probabilities("anything?", []).shape == (0,)


def test_the_model_ships_small_with_a_card_saying_how_it_was_made() -> None:
    assert (MODEL_DIR / MODEL_FILE).stat().st_size < 40_000_000
    card = read_card()
    assert card["seed"] and card["held_out_articles"] and card["train_pairs"] > 10_000
    assert 0 < card["no_answer_threshold"] < card["strong_answer_threshold"] < 1


def test_a_damaged_model_file_is_a_clear_error(tmp_path: Path) -> None:
    for name in (CARD_FILE, "answer-scorer-tokenizer.json"):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    (tmp_path / MODEL_FILE).write_bytes(b"not an onnx file")
    with pytest.raises(QAError, match="cannot load the answer model"):
        AnswerModel(tmp_path)


def test_scores_are_the_same_on_every_cpu(answer_model: AnswerModel) -> None:
    # x86-64 CPUs without VNNI sum int8 products in 16 bits and saturate unless asked for exact products: the
    # model's session must score as exact products do, whatever CPU runs this test
    exact = AnswerModel()
    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.x64quantprecision", "1")
    exact.session = onnxruntime.InferenceSession(str(MODEL_DIR / MODEL_FILE), options,
                                                 providers=["CPUExecutionProvider"])
    for question, restates, answers in PAIRS:
        assert answer_model.probabilities(question, [restates, answers]) == pytest.approx(
            exact.probabilities(question, [restates, answers]), abs=1e-6)


@pytest.mark.parametrize(("machine", "flags", "saturates"), [
    ("x86_64", "flags\t: fpu sse2 avx2 avx512f avx512_vnni amx_int8\n", False),
    ("x86_64", "flags\t: fpu sse2 avx2 avx_vnni\n", False),
    ("x86_64", "flags\t: fpu sse2 avx2 avx512f avx512vl\n", True),
    ("AMD64", None, True),
    ("aarch64", "Features\t: fp asimd asimddp\n", False),
])
def test_int8_saturates_on_x86_64_without_vnni(tmp_path: Path, machine: str, flags: str | None,
                                               saturates: bool) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    if flags is not None:
        cpuinfo.write_text(flags)
    assert int8_saturates(machine, cpuinfo) is saturates


@pytest.mark.parametrize(("question", "sentence", "phrase"), [
    (PAIRS[0][0], PAIRS[0][2], "400,000"),
    (PAIRS[1][0], PAIRS[1][2], "Nagano"),
    (PAIRS[2][0], PAIRS[2][2], "three"),
])
def test_the_answer_phrase_is_the_asked_for_fact(answer_model: AnswerModel, question: str, sentence: str,
                                                 phrase: str) -> None:
    span = answer_model.phrase(question, sentence)
    assert span is not None and sentence[slice(*span)] == phrase


def test_the_phrase_is_placed_in_the_sentence_not_in_its_title(answer_model: AnswerModel) -> None:
    question, sentence = "How many jobs will the plan create?", "It aims to create 400,000 jobs."
    title = "Seoul plans 400,000 jobs"  # the title says it too, but only the sentence is shown
    span = answer_model.phrase(question, sentence, title)
    assert span is not None and sentence[slice(*span)] == "400,000"


def test_no_phrase_is_marked_when_the_head_is_not_sure(answer_model: AnswerModel) -> None:
    question, _, sentence = PAIRS[0]
    unsure = AnswerModel()
    unsure.phrase_head = replace(answer_model.phrase_head, threshold=1.0)
    assert unsure.phrase(question, sentence) is None
    unsure.phrase_head = None  # a model folder without a phrase head marks none
    assert unsure.phrase(question, sentence) is None


def test_the_best_span_keeps_to_allowed_pieces_in_order_and_within_the_length() -> None:
    allowed = np.array([False, True, True, True, True, True])  # piece 0 is the question's: never in the phrase
    ordered = np.zeros((6, 2), dtype=np.float32)
    ordered[0] = (9, 9)
    ordered[4, 0] = ordered[2, 1] = 5  # the best start comes after the best end: not a span
    ordered[1, 0] = 1
    assert best_span(ordered, allowed, max_pieces=6)[:2] == (1, 2)
    long = np.zeros((6, 2), dtype=np.float32)
    long[1, 0] = long[5, 1] = 3  # five pieces apart
    long[3, 1] = 2.5
    first, last, probability = best_span(long, allowed, max_pieces=3)
    assert (first, last) == (1, 3) and 0 < probability < 1
    assert best_span(long, allowed, max_pieces=5)[:2] == (1, 5)


def test_a_phrase_is_whole_words() -> None:
    text = "It aims to create 400,000 jobs."
    assert whole_words(text, text.index("00,000"), text.index(" jobs")) == (18, 25)
    assert text[slice(*whole_words(text, 19, 24))] == "400,000"


def test_the_phrase_head_ships_with_its_recipe_threshold_and_figures() -> None:
    card = json.loads((MODEL_DIR / PHRASE_FILE).read_text())
    assert 0 < card["threshold"] < 1 and card["held_out_articles"] == read_card()["held_out_articles"]
    assert card["validation"]["bbc_news"]["given_holds_answer"] >= 0.85
    outputs = [output.name for output in onnxruntime.InferenceSession(
        str(MODEL_DIR / MODEL_FILE), providers=["CPUExecutionProvider"]).get_outputs()]
    assert outputs == ["logit", "tokens"]
