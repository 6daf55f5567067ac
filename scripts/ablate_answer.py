"""Switch off each answer rule and choice signal in turn, and measure the answers on news sets.

Whether a rule that was fit on one set of questions holds on another: each row runs `ask` over every question of
each set with one piece of `qa.answer` switched off (the names share of the confidence, the rule that a question
asking for a measure is not answered by a sentence stating none, or one of the choice weights), and prints the
share of answer sentences holding an answer and of unanswerable questions declined.

    python scripts/ablate_answer.py ../shared/eval/bbc-news benchmarks/devsets/bbc-dev

About a minute per set and row on 2 cores, once the sets' indexes are cached (`python -m qa eval` builds them).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import qa.answer as answer  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.embedding import Embedder  # noqa: E402
from qa.evaluation import benchmark, cached_index_dir  # noqa: E402

logger = logging.getLogger("ablate_answer")


def weight_off(name: str) -> Callable[[], None]:
    """Set one choice weight to 0."""
    return lambda: answer.CHOICE_WEIGHTS.update({name: 0.0})


SWITCHES: dict[str, Callable[[], None]] = {
    "nothing (as shipped)": lambda: None,
    "names share": lambda: setattr(answer, "named_share", lambda names, text: 1.0),
    "measure veto": lambda: setattr(answer, "MEASURES", ()),
    **{f"choice: {name}": weight_off(name) for name in answer.CHOICE_FEATURES if name != "logit"},
}


def measure(folders: list[str], settings: Settings, embedder: Embedder, cache: str | None) -> list[str]:
    """Per set: answer sentence right, gold article first, answerable answered, unanswerable declined."""
    cells = []
    for folder in folders:
        report = benchmark(folder, replace(settings, index_dir=cached_index_dir(folder, settings, cache)), embedder,
                           modes=("hybrid",), calibrate=False)
        answers, decisions = report["answers"], report["decisions"]
        declined = decisions.get("unanswerable declined")
        cells.append(f"{answers['answer sentence contains an answer']:.3f} / "
                     f"{answers['gold document first']:.3f} / {decisions['answerable answered']:.3f} / "
                     + ("-" if declined is None else f"{declined:.3f}"))
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="+", help="BEIR-format folders with answers (bbc-news, bbc-dev)")
    parser.add_argument("--cache", help="folder of cached benchmark indexes (as `python -m qa eval --cache`)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    settings = Settings.from_env()
    embedder = Embedder.from_settings(settings)
    saved = (dict(answer.CHOICE_WEIGHTS), answer.named_share, answer.MEASURES)
    header = " | ".join(Path(folder).name for folder in args.sets)
    print(f"switched off | {header} (answer sentence right / gold first / answered / unanswerable declined)")
    for name, switch in SWITCHES.items():
        switch()
        print(f"{name} | " + " | ".join(measure(args.sets, settings, embedder, args.cache)), flush=True)
        answer.CHOICE_WEIGHTS.update(saved[0])
        answer.named_share, answer.MEASURES = saved[1], saved[2]


if __name__ == "__main__":
    main()
