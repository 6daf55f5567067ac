"""Our own question set on the bundled corpus, run as an evaluation against a real index and the real model.

Measured when the floors were set (hybrid, k=5): the answer phrase is in the top 3 passages for 24 of 25
questions (0.96) and in the presented answer sentence for 22 of 25 (0.88). The floors leave a margin of
about two questions each for small changes in ranking. With the two questions of issue 10 added and the
cloze-trained answer model (2026-12-01): 24 of 27 in the top 3 (0.89), 22 of 27 presented (0.81); "How many
drones were used?" and "When did the attack happen?" are among the five missed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa import Retriever
from qa.evaluation import contains_answer

QUESTIONS = json.loads((Path(__file__).parent / "seed_questions.json").read_text())


def answers(item: dict) -> list[str]:
    """The answer phrase and its spellings in the corpus (Track Persia writes Khazali as Khazaili)."""
    return [item["answer"], *item.get("variants", [])]
TOP3_FLOOR = 0.88
SENTENCE_FLOOR = 0.80


@pytest.fixture(scope="module")
def asked(seed_retriever: Retriever) -> list:
    return [seed_retriever.ask(item["question"], k=5) for item in QUESTIONS]


def test_the_set_has_twenty_questions_whose_phrases_are_in_the_corpus() -> None:
    corpus = " ".join(path.read_text() for path in (Path(__file__).parent.parent / "corpus").glob("*.txt"))
    assert len(QUESTIONS) >= 20
    assert all(contains_answer(corpus, [item["answer"]]) for item in QUESTIONS)


def test_answer_phrase_in_the_top_three_passages(asked: list) -> None:
    found = [any(contains_answer(hit.text, answers(item)) for hit in answer.hits[:3])
             for item, answer in zip(QUESTIONS, asked)]
    assert sum(found) / len(found) >= TOP3_FLOOR, [item["question"] for item, ok in zip(QUESTIONS, found) if not ok]


def test_answer_phrase_in_the_presented_sentence(asked: list) -> None:
    found = [contains_answer(answer.text, answers(item)) for item, answer in zip(QUESTIONS, asked)]
    assert sum(found) / len(found) >= SENTENCE_FLOOR, [item["question"] for item, ok in zip(QUESTIONS, found) if not ok]


def test_the_suspect_question_names_kataeb_sayyid_al_shuhada_from_middle_east_eye(asked: list) -> None:
    answer = asked[0]
    assert QUESTIONS[0]["question"] == "who was suspected of the Kadhimi attack"
    assert answer.confident
    assert "Kataeb Sayyid al-Shuhada is the key suspect" in answer.text
    assert answer.best.publisher == "Middle East Eye"



def test_the_answer_phrase_marks_the_asked_for_words(asked: list) -> None:
    """Measured when set (2026-12-06): 14 of 27 answers mark a phrase, 13 of them in a right sentence, and 11 of
    those are the answer or part of it ("Two" of "Two of the drones were shot down"); "Donald Trump" for "Which
    Iranian general was killed by a US drone strike ordered by Trump?" is one of the two wrong."""
    marked = [(answer.phrase_text, answers(item)) for item, answer in zip(QUESTIONS, asked)
              if answer.phrase_text and contains_answer(answer.text, answers(item))]
    right = [contains_answer(phrase, strings) or any(contains_answer(s, [phrase]) for s in strings)
             for phrase, strings in marked]
    assert len(marked) >= 10 and sum(right) / len(right) >= 0.75, marked
    drones = next(answer for item, answer in zip(QUESTIONS, asked) if item["question"] == "How many drones were used?")
    assert drones.phrase_text == "three"


@pytest.mark.parametrize("question", ["what is the boiling point of tungsten", "who won the 1998 world cup",
                                      "Who? Who? What is it?"])
def test_questions_the_articles_do_not_touch_get_no_answer(seed_retriever: Retriever, question: str) -> None:
    """The 1998 question once got a Kadhimi sentence as its answer (0.16): its year is now one of its names,
    which no seed article states. A question of question words alone was answered confidently too."""
    answer = seed_retriever.ask(question, k=5)
    assert not answer.confident and answer.hits


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_showing_fewer_passages_does_not_change_the_answer(seed_retriever: Retriever, asked: list, k: int) -> None:
    """The answer is chosen among five passages however many the reader asks to see, and its passage is one of
    those shown: at k=3, "How many drones were used?" answered with a sentence about Houthi drones in Yemen."""
    for item, full in zip(QUESTIONS, asked):
        fewer = seed_retriever.ask(item["question"], k=k)
        assert fewer.confident == full.confident, item["question"]
        assert fewer.text == full.text or not full.confident, item["question"]  # "not found" presents no sentence
        assert len(fewer.hits) == min(k, len(full.hits))
        assert fewer.best is None or fewer.best in fewer.hits


def test_a_confident_answers_passage_comes_first_among_its_documents(asked: list) -> None:
    """A story's passage that restates the question must not stand above its passage that answers it."""
    confident = [answer for answer in asked if answer.confident]
    assert len(confident) >= len(asked) // 2
    for answer in confident:
        assert next(hit for hit in answer.hits if hit.doc_id == answer.best.doc_id) is answer.best, answer.question
        assert [hit.rank for hit in answer.hits] == sorted(hit.rank for hit in answer.hits)
