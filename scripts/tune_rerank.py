"""Grid over the rerank's weights (qa.answer.RERANK_WEIGHT, PASSAGE_MATCH_WEIGHT, then STORY_NAMES_WEIGHT): per set,
the share of questions whose best-keyed passage of the top RERANK_DEPTH hybrid hits is from a gold document.

    python scripts/tune_rerank.py ../shared/eval/bbc-news ../shared/eval/squad-public [--every 1]

Each set is indexed with the project's pipeline (the same cache as `python -m qa eval`); each question's top hits
and their four rerank signals (`rerank_signals`: fused score, best sentence's score, token match of the
passage, share of the question's names its document states) are computed once, then every pair of weights
re-keys them (with the shipped STORY_NAMES_WEIGHT), and every story-names weight with the shipped pair. SQuAD questions of the articles the
answer model was held out on are left out, so the held-out report stays fair. About 20 minutes for all
4,557 SQuAD questions on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.answer import (PASSAGE_MATCH_WEIGHT, RERANK_DEPTH, RERANK_WEIGHT, STORY_NAMES_WEIGHT,  # noqa: E402
                       AskedQuestion, rerank_signals)
from qa.cli import reporting_failures  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.embedding import Embedder  # noqa: E402
from qa.evaluation import cached_index_dir, held_out_articles, load_beir, open_index  # noqa: E402

SENTENCE_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
PASSAGE_WEIGHTS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)
STORY_WEIGHTS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 1.0)

Question = tuple[np.ndarray, np.ndarray]  # one question's hits: rerank signals (n, 4) and whether each is gold (n,)


def question_signals(folder: Path, settings: Settings, embedder: Embedder, every: int) -> list[Question]:
    """(signals, gold) of the top RERANK_DEPTH hybrid hits of every `every`-th question the answer model may see."""
    beir = load_beir(folder)
    held = set(held_out_articles())
    retriever = open_index(beir, replace(settings, index_dir=cached_index_dir(folder, settings)), embedder)
    questions = []
    for query in tqdm(beir.queries[::every], desc=beir.name, unit="question"):
        if beir.gold_titles(query.query_id) & held:
            continue
        hits = retriever.search(query.text, k=RERANK_DEPTH, mode="hybrid")
        if not hits:
            continue
        asked = AskedQuestion.encode(retriever.check_question(query.text), embedder, retriever.store.idf)
        gold = {doc_id for doc_id, grade in beir.qrels[query.query_id].items() if grade > 0}
        questions.append((rerank_signals(asked, hits, embedder, retriever.store.idf, retriever.stories(hits)),
                          np.array([hit.doc_id in gold for hit in hits])))
    return questions


def gold_first(questions: list[Question], sentence_weight: float, passage_weight: float,
               story_weight: float = STORY_NAMES_WEIGHT) -> float:
    """Share of the questions whose hit with the highest rerank key under these weights is gold."""
    weights = np.array([1.0, sentence_weight, passage_weight, story_weight])
    return float(np.mean([gold[np.argmax(signals @ weights)] for signals, gold in questions]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sets", nargs="+", type=Path, help="BEIR-format set folders (e.g. bbc-news, squad-public)")
    parser.add_argument("--every", type=int, default=1, help="use every n-th question only (default 1: all)")
    args = parser.parse_args()
    settings = Settings.from_env()
    embedder = Embedder.from_settings(settings)
    per_set = {folder.name: question_signals(folder, settings, embedder, args.every) for folder in args.sets}
    print("gold passage first after the rerank, per set (" + " / ".join(per_set) + "); rows: RERANK_WEIGHT, "
          "columns: PASSAGE_MATCH_WEIGHT")
    print("| | " + " | ".join(f"{weight:g}" for weight in PASSAGE_WEIGHTS) + " |")
    print("|---" * (len(PASSAGE_WEIGHTS) + 1) + "|")
    for sentence_weight in SENTENCE_WEIGHTS:
        cells = [" / ".join(f"{gold_first(questions, sentence_weight, passage_weight):.3f}"
                            for questions in per_set.values()) for passage_weight in PASSAGE_WEIGHTS]
        print(f"| {sentence_weight:g} | " + " | ".join(cells) + " |")
    print(f"\nthe same with RERANK_WEIGHT {RERANK_WEIGHT:g} and PASSAGE_MATCH_WEIGHT {PASSAGE_MATCH_WEIGHT:g}; columns: "
          "STORY_NAMES_WEIGHT")
    print("| " + " | ".join(f"{weight:g}" for weight in STORY_WEIGHTS) + " |")
    print("|---" * len(STORY_WEIGHTS) + "|")
    print("| " + " | ".join(" / ".join(f"{gold_first(questions, RERANK_WEIGHT, PASSAGE_MATCH_WEIGHT, weight):.3f}"
                                       for questions in per_set.values()) for weight in STORY_WEIGHTS) + " |")


if __name__ == "__main__":
    sys.exit(reporting_failures(main))
