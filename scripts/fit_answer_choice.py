"""Fit the weights that choose the answer sentence (qa.answer.CHOICE_WEIGHTS) and write them into the model card.

    python scripts/fit_answer_choice.py ../shared/eval/bbc-news ../shared/eval/squad-public [--most 800]

Each set is indexed with the project's pipeline (the same cache as `python -m qa eval`), each answerable question
is asked, and every candidate sentence of the 5 passages `ask` keeps is recorded with its CHOICE_FEATURES
(the answer model's logit, whether it is a story's lead, its passage's rerank gap, whether it states the kind
of answer asked for, whether it opens by pointing back to the sentence before) and whether it holds an
answer string. The weights maximise the likelihood that, among a question's candidates, a right one is chosen
(a softmax over candidates, each set weighing the same, L2 = 0.01, questions without a right candidate left
out). SQuAD questions of the articles the answer model was held out on are never used. Printed and written to
the card: per set, the share of questions whose chosen sentence is right with the answer model alone, with the
weights fit on all, and in 5-fold cross-validation over questions (the held-out figure to trust).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.answer import CHOICE_FEATURES  # noqa: E402
from qa.answer_model import CARD_FILE, MODEL_DIR, read_card  # noqa: E402
from qa.cli import reporting_failures  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.embedding import Embedder  # noqa: E402
from qa.evaluation import cached_index_dir, contains_answer, held_out_articles, load_beir, open_index  # noqa: E402

L2 = 0.01
FOLDS = 5
SEED = 13

Group = tuple[np.ndarray, np.ndarray]  # one question: candidate features (n, F) and labels (n,)


def question_groups(folder: Path, settings: Settings, embedder: Embedder, most: int) -> list[Group]:
    """(features, labels) of the candidates of at most `most` answerable questions of the set, evenly spread."""
    beir = load_beir(folder)
    every = -(-len(beir.queries) // most)
    held = set(held_out_articles())
    retriever = open_index(beir, replace(settings, index_dir=cached_index_dir(folder, settings)), embedder)
    groups = []
    for query in tqdm(beir.queries[::every], desc=beir.name, unit="question"):
        if not query.answers or beir.gold_titles(query.query_id) & held:
            continue
        hits, candidates = retriever.rated(query.text, k=5)
        if not candidates:
            continue
        labels = [contains_answer(hits[c.hit].text[slice(*c.span)], query.answers) for c in candidates]
        groups.append((np.array([c.features for c in candidates], dtype=np.float32), np.array(labels, np.float32)))
    return groups


def fit(per_set: list[list[Group]]) -> np.ndarray:
    """Weights maximising the softmax likelihood of a right candidate per question, each set weighing the same
    (a set of 77 news questions counts as much as 500 SQuAD ones), with L2 on all but the logit's weight."""
    learnable = [[(torch.tensor(x), torch.tensor(y) > 0) for x, y in groups if y.any()] for groups in per_set]
    learnable = [groups for groups in learnable if groups]
    weights = torch.tensor([1.0] + [0.0] * (len(CHOICE_FEATURES) - 1), requires_grad=True)
    optimizer = torch.optim.LBFGS([weights], max_iter=500)

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = sum(sum(torch.logsumexp(x @ weights, 0) - torch.logsumexp((x @ weights)[right], 0)
                        for x, right in groups) / len(groups) for groups in learnable) / len(learnable)
        value = value + L2 * (weights[1:] ** 2).sum()
        value.backward()
        return value

    optimizer.step(loss)
    return weights.detach().numpy()


def right_share(groups: list[Group], weights: np.ndarray) -> float:
    """Share of questions whose highest-scored candidate holds an answer."""
    return float(np.mean([y[int(np.argmax(x @ weights))] for x, y in groups]))


def cross_validated(per_set: dict[str, list[Group]]) -> dict[str, float]:
    """Per set, right_share of each question with weights fit on the folds (of all sets) it is not in."""
    tagged = [(name, group) for name, groups in per_set.items() for group in groups]
    fold_of = np.random.default_rng(SEED).permutation(len(tagged)) % FOLDS
    right = {name: 0.0 for name in per_set}
    for fold in range(FOLDS):
        weights = fit([[group for (set_name, group), f in zip(tagged, fold_of) if f != fold and set_name == name]
                       for name in per_set])
        for (name, (x, y)), f in zip(tagged, fold_of):
            if f == fold:
                right[name] += float(y[int(np.argmax(x @ weights))])
    return {name: right[name] / max(len(groups), 1) for name, groups in per_set.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", type=Path, help="BEIR-format folders with answer strings")
    parser.add_argument("--most", type=int, default=800, help="questions per set at most, evenly spread (default 800)")
    parser.add_argument("--card", type=Path, default=MODEL_DIR / CARD_FILE)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.from_env()
    embedder = Embedder.from_settings(settings)
    per_set = {folder.resolve().name: question_groups(folder, settings, embedder, args.most) for folder in args.sets}
    weights = fit(list(per_set.values()))
    alone = np.array([1.0] + [0.0] * (len(CHOICE_FEATURES) - 1))
    held = cross_validated(per_set)
    figures = {name: {"questions": len(groups), "answer_model_alone": round(right_share(groups, alone), 3),
                      "fit_on_all": round(right_share(groups, weights), 3),
                      "cross_validated": round(held[name], 3)} for name, groups in per_set.items()}
    card = read_card(args.card.parent)
    card["choice_weights"] = {name: round(float(w), 4) for name, w in zip(CHOICE_FEATURES, weights)}
    card["choice_fit"] = {"rule": __doc__.split("\n\n")[2].replace("\n", " "), "sets": figures}
    args.card.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps({"choice_weights": card["choice_weights"], "sets": figures}, indent=2))


if __name__ == "__main__":
    sys.exit(reporting_failures(main))
