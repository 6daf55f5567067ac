"""Train the answer-phrase head (`qa.answer_model.PhraseHead`) over the shipped answer model's word-piece vectors.

The answer model says which sentence answers; this head says which words of it do ("three drones" in "...was
carried out by three drones carrying explosives..."), so the page can mark them. The answer model was trained
beside a span head (scripts/train_answer_model.py) that was not shipped; its output vectors already place the
answer, and a linear head over them, fit here in seconds, learns to read where. The model itself is not changed.

Data recipe (squad-public, SQuAD v1.1 dev; the held-out articles of train_answer_model.py are never fit on):
each question of a training article with each sentence of its gold paragraph that holds an answer string, read
after the article's title as at run time; the target is the first and last word piece of the longest answer
string in it. Threshold: a phrase is marked only when its probability reaches the lowest level at which, out of
fold (the training articles in FOLDS folds by article), PRECISION of the phrases hold an answer string.
Validation, printed and written to models/answer-phrase.json: the right sentences of the held-out SQuAD articles
and of the bbc-news public questions' gold articles; the share given a phrase, of those the share holding an
answer string, and the exact matches (SQuAD's normalisation).

    python scripts/train_answer_phrase.py ../shared/eval/squad-public ../shared/eval/bbc-news

About 2 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import string
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from qa.answer_model import (MODEL_DIR, PHRASE_FILE, AnswerModel, Pieces, PhraseHead,  # noqa: E402
                             in_context, locate_phrase)
from qa.cli import reporting_failures  # noqa: E402
from qa.evaluation import contains_answer, read_jsonl  # noqa: E402
from train_answer_model import SEED, held_out_titles, sentences_of, span_targets  # noqa: E402

logger = logging.getLogger("train_answer_phrase")

MAX_PIECES = 20  # longest phrase, in word pieces: bbc-news answers are 1-8 words, SQuAD's a few more
EPOCHS = 10
BATCH = 256
LEARNING_RATE = 1e-2
WEIGHT_DECAY = 1e-3
FOLDS = 2  # of the training articles, for the out-of-fold threshold
PRECISION = 0.9  # share of marked phrases that hold an answer string, out of fold, at the threshold


@dataclass(frozen=True)
class Example:
    """A right sentence for a question: the model's pieces of the pair, the answer strings, the target pieces."""

    article: str
    sentence: str
    answers: tuple[str, ...]
    pieces: Pieces
    target: tuple[int, int]


def examples(model: AnswerModel, records: list[tuple[str, str, str, tuple[str, ...]]]) -> list[Example]:
    """Per (article title, question, text, answers), an Example for each sentence of the text holding an answer,
    when the answer lies inside the model's window."""
    made = []
    for title, question, text, answers in tqdm(records, desc="word pieces", unit="question", mininterval=5):
        for sentence in sentences_of(text):
            if not contains_answer(sentence, list(answers)):
                continue
            target = span_targets(model.tokenizer, [(question, in_context(sentence, title))], [answers])[0].tolist()
            if target[0] >= 0:
                made.append(Example(title, sentence, answers, model.pieces(question, sentence, title), tuple(target)))
    return made


def squad_records(folder: Path) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(article title, question, gold paragraph, answers) of every squad-public question."""
    paragraphs = {record["_id"]: record for record in read_jsonl(folder / "corpus.jsonl")}
    return [(paragraphs[gold]["title"], query["text"], paragraphs[gold]["text"], tuple(query["metadata"]["answers"]))
            for query in read_jsonl(folder / "queries.jsonl")
            if (gold := query["metadata"]["gold_paragraph"]) in paragraphs]


def bbc_records(folder: Path) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(article title, question, gold article, answers) of the bbc-news public questions (first gold article)."""
    articles = {record["_id"]: record for record in read_jsonl(folder / "corpus.jsonl")}
    return [(articles[gold]["title"], query["text"], articles[gold]["text"], tuple(query["metadata"]["answers"]))
            for query in read_jsonl(folder / "queries.jsonl") if (gold := query["metadata"]["gold"][0]) in articles]


def fit(train: list[Example], seed: int) -> PhraseHead:
    """A linear head (start and end score per piece) fit by cross-entropy of the target pieces among the
    sentence's pieces; threshold and max_pieces are filled in by the caller."""
    torch.manual_seed(seed)
    width = max(len(example.pieces.offsets) for example in train)
    vectors = np.zeros((len(train), width, train[0].pieces.vectors.shape[1]), dtype=np.float32)
    allowed = np.zeros((len(train), width), dtype=bool)
    for row, example in enumerate(train):
        vectors[row, : len(example.pieces.offsets)] = example.pieces.vectors
        allowed[row, : len(example.pieces.offsets)] = example.pieces.allowed
    x, mask = torch.from_numpy(vectors), torch.from_numpy(allowed)
    y = torch.tensor([example.target for example in train])
    head = torch.nn.Linear(x.shape[-1], 2)
    optimizer = torch.optim.Adam(head.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    for _ in range(EPOCHS):
        order = torch.randperm(len(x))
        for at in range(0, len(x), BATCH):
            batch = order[at : at + BATCH]
            scores = head(x[batch]).masked_fill(~mask[batch].unsqueeze(-1), -1e4)
            loss = 0.5 * (torch.nn.functional.cross_entropy(scores[:, :, 0], y[batch, 0])
                          + torch.nn.functional.cross_entropy(scores[:, :, 1], y[batch, 1]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return PhraseHead(head.weight.detach().numpy().T.copy(), head.bias.detach().numpy().copy(), 0.0, MAX_PIECES)


def located(head: PhraseHead, rows: list[Example]) -> list[tuple[str, float, Example]]:
    """(phrase, probability, example) per example."""
    found = []
    for example in rows:
        span, probability = locate_phrase(head, example.pieces, example.sentence) or ((0, 0), 0.0)
        found.append((example.sentence[slice(*span)], probability, example))
    return found


def threshold_for(found: list[tuple[str, float, Example]], precision: float) -> float:
    """The lowest probability at which the phrases at or above it hold an answer string for `precision` of them."""
    ranked = sorted(((probability, contains_answer(phrase, list(example.answers)))
                     for phrase, probability, example in found), reverse=True)
    holding = np.cumsum([holds for _, holds in ranked]) / np.arange(1, len(ranked) + 1)
    good = [i for i in range(len(ranked)) if holding[i] >= precision]
    return float(ranked[max(good)][0]) if good else 1.0


def normal(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def figures(found: list[tuple[str, float, Example]], threshold: float) -> dict[str, float]:
    """Share given a phrase; of those, share holding an answer string and exact matches; and over all right
    sentences (no threshold), the share whose best phrase holds an answer."""
    given = [(phrase, example) for phrase, probability, example in found if probability >= threshold]
    return {
        "right_sentences": len(found),
        "phrase_given": round(len(given) / len(found), 3),
        "given_holds_answer": round(np.mean([contains_answer(p, list(e.answers)) for p, e in given]), 3),
        "given_exact": round(np.mean([any(normal(p) == normal(a) for a in e.answers) for p, e in given]), 3),
        "best_phrase_holds_answer_without_threshold": round(
            np.mean([contains_answer(p, list(e.answers)) for p, _, e in found]), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path, help="squad-public folder (corpus.jsonl, queries.jsonl)")
    parser.add_argument("bbc", type=Path, help="bbc-news folder, for validation only")
    parser.add_argument("--model", type=Path, default=MODEL_DIR, help="answer model folder; the head is written there")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.time()
    model = AnswerModel(args.model)
    records = squad_records(args.squad)
    held_out = set(held_out_titles({title for title, *_ in records}))
    train = examples(model, [r for r in records if r[0] not in held_out])
    valid = examples(model, [r for r in records if r[0] in held_out])
    bbc = examples(model, bbc_records(args.bbc))
    logger.info("fitting on %d right sentences; validating on %d held-out SQuAD and %d bbc-news", len(train),
                len(valid), len(bbc))

    articles = sorted({example.article for example in train})
    out_of_fold = []
    for fold in range(FOLDS):
        kept = {article for i, article in enumerate(articles) if i % FOLDS != fold}
        head = fit([e for e in train if e.article in kept], SEED)
        out_of_fold += located(head, [e for e in train if e.article not in kept])
    threshold = threshold_for(out_of_fold, PRECISION)
    head = fit(train, SEED)
    report = {"squad_held_out": figures(located(head, valid), threshold),
              "bbc_news": figures(located(head, bbc), threshold)}
    logger.info("threshold %.3f; %s", threshold, json.dumps(report))

    (args.model / PHRASE_FILE).write_text(json.dumps({
        "what": "linear head over the answer model's word-piece vectors: start and end score per piece "
                "(qa.answer_model.PhraseHead); made by scripts/train_answer_phrase.py",
        "data": "squad-public right sentences (holding an answer string) of the training articles, read after "
                "the article title; target: the longest answer string's first and last word piece",
        "held_out_articles": sorted(held_out),
        "seed": SEED, "epochs": EPOCHS, "learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY,
        "train_sentences": len(train),
        "threshold_rule": f"lowest probability at which {PRECISION} of the phrases hold an answer string, out of "
                          f"fold ({FOLDS} folds by article of the training articles)",
        "threshold": round(threshold, 4),
        "max_pieces": MAX_PIECES,
        "validation": report,
        "bias": [round(float(value), 6) for value in head.bias],
        "weight": [[round(float(value), 6) for value in row] for row in head.weight],
    }, indent=1) + "\n")
    logger.info("wrote %s in %.0f s", args.model / PHRASE_FILE, time.time() - started)


if __name__ == "__main__":
    sys.exit(reporting_failures(main))
