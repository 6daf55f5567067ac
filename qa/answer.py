"""Marks, inside each hit, the sentence that answers the question, and says when none does; extractive.

Two steps, each with the signal it does best:
- Passage order (hybrid mode): each of the top RERANK_DEPTH candidates is run through the embedder once for its
  contextual word-piece vectors, and reordered by its fused score, its best sentence's similarity score
  (`sentence_scores`: cosine of pooled pieces, the idf-weighted share of question terms and term pairs it
  states, the kind of answer asked for, and a ColBERT-style token match), the token match of the whole
  passage, and the share of the question's names its whole document states (of two stories on one event, the
  one asked about names whom the question names). On SQuAD this lifts gold-paragraph Recall@1 from 0.795 to
  0.862, on bbc-news the gold article first from 0.896 to 0.935.
- The answer sentence: similarity cannot tell a sentence that restates the question (the lead naming the same
  people) from the one that answers it (the one with the figure): on bbc-news it marked an answer for 0.35 of
  questions. The trained cross-encoder (`qa.answer_model`) reads the question with each sentence of the kept
  passages, each after its document's title; its probability is the sentence's score, and a best one below
  NO_ANSWER_THRESHOLD means the archive does not seem to answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from qa.answer_model import AnswerModel, read_card
from qa.embedding import Embedder, TokenVectors, unit
from qa.records import Answer, Document, Hit, Sentence
from qa.text import (MEASURES, QUESTION_WORDS, answer_type, holds_type, is_copy, named_share, query_terms,
                     question_names, refers_back, split_sentences, tokenize, withdrawn, word_runs)

TermWeights = Callable[[Sequence[str]], np.ndarray]

# The answer model's probability below which no sentence is presented as the answer, and from which a match is
# strong (unanswerable questions almost never reach it): calibrated on public data, kept in the model card
# beside the model they belong to (scripts/calibrate_answer_model.py; the card says what each trades).
NO_ANSWER_THRESHOLD: float = read_card()["no_answer_threshold"]
STRONG_ANSWER_THRESHOLD: float = read_card()["strong_answer_threshold"]
# The answer is chosen by the answer model's logit and signals it does not weigh: whether the sentence is a
# story's lead (which restates what a reporter's question was written from), how far its passage ranks below
# the best one (its rerank key minus the best key; 0 without a rerank), and whether it states the kind of
# answer the question's wording asks for (`holds_type`: a figure for "how many", a name for "who"; 0 when the
# wording asks for no kind), and whether it opens by pointing back to the sentence before (`refers_back`:
# "He said...", which follows the sentence naming whom the question asks about). The weights are fit on public
# data (scripts/fit_answer_choice.py) and kept in the model card.
CHOICE_FEATURES = ("logit", "lead", "passage_gap", "asked_kind", "refers_back")
CHOICE_WEIGHTS: dict[str, float] = read_card()["choice_weights"]
LEXICAL_WEIGHT = 1.0  # idf-weighted share of question terms in the sentence
PAIR_WEIGHT = 0.5  # share of the question's consecutive term pairs found in the sentence
TYPE_WEIGHT = 0.2  # the sentence holds what the question's wh-word asks for
SENTENCE_MATCH_WEIGHT = 1.0  # token match (`token_match`) of the question against the sentence's word pieces
RERANK_WEIGHT = 1.0  # a candidate's fused score plus this times its best sentence's score
PASSAGE_MATCH_WEIGHT = 4.0  # plus this times the token match of the question against the whole passage: from a grid
# over both weights on SQuAD's training articles and bbc-news (gold first): 2.0 ranked 0.856 / 0.896, 4.0 0.856 / 0.922
STORY_NAMES_WEIGHT = 0.2  # plus this times the share of the question's names its whole document states: of two
# stories on one event, the one naming whom the question names ("Screen International's Tim Dams") is the one asked
# about. scripts/tune_rerank.py, gold first: bbc-news 71 -> 72 of 77, SQuAD training articles 887 -> 892 of 1,033
# (every 3rd question), bbc-dev 78 of 80 either way; from 0.3 SQuAD loses questions again
RERANK_DEPTH = 20  # hybrid candidates the sentence scores may reorder
ANSWER_PASSAGES = 5  # the answer is chosen among at least this many passages, however few are shown: the choice
# and the no-answer threshold were fit with 5, and asking to see fewer passages must not change the answer

def lexical_scores(question: str, sentences: Sequence[str], weights: TermWeights) -> np.ndarray:
    """Per sentence: LEXICAL_WEIGHT * idf-share of question terms + PAIR_WEIGHT * pair share + TYPE_WEIGHT * type."""
    asked, said = query_terms(question), tokenize(sentences)
    unique = list(dict.fromkeys(asked))
    idf = dict(zip(unique, weights(unique))) if unique else {}
    total = sum(idf.values()) or 1.0
    pairs = set(zip(asked, asked[1:]))
    kind = answer_type(question)
    scores = np.zeros(len(sentences), dtype=np.float32)
    for i, (sentence, words) in enumerate(zip(sentences, said)):
        present = set(words)
        share = sum(weight for term, weight in idf.items() if term in present) / total
        pair_share = len(pairs & set(zip(words, words[1:]))) / len(pairs) if pairs else 0.0
        scores[i] = (LEXICAL_WEIGHT * share + PAIR_WEIGHT * pair_share
                     + TYPE_WEIGHT * holds_type(kind, question, sentence))
    return scores


@dataclass(frozen=True)
class AskedQuestion:
    """What the scoring needs of the question: its text, its word pieces and sentence vector (one model run),
    and how much each piece matters (`piece_weights`)."""

    text: str
    tokens: TokenVectors
    importance: np.ndarray

    @classmethod
    def encode(cls, question: str, embedder: Embedder, weights: TermWeights) -> AskedQuestion:
        tokens = embedder.encode_tokens([question])[0]
        return cls(question, tokens, piece_weights(question, tokens.spans, weights))

    def match(self, pieces: np.ndarray) -> float:
        """`token_match` of this question against unit piece vectors."""
        return token_match(self.tokens.units, self.importance, pieces)


@dataclass(frozen=True)
class Candidate:
    """One sentence of a kept hit that may be the answer: where it is, the answer model's probability that it
    answers, and the signals the choice of the answer weighs (`CHOICE_FEATURES`, in that order)."""

    hit: int
    span: tuple[int, int]
    probability: float
    features: tuple[float, ...]


def mark_answers(asked: AskedQuestion, hits: Sequence[Hit], embedder: Embedder, weights: TermWeights,
                 model: AnswerModel, k: int | None = None, rerank: bool = False,
                 stories: Mapping[str, str] | None = None) -> Answer:
    """Order the hits (with `rerank`), keep `k`, and mark in each kept hit the sentence most likely to answer.

    The two steps, `rate_hits` then `choose_answer`, are also called apart (to fit the choice weights).
    """
    return choose_answer(asked.text, *rate_hits(asked, hits, embedder, weights, model, k, rerank, stories))


def rate_hits(asked: AskedQuestion, hits: Sequence[Hit], embedder: Embedder, weights: TermWeights,
              model: AnswerModel, k: int | None = None, rerank: bool = False, stories: Mapping[str, str] | None = None
              ) -> tuple[list[Hit], list[Candidate]]:
    """The kept hits (reordered by `rerank_keys` with `rerank`, renumbered) and their candidate sentences.

    With `rerank`, each hit is run through the embedder once (`stories`: see `rerank_signals`). The answer model
    then rates every sentence of the `k` kept hits with the question (`answer_candidates`).
    """
    kept, keys = list(hits), None
    if rerank and kept:
        keys = rerank_keys(asked, kept, embedder, weights, stories)
        order = np.argsort(-keys, kind="stable")
        kept, keys = [replace(kept[i], rank=rank) for rank, i in enumerate(order, start=1)], keys[order]
    kept = without_copies(kept)[:k]
    return kept, answer_candidates(asked.text, kept, None if keys is None else keys[: len(kept)], model)


def without_copies(hits: Sequence[Hit]) -> list[Hit]:
    """The hits with each passage another document's higher-ranked passage states word for word (`is_copy`: wire
    copy, one story filed twice) folded into that passage's `copies`, renumbered: the same text shown twice
    would take the place of a passage that says something else."""
    kept: list[Hit] = []
    runs: list[frozenset] = []
    for hit in hits:
        own = word_runs(hit.text)
        original = next((i for i, (other, seen) in enumerate(zip(kept, runs))
                         if other.doc_id != hit.doc_id and is_copy(own, seen)), None)
        if original is None:
            kept.append(replace(hit, rank=len(kept) + 1))
            runs.append(own)
        else:
            copy = replace(hit, rank=kept[original].rank, copies=())  # it stands where its original does
            kept[original] = replace(kept[original], copies=(*kept[original].copies, copy))
    return kept


def choose_answer(question: str, hits: Sequence[Hit], candidates: Sequence[Candidate]) -> Answer:
    """Mark each hit's best-chosen sentence (`choice_order`), scored by its `confidence`; the answer is the
    best-chosen of all. Whether the archive answers at all is whether some sentence is likely to: the answer's
    `confidence` is the highest of any candidate (the choice weighs where a sentence stands, a story's lead, a
    lower passage), and below NO_ANSWER_THRESHOLD it is not confident. The answer's sentence keeps its own score
    (at least the threshold when confident), so its label says how sure the model is of that sentence: a wrong
    sentence elsewhere rated 0.93 made a right one rated 0.80 a "strong match"."""
    kept = list(hits)
    if not candidates:
        return Answer(question=question, hits=tuple(kept))
    order, scores = choice_order(question, kept, candidates)
    for i in order:  # best last, so each hit keeps its best-chosen sentence
        kept[candidates[i].hit] = replace(kept[candidates[i].hit], answer=Sentence(*candidates[i].span, scores[i]))
    answer, highest = candidates[order[-1]], max(scores)
    confident = highest >= NO_ANSWER_THRESHOLD
    # its own confidence labels it (a strong match only when it is one), and presented, it is at least a good one
    own = max(scores[order[-1]], NO_ANSWER_THRESHOLD) if confident else scores[order[-1]]
    kept[answer.hit] = best = replace(kept[answer.hit], answer=Sentence(*answer.span, own))
    return Answer(question=question, hits=tuple(kept), best=best, confidence=highest, confident=confident)


def keep_passages(answer: Answer, candidates: Sequence[Candidate], k: int) -> tuple[Answer, list[Candidate]]:
    """The answer with `k` of its passages in `passage_order`, a confident answer's own always among them: the
    first k, or the first k - 1 and the answer's when it ranks lower (an answer that is not confident keeps the
    first k, and its best sentence only if it is among them); the `candidates` of the kept passages follow,
    renumbered."""
    order = passage_order(answer)
    kept = order[:k]
    own = next((i for i, hit in enumerate(answer.hits) if answer.best and hit.chunk_id == answer.best.chunk_id), None)
    if answer.confident and own is not None and own not in kept:
        kept = [*kept[: k - 1], own]
    place = {old: new for new, old in enumerate(kept)}
    hits = {i: ranked(answer.hits[i], order.index(i) + 1) for i in kept}
    return (replace(answer, hits=tuple(hits[i] for i in kept), best=hits[own] if own in place else None),
            [replace(candidate, hit=place[candidate.hit]) for candidate in candidates if candidate.hit in place])


def with_phrase(answer: Answer, model: AnswerModel) -> Answer:
    """The answer with the words of its sentence that state the asked-for fact marked (`AnswerModel.phrase`), when
    it is confident and the model is sure where they stand; unchanged otherwise."""
    if not answer.confident or answer.best is None or answer.best.answer is None:
        return answer
    sentence = answer.best.answer
    found = model.phrase(answer.question, answer.best.answer_text, answer.best.title)
    return replace(answer, phrase=(sentence.start + found[0], sentence.start + found[1])) if found else answer


def passage_order(answer: Answer) -> list[int]:
    """The indexes of the answer's hits in the order they are shown: as ranked, except that a confident answer's
    passage stands first among its document's passages. A story's passage that restates the question often
    outranks its passage with the figure; shown first, the answer is what a reader sees at the top of its story
    (bbc-news: the top passage's marked sentence held an answer for 0.817 of gold-first questions, not 0.718)."""
    order = list(range(len(answer.hits)))
    if not answer.confident or answer.best is None:
        return order
    own = next(i for i, hit in enumerate(answer.hits) if hit.chunk_id == answer.best.chunk_id)
    first = next(i for i, hit in enumerate(answer.hits) if hit.doc_id == answer.best.doc_id)
    return [*order[:first], own, *(i for i in order[first:] if i != own)]


def ranked(hit: Hit, rank: int) -> Hit:
    """The hit (and the copies it stands for) at this rank."""
    return replace(hit, rank=rank, copies=tuple(replace(copy, rank=rank) for copy in hit.copies))


def choice_order(question: str, hits: Sequence[Hit], candidates: Sequence[Candidate]) -> tuple[list[int], list[float]]:
    """The candidates' indexes from least to best chosen (by `choice_scores`, a sentence without confidence only
    after every sentence with some), and each candidate's `confidence`; `candidates[i].hit` indexes `hits`.

    The answer and "what each source says" (qa.sources) both choose by this order, so they show one sentence.
    """
    names = question_names(question)
    named = [named_share(names, stated(hit)) for hit in hits]
    scores = [confidence(question, hits[c.hit].text[slice(*c.span)], c.probability, named[c.hit]) for c in candidates]
    features = np.array([c.features for c in candidates], dtype=np.float32).reshape(-1, len(CHOICE_FEATURES))
    chosen = choice_scores(features)
    return [int(i) for i in np.lexsort((chosen, np.array(scores) > 0))], scores


def confidence(question: str, sentence: str, probability: float, named: float = 1.0) -> float:
    """How sure the assistant is that the sentence answers: the answer model's probability times `named`, the
    share of the question's names (`question_names`) that the sentence's passage or its document's title,
    publisher or author states ("According to the Lakeside Herald, ..."); or 0 when the question asks for a figure, a sum, a length of time or a date (`MEASURES`) and the
    sentence states none it does not already say, or when the sentence tells what an earlier version of its
    article said (`withdrawn`: the publisher's correction withdrew it) and the question is not about corrections.

    Both catch what the bbc-news unanswerable questions are made of: most ask "how much" or "how many" of a
    story that gives no such figure, and the rest are answered best by a sentence about someone else ("Mr
    Ebbers could face ... 85 years" for a question about Yoshiaki Tsutsumi); README, "Answers". A question of
    question words alone ("Who? What is it?") is about nothing a sentence could answer: 0.
    """
    if not query_terms(question) or withdrawn(sentence, question):
        return 0.0
    kind = answer_type(question)
    if kind in MEASURES and not holds_type(kind, question, sentence):
        return 0.0
    return probability * named


def rerank_keys(asked: AskedQuestion, hits: Sequence[Hit], embedder: Embedder, weights: TermWeights,
                stories: Mapping[str, str] | None = None) -> np.ndarray:
    """Per hit: its score + RERANK_WEIGHT * its best sentence's similarity score + PASSAGE_MATCH_WEIGHT * the token
    match of the whole passage + STORY_NAMES_WEIGHT * the share of the question's names its document states
    (`rerank_signals`)."""
    return rerank_signals(asked, hits, embedder, weights, stories) @ np.array(
        [1.0, RERANK_WEIGHT, PASSAGE_MATCH_WEIGHT, STORY_NAMES_WEIGHT])


def rerank_signals(asked: AskedQuestion, hits: Sequence[Hit], embedder: Embedder, weights: TermWeights,
                   stories: Mapping[str, str] | None = None) -> np.ndarray:
    """Per hit, the four signals its rerank key adds up: its fused score, its best sentence's similarity score
    (0 without sentences), the token match of the whole passage, from one embedder run over each passage, and
    the share of the question's names (`question_names`) that its document states. `stories` maps a document id
    to all its document states (`stated`); a hit whose document is not in it is judged by its passage's."""
    names, stories = question_names(asked.text), stories or {}
    signals = []
    for hit, pieces in zip(hits, embedder.encode_tokens([hit.text for hit in hits])):
        own = candidate_sentences(hit)
        best = float(sentence_scores(asked, hit.text, own, pieces, weights).max()) if own else 0.0
        named = named_share(names, stories.get(hit.doc_id) or stated(hit))
        signals.append((hit.score, best, asked.match(pieces.units), named))
    return np.array(signals, dtype=np.float64).reshape(-1, 4)


def stated(source: Hit | Document) -> str:
    """What a passage or a whole document states that can name whom a question is about: its document's title,
    publisher and author, and its text."""
    return f"{source.title}\n{source.publisher}\n{source.author}\n{source.text}"


def answer_candidates(question: str, hits: Sequence[Hit], keys: np.ndarray | None, model: AnswerModel
                      ) -> list[Candidate]:
    """Every candidate sentence of the hits with the answer model's probability and its CHOICE_FEATURES.

    `keys` are the hits' rerank keys (None when they were not reranked: every passage then counts alike).
    """
    candidates, kind = [], answer_type(question)
    for number, hit in enumerate(hits):
        spans, probabilities = rated_sentences(question, hit, model)
        gap = float(keys[number] - keys.max()) if keys is not None else 0.0
        for position, (span, probability) in enumerate(zip(spans, probabilities)):
            sentence = hit.text[slice(*span)]
            lead = float(hit.start == 0 and position == 0)
            asked_kind = float(bool(kind) and holds_type(kind, question, sentence))
            features = (logit(probability), lead, gap, asked_kind, float(refers_back(sentence)))
            candidates.append(Candidate(number, span, float(probability), features))
    return candidates


def choice_scores(features: np.ndarray) -> np.ndarray:
    """How strongly each candidate is chosen as the answer: CHOICE_WEIGHTS . its CHOICE_FEATURES."""
    return features @ np.array([CHOICE_WEIGHTS[name] for name in CHOICE_FEATURES], dtype=np.float32)


def logit(probability: float) -> float:
    """log(p / (1 - p)), with p kept off 0 and 1."""
    p = min(max(float(probability), 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def rated_sentences(question: str, hit: Hit, model: AnswerModel) -> tuple[list[tuple[int, int]], np.ndarray]:
    """The hit's candidate sentence spans and the answer model's probability for each."""
    own = candidate_sentences(hit)
    return own, model.probabilities(question, [hit.text[start:end] for start, end in own], hit.title)


def sentence_scores(asked: AskedQuestion, text: str, spans: Sequence[tuple[int, int]], pieces: TokenVectors,
                    weights: TermWeights) -> np.ndarray:
    """Per sentence span of `text` (whose word pieces are `pieces`): lexical score + cosine of the question
    with the sentence's pooled pieces + SENTENCE_MATCH_WEIGHT * token match. A sentence past the model's
    window has no pieces and is scored by its words alone."""
    scores = lexical_scores(asked.text, [text[start:end] for start, end in spans], weights)
    starts, ends = pieces.spans[:, 0], pieces.spans[:, 1]
    for i, (start, end) in enumerate(spans):
        inside = (ends > start) & (starts < end) & (ends > starts)
        if inside.any():
            scores[i] += float(unit(pieces.vectors[inside].mean(axis=0)) @ asked.tokens.sentence)
            scores[i] += SENTENCE_MATCH_WEIGHT * asked.match(pieces.units[inside])
    return scores


def piece_weights(question: str, spans: np.ndarray, weights: TermWeights) -> np.ndarray:
    """Per word piece of the question: the idf of the (stemmed) word it belongs to, 0 for stop words, question
    words and punctuation; all 1 when no word has a weight (a question of such words only)."""
    words = [match.span() for match in re.finditer(r"\w+", question)]
    terms = [found[0] if found and found[0] not in QUESTION_WORDS else ""
             for found in tokenize([question[s:e] for s, e in words])]
    known = sorted({term for term in terms if term})
    idf = dict(zip(known, weights(known))) if known else {}
    importance = np.zeros(len(spans), dtype=np.float32)
    for (start, end), term in zip(words, terms):
        if term:
            importance[(spans[:, 0] >= start) & (spans[:, 1] <= end)] = idf[term]
    return importance if importance.sum() > 0 else np.ones(len(spans), dtype=np.float32)


def token_match(question: np.ndarray, importance: np.ndarray, pieces: np.ndarray) -> float:
    """For each question piece its best cosine with any of `pieces`, averaged with `importance` as weights.

    This is ColBERT's late interaction ("MaxSim") on MiniLM's contextual word-piece vectors: it credits a
    passage that says each important word of the question, or a close paraphrase of it, wherever it says it.
    Inputs are unit vectors; 0 when either side is empty.
    """
    if not len(question) or not len(pieces) or importance.sum() <= 0:
        return 0.0
    return float((question @ pieces.T).max(axis=1) @ importance / importance.sum())


def candidate_sentences(hit: Hit) -> list[tuple[int, int]]:
    """The hit's sentence spans, without a line that is only the document's title (unless nothing else is left)."""
    spans = split_sentences(hit.text)
    title = " ".join(hit.title.split()).lower()
    kept = [(s, e) for s, e in spans if " ".join(hit.text[s:e].split()).lower() != title] if title else spans
    return kept or spans
