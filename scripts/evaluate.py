"""Measure the pipeline on a BEIR-format set: scripts/evaluate.py DATA_DIR [--out benchmarks/results] [--split train].

The same as `python -m qa eval DATA_DIR ...`: indexes the set with the project's own pipeline (cached in
the system temp folder under qa-eval-cache/), runs dense, BM25, hybrid and ask, and writes
eval-<set>.json and eval-<set>.md with the date and the machine (eval-<set>-heldout.* with
--held-out: only the questions of the articles the answer model was not trained on). Not a test: it takes minutes.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["eval", *sys.argv[1:]]))
