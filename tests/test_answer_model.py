"""The shipped answer model: it loads offline, tells the answering sentence from the one that restates the
question on real news sentences, and carries the card that says how it was made."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa.answer_model import CARD_FILE, MAX_PAIR_TOKENS, MODEL_DIR, MODEL_FILE, AnswerModel, in_context, read_card
from qa.errors import QAError

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
