"""The Streamlit page, driven by Streamlit's AppTest over real indexes of real files (no mocks).

Each test points the page at an index through QA_CORPUS_DIR / QA_INDEX_DIR, as a deployment would.
Tests that only read share the session's seed index; tests that change the corpus build their own.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from qa import Embedder, Settings, sync
from qa.export import answers_markdown
from qa.history import History
from qa.store import build_lock

APP = Path(__file__).resolve().parent.parent / "app.py"
SEED_QUESTION = "who was suspected of the Kadhimi attack"
UNANSWERABLE = "what is the boiling point of tungsten"
LIGHTHOUSE = (
    "---\ntitle: Harbour notes\npublisher: Elmsby Gazette\nauthor: A. Reporter\ndate: 2021-12-01\n---\n"
    "The lighthouse at Port Elmsby was painted bright green by volunteers in December. "
    "The harbour master said the new colour makes it easier to see in fog.\n"
)


@pytest.fixture
def open_page(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):
    """Open the page on the index of `settings`, the way a deployment configures it: by env vars, in a notebook
    of the test's name unless told another."""

    def open_(settings: Settings, notebook: str = request.node.name) -> AppTest:
        monkeypatch.setenv("QA_CORPUS_DIR", str(settings.corpus_dir))
        monkeypatch.setenv("QA_INDEX_DIR", str(settings.index_dir))
        monkeypatch.delenv("QA_MODEL", raising=False)
        monkeypatch.setenv("QA_BACKEND", settings.backend)
        page = AppTest.from_file(str(APP), default_timeout=120)
        page.query_params["notebook"] = notebook  # each test its own saved history, as ?notebook=... in a browser
        page.run()
        assert not page.exception, page.exception
        return page

    return open_


@pytest.fixture
def built_settings(fresh_settings: Settings, embedder: Embedder) -> Settings:
    """A real index of a private copy of the bundled corpus, for tests that change it."""
    sync(fresh_settings, embedder)
    return fresh_settings


def ask(page: AppTest, question: str) -> AppTest:
    page.chat_input[0].set_value(question).run()
    assert not page.exception, page.exception
    return page


def main_html(page: AppTest) -> str:
    """Everything written with st.markdown in the main area: questions, answers and passages, without the <bdi>
    tags that only set each field's text direction (tests/test_scripts_and_encodings.py checks those)."""
    return without_bdi("\n".join(element.value for element in page.main.markdown))


def without_bdi(html: str) -> str:
    return re.sub(r"</?bdi>", "", html)


def passage_sources(page: AppTest) -> list[str]:
    """The source line of each passage card shown in the main area."""
    return re.findall(r'<div class="qa-meta">([^<]*)</div>', main_html(page))


def marked(page: AppTest) -> list[str]:
    """The highlighted (answering) sentences on the page."""
    return re.findall(r"<mark[^>]*>(.*?)</mark>", main_html(page), flags=re.S)


def test_seed_question_shows_highlighted_answer_with_source(seed_settings: Settings, open_page) -> None:
    page = ask(open_page(seed_settings), SEED_QUESTION)
    assert any("Kataeb Sayyid al-Shuhada is the key suspect" in sentence for sentence in marked(page))
    assert 'class="qa-answer"' in main_html(page)
    assert any(source.startswith("Middle East Eye") for source in passage_sources(page))
    assert SEED_QUESTION in main_html(page)
    shown = [element.value for element in page.main.markdown]
    after_answer = next(i for i, value in enumerate(shown) if 'class="qa-answer"' in value) + 1
    assert re.match(r":(green|blue)-badge\[(Strong|Good) match\]", shown[after_answer])  # how sure the answer is


def test_the_answer_phrase_is_bold_inside_the_answer(seed_settings: Settings, open_page) -> None:
    page = ask(open_page(seed_settings), "How many drones were used?")
    answer = next(value for value in (element.value for element in page.main.markdown) if 'class="qa-answer"' in value)
    assert re.search(r'carried out by <strong class="qa-phrase">three</strong> drones carrying explosives', answer)


def test_empty_page_offers_examples_that_ask(seed_settings: Settings, open_page) -> None:
    page = open_page(seed_settings)
    page.button(key="example-0").click().run()
    assert not page.exception
    assert marked(page)
    assert "example-0" not in [button.key for button in page.button]


def test_examples_are_offered_only_over_the_articles_they_are_about(tmp_path: Path, embedder: Embedder,
                                                                   open_page) -> None:
    """On another archive the Kadhimi examples would be answered "not found": a poor first answer."""
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    settings.corpus_dir.mkdir()
    (settings.corpus_dir / "harbour.txt").write_text(LIGHTHOUSE)
    sync(settings, embedder)
    page = open_page(settings)
    assert not [button for button in page.button if button.key.startswith("example-")]
    assert any("in your own words" in element.value for element in page.main.markdown)


def test_source_filter_keeps_only_that_publisher(seed_settings: Settings, open_page) -> None:
    page = open_page(seed_settings)
    page.multiselect[0].select("Track Persia").run()
    ask(page, SEED_QUESTION)
    sources = passage_sources(page)
    assert sources and all(source.startswith("Track Persia") for source in sources)
    assert "Middle East Eye" not in "".join(sources)


def test_history_keeps_every_question(seed_settings: Settings, open_page) -> None:
    page = ask(open_page(seed_settings), SEED_QUESTION)
    ask(page, "how many drones were used in the attack")
    html = main_html(page)
    assert SEED_QUESTION in html and "how many drones were used in the attack" in html
    assert html.index(SEED_QUESTION) < html.index("how many drones were used in the attack")
    assert len(page.main.expander) == 1 and page.toggle(key="passages-1")  # the earlier passages, on request


def test_unanswerable_question_says_so_and_still_shows_passages(seed_settings: Settings, open_page) -> None:
    page = ask(open_page(seed_settings), UNANSWERABLE)
    assert any("does not seem to answer this" in info.value for info in page.info)
    assert 'class="qa-answer"' not in main_html(page)
    assert passage_sources(page)


def test_filters_that_exclude_everything_say_how_to_widen_them(seed_settings: Settings, open_page) -> None:
    page = open_page(seed_settings)
    page.date_input[0].set_value((date(2021, 11, 21), date(2021, 11, 22))).run()
    ask(page, SEED_QUESTION)
    notice = " ".join(info.value for info in page.info)
    assert "No passages match" in notice and "filters" in notice
    assert not passage_sources(page)


@pytest.mark.parametrize("question, message", [("   ", "empty"), ("drone " * 2000, "limit")])
def test_bad_question_is_a_friendly_warning(seed_settings: Settings, open_page, question: str, message: str) -> None:
    page = ask(open_page(seed_settings), question)
    assert any(message in warning.value for warning in page.warning)
    assert not passage_sources(page)


def test_open_in_context_shows_the_whole_document_with_the_passage_marked(seed_settings: Settings,
                                                                          open_page) -> None:
    page = ask(open_page(seed_settings), SEED_QUESTION)
    page.button(key="context-1-1").click().run()
    assert not page.exception
    context = [element.value for element in page.markdown if 'id="qa-passage"' in element.value]
    assert len(context) == 1
    # the whole article is there: its opening and its last paragraph around the marked passage
    assert "At the time, no one really noticed." in context[0]
    assert any("Jump to the passage" in element.value for element in page.markdown)


def test_document_text_is_shown_escaped_never_as_html(fresh_settings: Settings, embedder: Embedder,
                                                      open_page) -> None:
    (fresh_settings.corpus_dir / "harbour.txt").write_text(
        '---\ntitle: "<script>alert(1)</script> Harbour"\npublisher: Elmsby <i>Gazette</i>\ndate: 2021-12-01\n---\n'
        'The lighthouse at Port Elmsby was painted bright green <script>alert("x")</script> by volunteers.\n'
    )
    sync(fresh_settings, embedder)
    page = ask(open_page(fresh_settings), "what colour was the lighthouse painted")
    page.button(key="context-1-1").click().run()
    html = "\n".join(element.value for element in page.markdown)  # main area, sidebar and dialog
    assert "<script>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Harbour" in html
    assert "Elmsby &lt;i&gt;Gazette&lt;/i&gt;" in html


def test_no_index_offers_a_build_with_progress(fresh_settings: Settings, open_page) -> None:
    page = open_page(fresh_settings)
    assert "No index yet" in page.info[0].value and "python -m qa build" in page.info[0].value
    assert not page.chat_input
    page.button(key="build").click().run()
    assert not page.exception
    assert any("Index updated: 2 added" in success.value for success in page.success)
    assert marked(ask(page, SEED_QUESTION))


def test_a_build_already_running_is_reported_not_waited_for(fresh_settings: Settings, open_page) -> None:
    page = open_page(fresh_settings)
    with build_lock(fresh_settings.index_dir):  # as `python -m qa build` holds it while it runs
        page.button(key="build").click().run()
    assert not page.exception
    assert any("Another build of the index is running" in info.value for info in page.info)
    assert page.button(key="build")  # still offered, for when the other build is done


def test_empty_corpus_says_how_to_add_articles(tmp_path: Path, open_page) -> None:
    (tmp_path / "corpus").mkdir()
    page = open_page(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"))
    assert "No articles yet" in page.info[0].value
    assert page.sidebar.file_uploader


def test_upload_adds_a_searchable_document_at_once(built_settings: Settings, open_page) -> None:
    page = open_page(built_settings)
    page.file_uploader[0].set_value(("../Harbour notes.txt", LIGHTHOUSE.encode(), "text/plain")).run()
    page.button(key="add-files").click().run()
    assert not page.exception
    assert any("1 added" in success.value for success in page.success)
    assert (built_settings.corpus_dir / "Harbour-notes.txt").is_file()  # a safe name, inside the corpus
    assert "Harbour notes" in "\n".join(element.value for element in page.sidebar.markdown)

    ask(page, "what colour was the lighthouse painted")
    assert passage_sources(page)[0].startswith("Elmsby Gazette")
    assert any("painted bright green" in sentence for sentence in marked(page))


def test_unreadable_upload_is_reported_and_not_kept(built_settings: Settings, open_page) -> None:
    page = open_page(built_settings)
    page.file_uploader[0].set_value(("broken.pdf", b"%PDF-1.4 not really a pdf", "application/pdf")).run()
    page.button(key="add-files").click().run()
    assert any("Could not read" in warning.value and "not added" in warning.value for warning in page.warning)
    assert not page.success  # no "up to date" beside the failure
    assert not (built_settings.corpus_dir / "broken.pdf").exists()


def test_an_upload_of_a_document_already_there_is_not_kept(built_settings: Settings, open_page) -> None:
    doc_id = "trackpersia-2021-11-20-drones-iran-proxies.txt"
    page = open_page(built_settings)
    data = (built_settings.corpus_dir / doc_id).read_bytes()
    page.file_uploader[0].set_value(("drones copy.txt", data, "text/plain")).run()
    page.button(key="add-files").click().run()
    assert any("drones-copy.txt" in info.value and "It was not added" in info.value for info in page.info)
    assert not page.success and not (built_settings.corpus_dir / "drones-copy.txt").exists()
    assert "Not indexed" not in "\n".join(element.value for element in page.sidebar.markdown)


def test_unsupported_upload_names_the_file_and_the_supported_types(built_settings: Settings, open_page) -> None:
    page = open_page(built_settings)
    page.file_uploader[0].set_value([("budget.xlsx", b"PK\x03\x04 a spreadsheet", "application/vnd.ms-excel"),
                                     ("../Harbour notes.txt", LIGHTHOUSE.encode(), "text/plain")]).run()
    page.button(key="add-files").click().run()
    assert not page.exception
    refused = [warning.value for warning in page.warning if "budget.xlsx" in warning.value]
    assert len(refused) == 1 and "was not added" in refused[0] and ".txt" in refused[0] and ".pdf" in refused[0]
    assert not page.success and any("1 added" in info.value for info in page.info)  # said, but not as a success
    assert not (built_settings.corpus_dir / "budget.xlsx").exists()
    assert (built_settings.corpus_dir / "Harbour-notes.txt").is_file()


def test_a_broken_file_in_the_folder_is_reported_once(built_settings: Settings, open_page) -> None:
    (built_settings.corpus_dir / "scan.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    page = open_page(built_settings)
    page.button(key="update").click().run()
    assert [warning.value for warning in page.warning if "scan.pdf" in warning.value] and not page.success
    page.button(key="update").click().run()
    assert not [warning.value for warning in page.warning if "scan.pdf" in warning.value]
    assert any("up to date" in success.value for success in page.success)
    assert "Not indexed:" in "\n".join(element.value for element in page.sidebar.markdown)  # still listed


def test_remove_asks_first_and_can_be_undone(built_settings: Settings, open_page) -> None:
    doc_id = "trackpersia-2021-11-20-drones-iran-proxies.txt"
    page = open_page(built_settings)
    page.button(key=f"remove-{doc_id}").click().run()
    assert (built_settings.corpus_dir / doc_id).is_file()  # nothing is removed before the reader confirms
    assert any("Remove **" in warning.value and "undo" in warning.value for warning in page.warning)
    page.button(key=f"keep-{doc_id}").click().run()
    assert f"confirm-remove-{doc_id}" not in [button.key for button in page.button]

    page.button(key=f"remove-{doc_id}").click().run()
    page.button(key=f"confirm-remove-{doc_id}").click().run()
    assert not page.exception
    assert any("1 removed" in success.value for success in page.success)
    assert not (built_settings.corpus_dir / doc_id).exists()
    assert f"remove-{doc_id}" not in [button.key for button in page.button]
    assert "Track Persia (publisher)" not in page.multiselect[0].options

    page.button(key="undo-remove").click().run()
    assert not page.exception
    assert (built_settings.corpus_dir / doc_id).is_file()
    assert any("is back in the corpus" in success.value for success in page.success)
    assert any("1 added" in success.value for success in page.success)
    assert "Track Persia (publisher)" in page.multiselect[0].options
    assert "undo-remove" not in [button.key for button in page.button]  # undone once


def test_an_undo_after_the_name_was_taken_says_where_the_file_went(built_settings: Settings, open_page) -> None:
    doc_id = "trackpersia-2021-11-20-drones-iran-proxies.txt"
    data = (built_settings.corpus_dir / doc_id).read_bytes()
    page = open_page(built_settings)
    page.button(key=f"remove-{doc_id}").click().run()
    page.button(key=f"confirm-remove-{doc_id}").click().run()
    page.file_uploader[0].set_value((doc_id, data, "text/plain")).run()
    page.button(key="add-files").click().run()
    page.button(key="undo-remove").click().run()
    back = doc_id.replace(".txt", "-2.txt")
    assert any(f"is back in the corpus as **{back}**" in notice.value for notice in [*page.success, *page.info])
    assert any(f"**{back}** has the same content as **{doc_id}**" in info.value for info in page.info)


def test_a_build_from_the_command_line_is_picked_up_without_restart(built_settings: Settings,
                                                                    embedder: Embedder, open_page) -> None:
    page = open_page(built_settings)
    (built_settings.corpus_dir / "harbour.txt").write_text(LIGHTHOUSE)
    sync(built_settings, embedder)  # what `python -m qa build` does
    page.run()
    assert "Harbour notes" in "\n".join(element.value for element in page.sidebar.markdown)


def test_download_is_offered_once_a_question_is_asked(seed_settings: Settings, open_page) -> None:
    page = open_page(seed_settings)
    assert not page.get("download_button")
    ask(page, SEED_QUESTION)
    assert page.get("download_button")


def scrolled_to(page: AppTest) -> list[str]:
    """The selectors the page's scripts bring into view on this run."""
    return re.findall(r"\}\)\('([^']+)', \d+\)", "\n".join(element.proto.body for element in page.get("html")))


def test_the_view_is_brought_to_what_the_reader_waits_for(built_settings: Settings, open_page) -> None:
    """A new answer's question; then, after an action in the sidebar, its outcome (an Undo far above the
    latest answer was out of sight); a refused question's reason; and nothing on a run that only redraws."""
    page = ask(open_page(built_settings), SEED_QUESTION)
    target, = scrolled_to(page)  # this very question's heading, whatever colleagues asked after it
    assert re.fullmatch(r"\.qa-turn-\d+", target) and f'qa-question {target[1:]}"' in main_html(page)
    page.slider(key="k").set_value(3).run()
    assert scrolled_to(page) == []
    page.button(key="update").click().run()
    assert scrolled_to(page) == [".qa-outcome"] and any("up to date" in s.value for s in page.success)
    ask(page, "x" * 10_000)
    assert scrolled_to(page) == [".qa-outcome"] and any("Please rephrase" in w.value for w in page.warning)


def test_the_source_filter_is_kept_when_a_file_is_added(built_settings: Settings, open_page) -> None:
    page = open_page(built_settings)
    page.multiselect(key="sources").select("Middle East Eye").run()
    page.file_uploader[0].set_value(("harbour.txt", LIGHTHOUSE.encode(), "text/plain")).run()
    page.button(key="add-files").click().run()
    assert any("1 added" in success.value for success in page.success)
    assert page.multiselect(key="sources").value == ["Middle East Eye"]
    ask(page, SEED_QUESTION)
    assert {source.split(",")[0] for source in passage_sources(page)} == {"Middle East Eye"}


def test_a_start_date_alone_narrows_the_search(built_settings: Settings, embedder: Embedder, open_page) -> None:
    (built_settings.corpus_dir / "harbour.txt").write_text(LIGHTHOUSE)  # 2021-12-01; the seed articles November
    sync(built_settings, embedder)
    page = open_page(built_settings)
    page.date_input[0].set_value((date(2021, 11, 25),)).run()
    ask(page, SEED_QUESTION)
    assert any("published from 2021-11-25" in caption.value for caption in page.caption)
    assert passage_sources(page) and not any("Track Persia" in source for source in passage_sources(page))


def test_an_answer_from_a_document_without_publisher_or_date_names_its_file(built_settings: Settings,
                                                                            embedder: Embedder, open_page) -> None:
    (built_settings.corpus_dir / "elmsby-note.txt").write_text("Storm surges closed Elmsby port for three days.\n")
    sync(built_settings, embedder)
    page = ask(open_page(built_settings), "What closed Elmsby port?")
    assert "— <b>Elmsby note</b>, elmsby-note.txt</div>" in main_html(page)



def test_a_file_the_build_skipped_is_listed_with_its_reason(built_settings: Settings, embedder: Embedder,
                                                            open_page) -> None:
    (built_settings.corpus_dir / "scan.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    sync(built_settings, embedder)
    page = open_page(built_settings)
    sidebar = without_bdi("\n".join(element.value for element in page.sidebar.markdown))
    assert "scan.pdf" in sidebar and "Not indexed:" in sidebar
    assert any("1 file not indexed" in caption.value for caption in page.sidebar.caption)
    page.text_input(key="doc-search").input("persia").run()  # a search for something else leaves it out
    assert "scan.pdf" not in "\n".join(element.value for element in page.sidebar.markdown)


def test_two_documents_with_one_headline_are_told_apart_in_the_source_filter(built_settings: Settings,
                                                                             embedder: Embedder, open_page) -> None:
    for name, port in (("elmsby-a.txt", "Elmsby"), ("elmsby-b.txt", "Valmora")):
        (built_settings.corpus_dir / name).write_text(f"---\ntitle: Port closed\n---\n{port} port closed.\n")
    sync(built_settings, embedder)
    options = open_page(built_settings).multiselect(key="sources").options
    assert "Port closed (elmsby-a.txt)" in options and "Port closed (elmsby-b.txt)" in options


def test_the_page_uses_the_configured_backend(fresh_settings: Settings, open_page) -> None:
    """QA_BACKEND=torch: an index built with PyTorch vectors is answered, not refused as another model's."""
    settings = Settings(corpus_dir=fresh_settings.corpus_dir, index_dir=fresh_settings.index_dir, backend="torch")
    sync(settings, Embedder.from_settings(settings))
    page = ask(open_page(settings), SEED_QUESTION)
    assert not page.error, [error.value for error in page.error]
    assert any("Kataeb Sayyid al-Shuhada is the key suspect" in sentence for sentence in marked(page))


def source_lines(page: AppTest) -> list[tuple[str, str, str]]:
    """(sentence, title, publisher and date) of each line of "what each source says"."""
    return re.findall(r'<div class="qa-says[^"]*">(.*?)<div class="qa-source">— <b>(.*?)</b>, (.*?)</div>',
                      main_html(page), flags=re.S)


def test_what_each_source_says_gives_one_line_per_document(seed_settings: Settings, open_page) -> None:
    page = open_page(seed_settings)
    page.slider(key="k").set_value(10).run()
    lines = source_lines(ask(page, SEED_QUESTION))
    assert len(lines) == 2
    assert {details.split(",")[0] for _, _, details in lines} == {"Middle East Eye", "Track Persia"}
    eye = next(line for line in lines if line[2].startswith("Middle East Eye"))
    assert "Kataeb Sayyid al-Shuhada is the key suspect" in eye[0] and "2021-11-28" in eye[2]
    assert all(sentence.count("&quot;") % 2 == 0 for sentence, _, _ in lines)  # quotes balanced


def test_an_earlier_answers_passages_are_drawn_when_asked_for(seed_settings: Settings, open_page) -> None:
    """A long notebook stays quick: only the latest answer draws its passages; an earlier one on request."""
    page = ask(ask(open_page(seed_settings), SEED_QUESTION), "how many drones were used")
    assert len(passage_sources(page)) == 5
    page.toggle(key="passages-1").set_value(True).run()
    assert len(passage_sources(page)) == 10 and not page.exception


def test_history_survives_a_new_session_and_can_be_cleared(seed_settings: Settings, open_page) -> None:
    ask(open_page(seed_settings, "kadhimi"), SEED_QUESTION)
    reloaded = open_page(seed_settings, "kadhimi")  # a reload: a new session on the same index and notebook
    assert SEED_QUESTION in main_html(reloaded) and marked(reloaded)
    assert SEED_QUESTION not in main_html(open_page(seed_settings, "another story"))
    reloaded.button(key="clear").click().run()
    assert SEED_QUESTION in main_html(reloaded), "nothing is forgotten before the reader confirms"
    assert any("Forget the 1 question of **kadhimi**?" in warning.value for warning in reloaded.sidebar.warning)
    reloaded.button(key="keep-notebook").click().run()
    assert SEED_QUESTION in main_html(open_page(seed_settings, "kadhimi"))
    reloaded.button(key="clear").click().run()
    reloaded.button(key="confirm-clear").click().run()
    assert SEED_QUESTION not in main_html(reloaded)
    assert SEED_QUESTION not in main_html(open_page(seed_settings, "kadhimi"))


def test_the_search_is_saved_with_its_mode_and_filters_for_the_export(seed_settings: Settings, open_page) -> None:
    page = open_page(seed_settings, "export")
    page.radio(key="mode").set_value("bm25").run()
    page.slider(key="k").set_value(3).run()
    page.multiselect[0].select("Track Persia").run()
    ask(page, SEED_QUESTION)
    assert any("exact words (bm25) · top 3 · Track Persia" in caption.value for caption in page.caption)
    turns = History.beside(seed_settings.index_dir).turns("export")
    report = answers_markdown([turn.answer for turn in turns], "Ask the articles", [turn.search for turn in turns])
    assert "*Searched by exact words (bm25) · top 3 · Track Persia*" in report


def test_the_timeline_counts_documents_by_month_and_narrows_the_dates(built_settings: Settings, embedder: Embedder,
                                                                     open_page) -> None:
    (built_settings.corpus_dir / "harbour.txt").write_text(LIGHTHOUSE)  # December, the seed articles November
    sync(built_settings, embedder)
    page = ask(open_page(built_settings), SEED_QUESTION)
    assert page.get("vega_lite_chart")
    assert any("3 matching documents dated 2021-11 to 2021-12" in element.value for element in page.markdown)
    months = page.selectbox(key="month-1")
    assert months.options == ["2021-11", "2021-12"]
    months.set_value("2021-11").run()
    assert not page.exception
    assert page.date_input[0].value == (date(2021, 11, 20), date(2021, 11, 30))  # from the first article on
    assert any("published 2021-11-20 to 2021-11-30" in caption.value for caption in page.caption)
    assert any("2 matching documents dated 2021-11" in element.value for element in page.markdown)
    assert not page.selectbox  # one month left: no picker that would ask the same again
    assert not any("Elmsby" in source for source in passage_sources(page))


def test_the_document_list_is_searched_by_title_file_name_or_publisher(seed_settings: Settings, open_page) -> None:
    page = open_page(seed_settings)
    page.text_input(key="doc-search").input("persia").run()
    sidebar = without_bdi("\n".join(element.value for element in page.sidebar.markdown))
    assert "trackpersia-2021-11-20-drones-iran-proxies.txt · 2021-11-20 · Track Persia" in sidebar
    assert "middleeasteye" not in sidebar
    assert any("1 of 2 documents match" in caption.value for caption in page.sidebar.caption)


def test_a_source_named_in_markdown_is_shown_as_text_in_the_search_line(fresh_settings: Settings, embedder: Embedder,
                                                                       open_page) -> None:
    """A publisher of `![p](http://host/p.png)` made the "Searched by" line fetch that image from the reader's
    browser, at every reload of the notebook."""
    publisher = "Evil Wire ![p](http://127.0.0.1:9/p.png) :red[RED]"
    (fresh_settings.corpus_dir / "evil.md").write_text(f"---\ntitle: Drones\npublisher: {publisher}\n---\n"
                                                       "The drones struck the house of the prime minister.\n")
    sync(fresh_settings, embedder)
    page = open_page(fresh_settings)
    page.multiselect[0].select(publisher).run()
    ask(page, "what did the drones strike")
    searched = next(caption.value for caption in page.caption if caption.value.startswith("Searched by"))
    assert "![p](" not in searched and ":red[" not in searched and r"!\[p\]" in searched


def test_a_shared_notebook_keeps_each_readers_own_question_in_front(built_settings: Settings, open_page) -> None:
    """Two tabs on one notebook: each draws its reader's own last question in full (its passages open), not a
    colleague's newer one; a Clear confirmed after a colleague asked forgets only the questions it counted; and
    questions cleared from the other tab are said to be, not gone unexplained."""
    reader, colleague = open_page(built_settings, "team"), open_page(built_settings, "team")
    ask(reader, SEED_QUESTION)
    ask(colleague, "How many drones were used?")
    reader.slider(key="k").set_value(4).run()  # any redraw
    toggles = [toggle.key for toggle in reader.toggle]
    assert "passages-1" not in toggles and "passages-2" in toggles  # the reader's own (1st) is drawn in full

    reader.button(key="clear").click().run()
    assert any("Forget the 2 questions" in warning.value for warning in reader.warning)
    ask(colleague, "Who was suspected?")  # asked while the reader is being asked to confirm
    reader.button(key="confirm-clear").click().run()
    assert any("1 question asked since (in another tab or window) is kept" in s.value for s in reader.success)
    assert [turn.answer.question for turn in History.beside(built_settings.index_dir).turns("team")] == [
        "Who was suspected?"]

    colleague.slider(key="k").set_value(4).run()
    assert any("2 earlier questions of this notebook were cleared in another tab or window" in info.value
               for info in colleague.info)


def test_a_removal_or_upload_meeting_another_build_leaves_corpus_and_index_agreeing(built_settings: Settings,
                                                                                   open_page) -> None:
    """While `python -m qa build` runs, a removal moved the file out and left it indexed (the index listed a
    document with no file), and an upload said "try again" though its files were saved: a retry made copies.
    Now the removed file is put back, and the upload says its files are saved and how to index them."""
    doc_id = "trackpersia-2021-11-20-drones-iran-proxies.txt"
    page = open_page(built_settings)
    page.button(key=f"remove-{doc_id}").click().run()
    with build_lock(built_settings.index_dir):
        page.button(key=f"confirm-remove-{doc_id}").click().run()
        assert (built_settings.corpus_dir / doc_id).is_file()
        assert any(f"**{doc_id}** was not removed" in info.value for info in page.info)
        assert "undo-remove" not in [button.key for button in page.button]
        page.file_uploader[0].set_value(("harbour.txt", LIGHTHOUSE.encode(), "text/plain")).run()
        page.button(key="add-files").click().run()
    assert any("**harbour.txt** is saved in the corpus" in info.value and "no need to upload them again"
               in info.value for info in page.info)
    assert (built_settings.corpus_dir / "harbour.txt").is_file()


def test_confirming_the_removal_of_a_document_removed_elsewhere_says_so(built_settings: Settings,
                                                                       open_page) -> None:
    doc_id = "trackpersia-2021-11-20-drones-iran-proxies.txt"
    reader, colleague = open_page(built_settings, "a"), open_page(built_settings, "b")
    reader.button(key=f"remove-{doc_id}").click().run()
    colleague.button(key=f"remove-{doc_id}").click().run()
    colleague.button(key=f"confirm-remove-{doc_id}").click().run()
    reader.slider(key="k").set_value(4).run()  # the reader's next redraw, before confirming
    assert not reader.exception
    assert any(f"**{doc_id}** is no longer in the archive" in info.value for info in reader.info)
