"""End to end in a real browser: the real `streamlit run app.py` server, Debian's headless Chromium
driven by Playwright, a real index of the bundled corpus plus one hostile document.

Skips only when Chromium or the playwright package is missing (CI installs both: see .ci/run and
requirements.txt). Playwright never downloads a browser here; it drives /usr/bin/chromium.
Screenshots go to test-output/ (gitignored) so a person can look at what the test saw.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
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
# Here two reports name a suspect: the bundled Middle East Eye article and the follow-up written below. Either
# sentence answers (the bundled corpus alone answers with the first: tests/test_seed_questions.py), and the
# answer is attributed to the report that states it; "what each source says" shows both.
SUSPECTS = {"Kataeb Sayyid al-Shuhada is the key suspect": "Middle East Eye",
            "Kataeb Hezbollah is suspected of the strike": "Baghdad Courier"}
HOSTILE = ('---\ntitle: "<script>window.injected = 1</script> Harbour notes"\npublisher: Elmsby Gazette\n'
           'date: 2021-12-01\n---\nThe lighthouse at Port Elmsby was painted bright green '
           '<img src=x onerror="window.injected = 2"> by volunteers in December.\n')
FOLLOW_UP = "kadhimi-follow-up.html"  # a saved news page: its address is the page's canonical link
FOLLOW_UP_URL = "https://news.example.org/2022/01/kadhimi-drone-attack-follow-up"
FOLLOW_UP_TEXT = (
    "<!doctype html><html><head><title>Two months on, no one charged for the Kadhimi drone attack | Baghdad Courier"
    '</title><meta property="og:title" content="Two months on, no one charged for the Kadhimi drone attack">'
    '<meta property="og:site_name" content="Baghdad Courier"><meta name="author" content="Nadia Hassan">'
    '<meta property="article:published_time" content="2022-01-15T09:00:00Z">'
    f'<link rel="canonical" href="{FOLLOW_UP_URL}"></head><body>'
    '<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>'
    "<article><h1>Two months on, no one charged for the Kadhimi drone attack</h1>"
    "<p>Two months after the drone attack on Prime Minister Mustafa al-Kadhimi's residence, no one has been "
    "charged. Investigators now say Kataeb Hezbollah is suspected of the strike on the residence, though "
    "the group denied it.</p></article><footer>Subscribe to our newsletter. All rights reserved.</footer>"
    "</body></html>")
INQUIRY_TEXT = ("---\ntitle: Kadhimi inquiry reports\npublisher: Tigris Times\ndate: 2021-12-10\n"
                "url: https://tigris.example.net/kadhimi-inquiry\n---\n"
                "The committee investigating the attack on Kadhimi's house said the drones were launched from east of "
                "Baghdad. It named no suspect.\n")
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}
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


@contextmanager
def streamlit_server(settings: Settings, log: Path) -> Iterator[str]:
    """The real page (`streamlit run app.py`) on a free local port over the index of `settings`; stopped (and
    waited for) at the end."""
    port = free_port()
    env = {**os.environ, "QA_CORPUS_DIR": str(settings.corpus_dir), "QA_INDEX_DIR": str(settings.index_dir),
           "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    env.pop("QA_MODEL", None)
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
def server(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    """The page over a fresh index of the bundled corpus, one hostile document and two dated follow-ups with
    their original addresses."""
    root = tmp_path_factory.mktemp("browser")
    corpus = root / "corpus"
    corpus.mkdir()
    for article in (REPO / "corpus").glob("*.txt"):
        (corpus / article.name).write_bytes(article.read_bytes())
    (corpus / "harbour.txt").write_text(HOSTILE)
    (corpus / FOLLOW_UP).write_text(FOLLOW_UP_TEXT)
    (corpus / "kadhimi-inquiry.txt").write_text(INQUIRY_TEXT)
    settings = Settings(corpus_dir=corpus, index_dir=root / "index")
    sync(settings, embedder)
    with streamlit_server(settings, root / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def ask(page: object, question: str) -> object:
    """Ask in the chat box and wait for the answer of this question: the last turn's answer (or its notice)."""
    box = page.get_by_placeholder("Ask a question about the articles")
    box.wait_for(timeout=WAIT_MS)
    before = page.locator(".qa-question").count()
    box.fill(question)
    box.press("Enter")
    sync_api.expect(page.locator(".qa-question")).to_have_count(before + 1, timeout=WAIT_MS)
    sync_api.expect(page.locator(".qa-question").last).to_have_text(question)
    page.wait_for_timeout(2500)  # the page settles: charts drawn, the view moved to the new answer
    return page.locator('[data-testid="stChatMessage"]').last


def settled(page: object) -> None:
    """Wait until the page's script has finished its run: a button clicked while a busy machine is still drawing
    the run its last click started can be lost with the element it was drawn in."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=WAIT_MS)


def assert_in_view(element: object, viewport: dict, seconds: float = 10) -> None:
    """The element's whole box comes to lie inside the window without the reader scrolling (within `seconds`,
    as the page renders on a busy machine)."""
    deadline = time.monotonic() + seconds
    while True:
        box = element.bounding_box()
        inside = box is not None and 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"] \
            and 0 <= box["x"] and box["x"] + box["width"] <= viewport["width"]
        if inside or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert inside, (box, viewport)


def open_notebook(browser: object, server: str, notebook: str, viewport: dict = DESKTOP) -> object:
    """A new tab (clipboard allowed) on the page with its questions saved in `notebook`."""
    context = browser.new_context(viewport=viewport, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(f"{server}/?notebook={notebook}")
    return page


def test_seed_question_in_a_real_browser(server: str, browser: object) -> None:
    page = open_notebook(browser, server, "seed")
    ask(page, "how many drones targeted Kadhimi's residence")
    turn = ask(page, SEED_QUESTION)  # the second answer, below the first one's passages, is brought into view
    answer = turn.locator(".qa-answer")
    sync_api.expect(answer).to_contain_text("Kataeb")
    said = [sentence for sentence in SUSPECTS if sentence in answer.inner_text()]
    assert said, answer.inner_text()
    assert_in_view(answer, DESKTOP)
    sync_api.expect(page.locator("mark").filter(has_text=said[0]).first).to_be_visible()
    sync_api.expect(turn.locator(".qa-source").first).to_contain_text(SUSPECTS[said[0]])
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "browser-answer.png")

    page.get_by_role("button", name="Open in context").last.click()
    dialog = page.get_by_role("dialog")
    sync_api.expect(dialog.locator("mark#qa-passage")).to_be_visible(timeout=WAIT_MS)
    page.screenshot(path=OUTPUT / "browser-context.png")
    page.close()


def test_hostile_document_is_shown_as_text_at_phone_width(server: str, browser: object) -> None:
    page = open_notebook(browser, server, "hostile", PHONE)
    ask(page, "how many drones were used in the attack")
    turn = ask(page, "what colour was the lighthouse painted")
    passage = turn.locator(".qa-text").filter(has_text="painted bright green").first
    sync_api.expect(passage).to_contain_text('<img src=x onerror="window.injected = 2">')
    answer = turn.locator(".qa-answer")
    sync_api.expect(answer).to_contain_text("painted bright green")
    assert_in_view(answer, PHONE)
    sync_api.expect(turn.locator(".qa-source").first).to_contain_text(
        "<script>window.injected = 1</script> Harbour notes")
    assert page.evaluate("window.injected") is None  # no corpus markup ran
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "browser-phone.png")
    page.close()


def test_sources_timeline_link_citation_export_and_history(server: str, browser: object) -> None:
    page = open_notebook(browser, server, "story")
    turn = ask(page, SEED_QUESTION)
    lines = turn.locator(".qa-says")
    assert lines.count() >= 2  # what each source says: one line per document
    sync_api.expect(lines.filter(has_text="Kataeb Sayyid al-Shuhada is the key suspect").first).to_contain_text(
        "Middle East Eye, 2021-11-28")

    sync_api.expect(turn.locator('[data-testid="stVegaLiteChart"]')).to_be_visible()
    sync_api.expect(turn).to_contain_text("matching documents dated 2021-11 to 2022-01")
    months = turn.get_by_role("combobox", name="Narrow the dates to a month and ask again")
    settled(page)  # typed while the page still draws, the month can be lost with the box it was typed in
    months.click()
    page.keyboard.type("2022-01")  # the menu opens on typing, with the months that match
    page.get_by_role("option").filter(has_text="2022-01").click(timeout=WAIT_MS)
    sync_api.expect(page.locator(".qa-question")).to_have_count(2, timeout=WAIT_MS)
    asked = page.locator('[data-testid="stChatMessage"]').nth(-2)
    sync_api.expect(asked).to_contain_text("published 2022-01-01 to 2022-01-15", timeout=WAIT_MS)
    page.wait_for_timeout(2500)
    narrowed = page.locator('[data-testid="stChatMessage"]').last
    sync_api.expect(narrowed.locator(".qa-source").first).to_contain_text("Baghdad Courier")  # the answer's source
    assert_in_view(narrowed.locator(".qa-answer"), DESKTOP)
    sync_api.expect(narrowed.locator(".qa-says").first).to_contain_text("Baghdad Courier, 2022-01-15")

    link = page.locator("a.qa-link", has_text=FOLLOW_UP_URL).last
    assert link.get_attribute("href") == FOLLOW_UP_URL
    with page.context.expect_page() as opened:  # the link opens the original in a new tab
        link.click()
    assert opened.value.url == FOLLOW_UP_URL or opened.value.url.startswith("chrome-error://")
    opened.value.close()

    page.get_by_role("button", name="Copy citation").last.click()
    shown = page.locator('[data-testid="stPopoverBody"] code').last
    sync_api.expect(shown).to_contain_text(
        f"Two months on, no one charged for the Kadhimi drone attack — Baghdad Courier, Nadia Hassan, 2022-01-15, "
        f"{FOLLOW_UP_URL}")
    shown.hover()
    page.locator('[data-testid="stPopoverBody"]').get_by_role("button", name="Copy to clipboard").last.click()
    assert FOLLOW_UP_URL in page.evaluate("navigator.clipboard.readText()")
    page.keyboard.press("Escape")

    with page.expect_download() as download:
        page.get_by_role("button", name="Download as Markdown").click()
    report = Path(download.value.path()).read_text()
    assert "*Searched by words and meaning (hybrid) · top 5 · published 2022-01-01 to 2022-01-15*" in report
    assert FOLLOW_UP_URL in report

    page.reload()
    sync_api.expect(page.locator(".qa-question")).to_have_count(2, timeout=WAIT_MS)
    sync_api.expect(page.locator(".qa-question").first).to_have_text(SEED_QUESTION)
    page.close()


def test_remove_a_document_and_undo_it(server: str, browser: object) -> None:
    page = open_notebook(browser, server, "remove")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Documents (").click()
    sidebar.get_by_placeholder("Title, file name or publisher").fill("inquiry")
    sidebar.get_by_placeholder("Title, file name or publisher").press("Enter")
    sync_api.expect(sidebar).to_contain_text("1 of 5 documents match", timeout=WAIT_MS)
    remove = sidebar.get_by_role("button", name="Remove")
    sync_api.expect(remove).to_have_count(1, timeout=WAIT_MS)  # the other documents' buttons gone with the rerun
    remove.click()
    sync_api.expect(sidebar).to_contain_text("Remove Kadhimi inquiry reports from the archive?", timeout=WAIT_MS)
    settled(page)
    # the confirming button (primary), not the first Remove button, which may linger while the page reruns
    sidebar.locator('[data-testid="stBaseButton-primary"]', has_text="Remove").click()
    sync_api.expect(page.get_by_text("Index updated: 1 removed")).to_be_visible(timeout=WAIT_MS)
    sync_api.expect(page.get_by_text("Documents (4)")).to_be_visible(timeout=WAIT_MS)
    settled(page)
    page.get_by_role("button", name="Undo").click()
    sync_api.expect(page.get_by_text("is back in the corpus")).to_be_visible(timeout=WAIT_MS)
    sync_api.expect(page.get_by_text("Documents (5)")).to_be_visible(timeout=WAIT_MS)
    page.close()


# --- the BBC News archive: 2,225 articles as files, as a reporter's folder would hold them ---

BBC_NEWS = os.environ.get("QA_BBC_NEWS", "")  # a bbc-news folder with corpus.jsonl and queries.jsonl
BBC_QUESTION = "bbcp-001"  # who vowed to stop the Glazer takeover of Manchester United (business-224 answers it)


@pytest.fixture(scope="module")
def bbc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The page over the BBC News archive: the articles written as .txt files by scripts/bbc_to_files.py and
    added with `python -m qa add`, as a user would; only when QA_BBC_NEWS names the set (it is large, and not
    part of this repository). Build and first-answer times go to test-output/bbc-timings.txt."""
    if not BBC_NEWS:
        pytest.skip("set QA_BBC_NEWS to a bbc-news folder (corpus.jsonl, queries.jsonl) to test the page on it")
    root = tmp_path_factory.mktemp("bbc")
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, str(REPO / "scripts" / "bbc_to_files.py"), str(Path(BBC_NEWS) / "corpus.jsonl"),
                    str(root / "files")], check=True, env=env, capture_output=True)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "qa", "add", str(root / "files"), "--corpus", str(settings.corpus_dir),
                    "--index", str(settings.index_dir)], check=True, env=env, cwd=REPO, capture_output=True)
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "bbc-timings.txt").write_text(f"build of {len(list((root / 'files').iterdir()))} articles: "
                                           f"{time.monotonic() - started:.0f} s\n")
    with streamlit_server(settings, root / "streamlit.log") as url:
        yield url


def bbc_question(question_id: str) -> str:
    with open(Path(BBC_NEWS) / "queries.jsonl", encoding="utf-8") as queries:
        return next(record["text"] for line in queries if (record := json.loads(line))["_id"] == question_id)


@pytest.mark.parametrize("viewport, name", [(DESKTOP, "desktop"), (PHONE, "phone")])
def test_the_bbc_archive_answers_in_view_with_each_source(bbc_server: str, browser: object, viewport: dict,
                                                         name: str) -> None:
    page = open_notebook(browser, bbc_server, f"bbc-{name}", viewport)
    started = time.monotonic()
    ask(page, "Which club did Malcolm Glazer try to take over?")
    seconds = time.monotonic() - started
    turn = ask(page, bbc_question(BBC_QUESTION))
    answer = turn.locator(".qa-answer")
    sync_api.expect(answer).to_contain_text("Tony Lloyd")
    assert_in_view(answer, viewport)
    lines = turn.locator(".qa-says")
    assert lines.count() >= 2  # several articles, one line each
    sync_api.expect(lines.first).to_contain_text("BBC News")
    sync_api.expect(turn).to_contain_text("matching documents states a date")  # the set has none: none made up
    with open(OUTPUT / "bbc-timings.txt", "a") as timings:
        timings.write(f"{name}: first question answered and shown in {seconds:.1f} s "
                      "(2.5 s of it the test waiting for the page to settle)\n")
    page.screenshot(path=OUTPUT / f"bbc-{name}.png")
    page.close()


def test_a_keyboard_and_screen_reader_user_hears_the_answer_and_copies_its_citation(server: str,
                                                                                    browser: object) -> None:
    """Asked with the keyboard, the answer is said in an alert (the focus stays in the chat box, far from it);
    questions and sections are headings; "Copy citation" opened with Enter puts the focus on the copy button,
    so a second Enter copies: Streamlit left it on the opening button, with the box reached after every other
    control."""
    page = open_notebook(browser, server, "keyboard")
    turn = ask(page, SEED_QUESTION)
    said = page.locator('[role="alert"]').filter(has_text="Answer:").last
    sync_api.expect(said).to_contain_text("Kataeb")
    sync_api.expect(said).to_contain_text(" From ")
    sync_api.expect(page.get_by_role("heading", level=2, name=SEED_QUESTION)).to_have_count(1)
    sync_api.expect(turn.get_by_role("heading", level=3, name="What each source says")).to_have_count(1)

    opener = turn.get_by_role("button", name="Copy citation").first
    settled(page)  # Enter pressed while the page still draws can be lost with the button it was pressed on
    opener.focus()
    page.keyboard.press("Enter")
    copy = page.locator('[data-testid="stPopoverBody"]').get_by_role("button", name="Copy to clipboard").last
    sync_api.expect(copy).to_be_focused(timeout=10_000)
    page.keyboard.press("Enter")
    citation = page.locator('[data-testid="stPopoverBody"] code').last.inner_text()
    assert " — " in citation and citation.strip() == page.evaluate("navigator.clipboard.readText()").strip()
    page.close()


def test_after_a_sidebar_action_the_focus_is_on_what_it_did(server: str, browser: object) -> None:
    """A keyboard user pressing *Update index* lost the focus to the start of the page (the button was redrawn):
    it now lands on the action's notices, so the next Tab reaches what follows them."""
    page = open_notebook(browser, server, "focus")
    update = page.get_by_role("button", name="Update index")
    update.focus()
    page.keyboard.press("Enter")
    sync_api.expect(page.locator(".qa-outcome")).to_be_focused(timeout=WAIT_MS)
    page.close()
