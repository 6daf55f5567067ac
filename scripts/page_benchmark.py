"""Seconds from pressing Enter to a new answer shown and the page settled, in the browser, as a notebook grows.

Runs the real page (`streamlit run app.py`) on an index of the bundled corpus in a scratch folder, drives Debian's
headless Chromium with Playwright, asks the seed questions into one notebook until it holds --questions of them,
and times each answer: from Enter to the new question on screen and Streamlit's running indicator gone. Prints the
times at each notebook size and writes them to benchmarks/results/bench-page-<date>.{json,md}.

    python scripts/page_benchmark.py --questions 30
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qa import Embedder, Settings, sync  # noqa: E402
from qa.cli import reporting_failures  # noqa: E402
from qa.evaluation import machine  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
MEASURED_EVERY = 10  # the notebook sizes reported: 1, 11, 21... questions before the one timed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answer_times(url: str, questions: list[str], count: int) -> list[tuple[int, float]]:
    """(questions already in the notebook, seconds) for each of `count` questions asked in a row."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url, timeout=120_000)
        box = page.get_by_placeholder("Ask a question about the articles")
        box.wait_for(timeout=120_000)
        for number in range(count):
            before = page.locator(".qa-question").count()
            start = time.perf_counter()
            box.fill(questions[number % len(questions)])
            box.press("Enter")
            page.wait_for_function(f"document.querySelectorAll('.qa-question').length > {before}", timeout=120_000)
            page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=120_000)
            times.append((before, time.perf_counter() - start))
        browser.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=30, help="questions asked into the notebook (default 30)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results",
                        help="where to write the figures (default benchmarks/results)")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(f"error: the benchmark drives {CHROMIUM}; install Debian's chromium package")
    scratch = Path(tempfile.mkdtemp(prefix="qa-page-bench-"))
    try:
        settings = Settings(corpus_dir=scratch / "corpus", index_dir=scratch / "index")
        shutil.copytree(REPO / "corpus", settings.corpus_dir, ignore=shutil.ignore_patterns(".*"))
        sync(settings, Embedder())
        port = free_port()
        env = {**os.environ, "QA_CORPUS_DIR": str(settings.corpus_dir), "QA_INDEX_DIR": str(settings.index_dir),
               "HF_HUB_OFFLINE": "1"}
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
                                  cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(8)
            questions = [item["question"] for item in json.loads((REPO / "tests" / "seed_questions.json").read_text())]
            times = answer_times(f"http://localhost:{port}/?notebook=bench", questions, args.questions)
        finally:
            server.terminate()
            server.wait()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = []
    for first in range(0, len(times), MEASURED_EVERY):
        group = [seconds for _, seconds in times[first:first + MEASURED_EVERY]]
        rows.append({"notebook": f"{first}-{first + len(group) - 1} questions", "median_s": float(np.median(group)),
                     "max_s": float(np.max(group))})
        print(f"notebook of {rows[-1]['notebook']}: answer shown and settled in {rows[-1]['median_s']:.2f} s "
              f"(median), {rows[-1]['max_s']:.2f} s (max)")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": machine(), "times": times, "rows": rows}
    (args.out / f"bench-page-{stamp}.json").write_text(json.dumps(report, indent=2))
    table = "\n".join(f"| {row['notebook']} | {row['median_s']:.2f} | {row['max_s']:.2f} |" for row in rows)
    (args.out / f"bench-page-{stamp}.md").write_text(
        f"# Page: time to a new answer as a notebook grows\n\n{report['date']}; {machine()['cores']} cores, "
        f"{machine()['cpu']}. Seed corpus, headless Chromium, from Enter to the answer shown and the page "
        f"settled.\n\n| notebook | median s | max s |\n| --- | --- | --- |\n{table}\n")
    print(f"wrote {args.out / f'bench-page-{stamp}.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(reporting_failures(main))
