"""Answer sentences: lexical scores, answer types, marking and reranking with the real embedder and answer model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from qa import Embedder, Hit
from qa.answer import (CHOICE_FEATURES, CHOICE_WEIGHTS, NO_ANSWER_THRESHOLD, AskedQuestion, Candidate, answer_candidates,
                       choice_scores, choose_answer, keep_passages, lexical_scores, logit, mark_answers, piece_weights,
                       rerank_keys, rerank_signals, token_match, without_copies)
from qa.answer_model import AnswerModel


def flat(terms: Sequence[str]) -> np.ndarray:
    return np.ones(len(terms))


def ask(question: str, hits: Sequence[Hit], embedder: Embedder, model: AnswerModel, **options: object):
    """mark_answers on real models, with flat term weights."""
    return mark_answers(AskedQuestion.encode(question, embedder, flat), hits, embedder, flat, model, **options)


def hit(rank: int, score: float, text: str, title: str = "") -> Hit:
    return Hit(rank=rank, score=score, text=text, chunk_id=rank, doc_id=f"d{rank}", title=title, publisher="",
               author="", date="", path="", page=None, start=0, end=len(text))


def test_lexical_scores_count_question_terms_pairs_and_type() -> None:
    # the first sentence holds every content term of the question, in order, and a number
    scores = lexical_scores("How many drones were shot down?",
                            ["Two drones were shot down.", "The drones flew.", "Nothing here."], flat)
    assert scores[0] > scores[1] > scores[2] == 0.0


def test_rare_terms_weigh_more() -> None:
    weights = lambda terms: np.array([5.0 if term == "qaani" else 1.0 for term in terms])  # noqa: E731
    scores = lexical_scores("who did qaani meet", ["qaani spoke", "they did meet"], weights)
    assert scores[0] > scores[1]


def test_question_words_earn_a_sentence_nothing() -> None:
    # "who" in a sentence does not make it answer "who ...": both sentences hold "suspected" and nothing else
    scores = lexical_scores("who was suspected", ["the man who was suspected", "one suspected"], flat)
    assert scores[0] == scores[1] > 0


def test_token_match_is_the_weighted_mean_of_each_question_pieces_best_cosine() -> None:
    e1, e2, e3 = np.eye(3)
    question = np.array([e1, e2])
    pieces = np.array([e1, (e2 + e3) / np.sqrt(2), e3])
    # best cosines: 1.0 for e1, 0.707 for e2; weights 1 and 3
    assert token_match(question, np.array([1.0, 3.0]), pieces) == pytest.approx((1 + 3 / np.sqrt(2)) / 4)
    assert token_match(question, np.array([1.0, 0.0]), pieces) == pytest.approx(1.0)
    assert token_match(question, np.array([1.0, 1.0]), pieces[:0]) == 0.0


def test_piece_weights_follow_the_words_idf_and_skip_question_and_stop_words(embedder: Embedder) -> None:
    question = "who was suspected of the Kadhimi attack"
    spans = embedder.encode_tokens([question])[0].spans
    idf = {"suspect": 2.0, "kadhimi": 5.0, "attack": 1.0}
    weights = piece_weights(question, spans, lambda terms: np.array([idf.get(term, 9.0) for term in terms]))
    by_word = {}
    for (start, end), weight in zip(spans, weights):
        word = next(w for w in question.split() if question.index(w) <= start < question.index(w) + len(w))
        by_word.setdefault(word, set()).add(float(weight))
    # "Kadhimi" is several word pieces, all with its weight; "who", "was", "of", "the" weigh nothing
    assert by_word == {"who": {0.0}, "was": {0.0}, "suspected": {2.0}, "of": {0.0}, "the": {0.0},
                       "Kadhimi": {5.0}, "attack": {1.0}}
    assert len(spans) > len(by_word)
    only_question_words = "who was it"
    spans = embedder.encode_tokens([only_question_words])[0].spans
    assert piece_weights(only_question_words, spans, flat).tolist() == [1.0, 1.0, 1.0]


def test_a_sentence_past_the_embedders_window_is_still_marked(embedder: Embedder, answer_model: AnswerModel) -> None:
    filler = "The committee met again and discussed the agenda at length. " * 30
    text = filler + "The falcons nested on the northern cliffs."
    assert embedder.count_tokens([filler])[0] > embedder.max_tokens
    answer = ask("Where did the falcons nest?", [hit(1, 0.5, text)], embedder, answer_model)
    assert answer.text == "The falcons nested on the northern cliffs."


def test_mark_answers_marks_the_answering_sentence_and_reranks(embedder: Embedder, answer_model: AnswerModel) -> None:
    hits = [
        hit(1, 0.9, "The weather was fine. Markets rose on Monday."),
        hit(2, 0.8, "Drones Report\nThe drone attack was carried out by three quadcopters. It was night.",
            title="Drones Report"),
    ]
    answer = ask("How many quadcopters carried out the drone attack?", hits, embedder, answer_model, k=2, rerank=True)
    assert [h.doc_id for h in answer.hits] == ["d2", "d1"]
    assert [h.rank for h in answer.hits] == [1, 2]
    assert answer.best.doc_id == "d2"
    assert answer.text == "The drone attack was carried out by three quadcopters."


def test_rerank_signals_credit_the_passage_that_states_the_question(embedder: Embedder) -> None:
    hits = [hit(1, 0.9, "The weather was fine. Markets rose on Monday."),
            hit(2, 0.8, "The drone attack was carried out by three quadcopters. It was night.")]
    asked = AskedQuestion.encode("How many quadcopters carried out the drone attack?", embedder, flat)
    signals = rerank_signals(asked, hits, embedder, flat)
    assert signals.shape == (2, 4)
    assert list(signals[:, 0]) == [0.9, 0.8]  # the fused scores, as they came
    assert signals[1, 1] > signals[0, 1] and signals[1, 2] > signals[0, 2]  # its best sentence, its token match
    assert list(signals[:, 3]) == [1.0, 1.0]  # the question names no one: nothing to miss
    assert rerank_keys(asked, hits, embedder, flat)[1] > rerank_keys(asked, hits, embedder, flat)[0]


def test_the_story_naming_whom_the_question_names_ranks_first(embedder: Embedder) -> None:
    # two stories on one event whose passages say the same; only the first's document names the critic asked about
    passage = "Oscar voters were wary of the controversial film, critics said."
    hits = [hit(1, 0.5, passage, title="Oscars shun controversy"), hit(2, 0.5, passage, title="Oscar nominations")]
    stories = {"d1": f"Oscars shun controversy\n\n\n{passage} Screen International's Tim Dams said so.",
               "d2": f"Oscar nominations\n\n\n{passage} The ceremony is in February."}
    asked = AskedQuestion.encode("What made Oscar voters wary, according to Tim Dams?", embedder, flat)
    signals = rerank_signals(asked, hits, embedder, flat, stories)
    # its names "oscar", "tim", "dams": all three in d1's story, one in d2's
    assert list(signals[:, 3]) == pytest.approx([1.0, 1 / 3])
    assert list(rerank_signals(asked, hits, embedder, flat)[:, 3]) == pytest.approx([1 / 3, 1 / 3])  # passages alone
    keys = rerank_keys(asked, hits[::-1], embedder, flat, stories)
    assert keys[1] > keys[0]  # d1 first, though it came second


def test_mark_answers_without_rerank_keeps_the_order_and_k(embedder: Embedder, answer_model: AnswerModel) -> None:
    hits = [hit(1, 0.9, "Markets rose."), hit(2, 0.8, "Three drones attacked."), hit(3, 0.1, "Rain fell.")]
    answer = ask("How many drones attacked?", hits, embedder, answer_model, k=2)
    assert [h.doc_id for h in answer.hits] == ["d1", "d2"]
    assert answer.best.doc_id == "d2"


def test_no_hits_no_answer(embedder: Embedder, answer_model: AnswerModel) -> None:
    answer = ask("anything?", [], embedder, answer_model)
    assert answer.best is None and not answer.confident


def test_the_figure_is_chosen_over_the_lead_that_restates_the_question(embedder: Embedder,
                                                                        answer_model: AnswerModel) -> None:
    # the start of business-258 of the BBC News archive (bbc-news in ../shared/eval), an article never trained on
    text = ("South Korea will boost state spending next year in an effort to create jobs and kick start its "
            "sputtering economy.\n\nIt has earmarked 100 trillion won ($96bn) for the first six months of 2005, 60% "
            "of its total annual budget. The government's main problems are \"slumping consumption and a "
            "contraction in the construction industry\". It aims to create 400,000 jobs and will focus on "
            "infrastructure and home building, as well as providing public firms with money to hire new workers.")
    answer = ask("How many jobs is South Korea hoping to create with its plan to front-load state spending in 2005?",
                 [hit(1, 0.9, text, title="S Korea spending boost to economy")], embedder, answer_model)
    assert "400,000 jobs" in answer.text and answer.confident


def test_the_lead_weighs_against_a_sentence_and_a_lower_passage_too() -> None:
    # the same logit: a later sentence of the best passage, the lead of it, a sentence of a passage ranked lower
    features = np.array([[0.5, 0.0, 0.0, 0.0, 0.0], [0.5, 1.0, 0.0, 0.0, 0.0], [0.5, 0.0, -0.4, 0.0, 0.0]],
                        dtype=np.float32)
    assert int(np.argmax(choice_scores(features))) == 0
    assert choice_scores(features)[1] < choice_scores(features)[0] and choice_scores(features)[2] < choice_scores(features)[0]


def test_a_sentence_stating_the_kind_of_answer_asked_for_is_preferred(answer_model: AnswerModel) -> None:
    # "how many" asks for a count: only the sentence with a figure the question does not say states one
    text = "Drones attacked the residence. Three drones were launched from the east."
    candidates = answer_candidates("How many drones attacked the residence?", [hit(1, 0.9, text)], None, answer_model)
    kinds = [c.features[CHOICE_FEATURES.index("asked_kind")] for c in candidates]
    assert kinds == [0.0, 1.0] and CHOICE_WEIGHTS["asked_kind"] > 0
    unasked = answer_candidates("Tell me about the drones", [hit(1, 0.9, text)], None, answer_model)
    assert all(c.features[CHOICE_FEATURES.index("asked_kind")] == 0.0 for c in unasked)


def test_a_sentence_pointing_back_to_the_one_before_is_preferred(answer_model: AnswerModel) -> None:
    # "He ..." follows the sentence naming whom the question asks about: the choice weighs for it
    text = "Kadhimi's spokesman spoke to reporters after the attack. He said the prime minister was unharmed."
    candidates = answer_candidates("What did Kadhimi's spokesman say after the attack?", [hit(1, 0.9, text)], None,
                                   answer_model)
    assert [c.features[CHOICE_FEATURES.index("refers_back")] for c in candidates] == [0.0, 1.0]
    assert CHOICE_WEIGHTS["refers_back"] > 0


def test_the_answer_is_as_sure_as_the_strongest_sentence_even_when_another_is_shown() -> None:
    # a story's lead the model rates higher, and a later sentence the choice prefers (the lead weighs against):
    # the later one is shown, and the archive seems to answer because some sentence is likely to
    text = "Ministers met on Monday to discuss the plan. The plan will cost £2bn."
    lead, later = (0, 44), (45, len(text))
    candidates = [Candidate(0, lead, 0.55, (logit(0.55), 1.0, 0.0, 0.0, 0.0)),
                  Candidate(0, later, 0.45, (logit(0.45), 0.0, 0.0, 0.0, 0.0))]
    chosen = choice_scores(np.array([c.features for c in candidates], dtype=np.float32))
    assert chosen[1] > chosen[0]
    answer = choose_answer("What will the plan cost?", [hit(1, 0.9, text)], candidates)
    assert answer.text == "The plan will cost £2bn." and answer.confidence == pytest.approx(0.55)
    assert answer.confident and answer.best.answer.score == pytest.approx(0.45)  # labelled by its own score
    floored = choose_answer("What will the plan cost?", [hit(1, 0.9, text)],
                            [candidates[0], replace(candidates[1], probability=NO_ANSWER_THRESHOLD / 2)])
    assert floored.confident and floored.best.answer.score == NO_ANSWER_THRESHOLD  # presented: at least a good match
    declined = choose_answer("What will the plan cost?", [hit(1, 0.9, text)],
                             [replace(c, probability=0.01) for c in candidates])
    assert declined.confidence == pytest.approx(0.01) and not declined.confident and declined.text


def test_a_sentence_without_the_figure_asked_for_is_chosen_only_when_no_other_can_be() -> None:
    text = "Drones attacked the house. Three drones were launched."
    candidates = [Candidate(0, (0, 26), 0.99, (logit(0.99), 0.0, 0.0, 0.0, 0.0)),
                  Candidate(0, (27, len(text)), 0.3, (logit(0.3), 0.0, 0.0, 0.0, 0.0))]
    answer = choose_answer("How many drones were launched?", [hit(1, 0.9, text)], candidates)
    assert answer.text == "Three drones were launched." and answer.best.answer.score == pytest.approx(0.3)
    vetoed = choose_answer("How many drones were launched?", [hit(1, 0.9, text)], candidates[:1])
    assert vetoed.text == "Drones attacked the house." and vetoed.best.answer.score == 0.0 and not vetoed.confident


def test_a_claim_the_articles_correction_withdrew_is_not_the_answer(answer_model: AnswerModel) -> None:
    """A corrected article says what its earlier version said; the answer model rates that sentence as answering
    (it states the route asked about), but the publisher withdrew it: the fix that follows is the answer."""
    text = ("Correction, 4 March: An earlier version of this article said the train was travelling from Bristol "
            "Temple Meads to London Paddington. It was the 07:12 service from Oxford to Reading.")
    hits = [hit(1, 0.9, text, title="Harwell derailment: six dead")]
    question = "Where was the derailed train travelling from and to?"
    candidates = answer_candidates(question, hits, None, answer_model)
    assert candidates[0].probability > NO_ANSWER_THRESHOLD  # the model alone would answer with the withdrawn route
    answer = choose_answer(question, hits, candidates)
    assert answer.text == "It was the 07:12 service from Oxford to Reading."
    assert choose_answer("What did the correction say?", hits, answer_candidates(
        "What did the correction say?", hits, None, answer_model)).text.startswith("Correction, 4 March")


def test_a_publisher_the_question_names_counts_as_stated(answer_model: AnswerModel) -> None:
    """"According to the Lakeside Herald, ..." names the publisher, which the article's byline states, not its text."""
    text = "At least 94 people died when the ferry capsized on Lake Oroma, rescue workers said."
    question = "According to the Lakeside Herald, how many people died when the ferry capsized?"
    hits = [replace(hit(1, 0.9, text, title="Ferry toll rises"), publisher="Lakeside Herald")]
    candidates = answer_candidates(question, hits, None, answer_model)
    assert choose_answer(question, hits, candidates).best.answer.score == pytest.approx(candidates[0].probability)
    elsewhere = [replace(hits[0], publisher="Oroma Post")]
    assert choose_answer(question, elsewhere, candidates).best.answer.score < candidates[0].probability


def test_a_sentence_about_someone_the_question_does_not_name_does_not_answer(answer_model: AnswerModel) -> None:
    # a sentence of bbc-news business-100: the model alone rates it as answering either question
    text = "Mr Ebbers could face a jail sentence of up to 85 years if convicted of all the charges he is facing."
    hits = [hit(1, 0.9, text, title="Ebbers denies WorldCom fraud")]
    about_someone_else = "How many years in prison could Japanese tycoon Yoshiaki Tsutsumi face if convicted?"
    candidates = answer_candidates(about_someone_else, hits, None, answer_model)
    assert candidates[0].probability > NO_ANSWER_THRESHOLD
    assert not choose_answer(about_someone_else, hits, candidates).confident
    about_him = "How many years in prison could WorldCom founder Bernie Ebbers face if convicted?"
    answer = choose_answer(about_him, hits, answer_candidates(about_him, hits, None, answer_model))
    assert answer.confident and answer.best.answer.score == pytest.approx(2 / 3 * answer_candidates(
        about_him, hits, None, answer_model)[0].probability)  # "bernie" is not in the passage


WIRE_STORY = ("Three drones were launched at the prime minister's residence in Baghdad early on Sunday, the "
              "interior ministry said, and two of them were shot down by the security forces guarding the Green "
              "Zone. The third struck the house, wounding six of the prime minister's guards, while he himself was "
              "unhurt and later appeared on television calling for calm and restraint from all sides in the country.")


def test_a_passage_another_document_states_word_for_word_is_folded_into_the_first() -> None:
    """Wire copy (one story filed by two outlets, lightly edited) would fill two of the five passages with one
    text: the lower one is folded into the first as a copy, and the next passage takes its place."""
    edited = WIRE_STORY.replace("calling for calm", "appealing for calm")
    story, other, copy, same_document = (hit(1, 0.9, WIRE_STORY), hit(2, 0.8, "Iran denied any role in the attack."),
                                         hit(3, 0.7, edited), replace(hit(4, 0.6, WIRE_STORY), doc_id="d1"))
    kept = without_copies([story, other, copy, same_document])
    assert [(h.doc_id, h.rank) for h in kept] == [("d1", 1), ("d2", 2), ("d1", 3)]
    assert [c.doc_id for c in kept[0].copies] == ["d3"] and kept[0].documents == ("d1", "d3")
    assert without_copies([story, replace(hit(3, 0.7, WIRE_STORY[:200] + " A different ending follows here, "
                                                   "and goes on about something else entirely for a while.",
                                              ))])[0].copies == ()


def test_the_answers_passage_stands_first_among_its_storys_passages() -> None:
    """A story's first passage restates the question; its second, ranked below another story's, states the figure.
    The answer's passage moves to where its story stands, ahead of the restating one; other stories keep their
    places and every passage is renumbered in the order shown."""
    lead = "South Korea will boost state spending next year to create jobs."
    figure = "The government hopes to create 400,000 jobs."
    title = "South Korea to boost spending"
    hits = [hit(1, 0.9, lead, title), hit(2, 0.8, "Japan's economy shrank again."),
            replace(hit(3, 0.7, figure, title), doc_id="d1")]
    candidates = [Candidate(0, (0, len(lead)), 0.3, (logit(0.3), 1.0, 0.0, 1.0, 0.0)),
                  Candidate(1, (0, 29), 0.01, (logit(0.01), 1.0, -0.2, 0.0, 0.0)),
                  Candidate(2, (0, len(figure)), 0.8, (logit(0.8), 0.0, -0.1, 1.0, 0.0))]
    answer = choose_answer("How many jobs is South Korea hoping to create?", hits, candidates)
    shown, kept = keep_passages(answer, candidates, k=5)
    assert [(h.chunk_id, h.rank) for h in shown.hits] == [(3, 1), (1, 2), (2, 3)]
    assert shown.best is shown.hits[0] and shown.text == figure and shown.hits[0].answer_text == figure
    assert [c.hit for c in kept] == [1, 2, 0] and shown.hits[kept[2].hit].text == figure
    only, _ = keep_passages(answer, candidates, k=1)
    assert [h.chunk_id for h in only.hits] == [3] and only.text == figure

    declined = choose_answer("How many jobs is South Korea hoping to create?", hits,
                             [replace(c, probability=0.01) for c in candidates])
    assert [h.chunk_id for h in keep_passages(declined, candidates, k=5)[0].hits] == [1, 2, 3]
