"""End to end in a real browser: the real `streamlit run app.py` server, Debian's headless Chromium
driven by Playwright, a real index of the bundled corpus plus one hostile document.

Skips only when Chromium or the playwright package is missing (CI installs both: see .ci/run and
requirements.txt). Playwright never downloads a browser here; it drives /usr/bin/chromium.
Screenshots go to test-output/ (gitignored) so a person can look at what the test saw.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa import Embedder, Settings, sync

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "test-output"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SEED_QUESTION = "who was suspected of the Kadhimi attack"
HOSTILE = ('---\ntitle: "<script>window.injected = 1</script> Harbour notes"\npublisher: Elmsby Gazette\n'
           'date: 2021-12-01\n---\nThe lighthouse at Port Elmsby was painted bright green '
           '<img src=x onerror="window.injected = 2"> by volunteers in December.\n')
WAIT_MS = 120_000  # the first question loads the model in the server: generous, and only an upper bound

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                "(apt-get install -y chromium); .ci/run installs it")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path, seconds: float = 90) -> None:
    """Poll Streamlit's health endpoint until it answers "ok"; fail with the server log if it dies."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not start within {seconds} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    """The real page on a free local port, over a fresh index; stopped (and waited for) at the end."""
    root = tmp_path_factory.mktemp("browser")
    corpus = root / "corpus"
    corpus.mkdir()
    for article in (REPO / "corpus").glob("*.txt"):
        (corpus / article.name).write_bytes(article.read_bytes())
    (corpus / "harbour.txt").write_text(HOSTILE)
    settings = Settings(corpus_dir=corpus, index_dir=root / "index")
    sync(settings, embedder)

    port = free_port()
    env = {**os.environ, "QA_CORPUS_DIR": str(corpus), "QA_INDEX_DIR": str(settings.index_dir),
           "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    env.pop("QA_MODEL", None)
    log = root / "streamlit.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(REPO / "app.py"), "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false"],
            cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def ask(page: object, question: str) -> None:
    box = page.get_by_placeholder("Ask a question about the articles")
    box.wait_for(timeout=WAIT_MS)
    box.fill(question)
    box.press("Enter")


def test_seed_question_in_a_real_browser(server: str, browser: object) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(server)
    ask(page, SEED_QUESTION)
    answer = page.locator(".qa-answer")
    answer.wait_for(timeout=WAIT_MS)
    sync_api.expect(answer.first).to_contain_text("Kataeb Sayyid al-Shuhada is the key suspect")
    sync_api.expect(page.locator("mark").filter(has_text="Kataeb Sayyid al-Shuhada").first).to_be_visible()
    sync_api.expect(page.locator(".qa-source")).to_contain_text("Middle East Eye")
    page.locator("h1").scroll_into_view_if_needed()
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "browser-answer.png")

    page.get_by_role("button", name="Open in context").first.click()
    dialog = page.get_by_role("dialog")
    sync_api.expect(dialog.locator("mark#qa-passage")).to_be_visible(timeout=WAIT_MS)
    sync_api.expect(dialog).to_contain_text("At the time, no one really noticed.")
    page.screenshot(path=OUTPUT / "browser-context.png")
    page.close()


def test_hostile_document_is_shown_as_text_at_phone_width(server: str, browser: object) -> None:
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(server)
    ask(page, "what colour was the lighthouse painted")
    passage = page.locator(".qa-text").filter(has_text="painted bright green").first
    passage.wait_for(timeout=WAIT_MS)
    sync_api.expect(passage).to_contain_text('<img src=x onerror="window.injected = 2">')
    sync_api.expect(page.locator(".qa-answer")).to_contain_text("painted bright green")
    sync_api.expect(page.locator(".qa-source")).to_contain_text("<script>window.injected = 1</script> Harbour notes")
    assert page.evaluate("window.injected") is None  # no corpus markup ran
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "browser-phone.png")
    page.close()
