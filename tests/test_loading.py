"""Loaders on real files: front matter, saved news pages, Word documents, multi-page PDFs, encodings, and unreadable
files."""

from __future__ import annotations

import codecs
import sys
from datetime import datetime
from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from qa import Embedder, Retriever, Settings, sync
from qa.errors import LoadError
from qa.loading import load_document, normalize_date


def make_pdf(path: Path, pages: list[str], title: str = "", author: str = "") -> Path:
    """A real PDF with one paragraph of text per page, written by fpdf2."""
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def test_text_with_front_matter_keeps_metadata_and_body(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("---\ntitle: \"A title: with colon\"\npublisher: The Paper\nauthor: Ann\ndate: March 3, 2020\n---\n"
                    "First paragraph.\n\nSecond paragraph here.\n")
    doc = load_document(path)
    assert (doc.title, doc.publisher, doc.author, doc.date) == ("A title: with colon", "The Paper", "Ann", "2020-03-03")
    assert doc.text == "First paragraph.\n\nSecond paragraph here."
    assert doc.pages == ()


@pytest.mark.parametrize(("written", "title"), [
    ("Economy 'stronger than forecast'", "Economy 'stronger than forecast'"),
    ("\"'Strong dollar' call halts slide\"", "'Strong dollar' call halts slide"),
    ("'Quoted headline'", "Quoted headline"),
])
def test_front_matter_takes_off_one_pair_of_quotes_and_keeps_quotes_of_the_title(tmp_path: Path, written: str,
                                                                                 title: str) -> None:
    path = tmp_path / "quoted.txt"
    path.write_text(f"---\ntitle: {written}\n---\nBody text.\n")
    assert load_document(path).title == title


def test_markdown_without_front_matter_takes_title_from_name(tmp_path: Path) -> None:
    path = tmp_path / "drone_strike-report.md"
    path.write_text("# Heading\n\nSome text about drones.\n")
    doc = load_document(path)
    assert doc.title == "Drone strike report"
    assert "Some text about drones." in doc.text


ARTICLE = [
    "An explosive-laden drone struck the residence of Iraq's prime minister in Baghdad early on Sunday, officials "
    "said, in what they described as an assassination attempt.",
    "Mustafa al-Kadhimi was unhurt, according to a statement from his office, but several members of his security "
    "detail were wounded in the attack on the heavily fortified Green Zone.",
    "No group immediately claimed responsibility. Security officials said two other drones had been shot down "
    "before they reached the compound.",
    "The attack came after weeks of tension over the results of October's parliamentary election, which "
    "Iran-aligned factions have rejected as fraudulent.",
]
BOILERPLATE = ["We use cookies to improve your experience", "Accept all cookies", "Business", "Sport",
               "Related articles", "Iraq election results delayed again", "Who are Iraq's armed factions?",
               "All rights reserved", "Privacy policy", "Contact us", "do not index", "font-family", "By Jane Doe"]
META_TAGS = ('<meta name="author" content="Jane Doe">'
             '<meta property="article:published_time" content="2021-11-08T10:00:00Z">')
JSON_LD = ('<script type="application/ld+json">{"@context": "https://schema.org", "@type": "NewsArticle", '
           '"headline": "Drone attack targets Iraqi prime minister", "datePublished": "2021-11-08T10:00:00Z", '
           '"author": {"@type": "Person", "name": "Jane Doe"}}</script>')


def news_page(head: str = META_TAGS, canonical: str = "https://news.example.com/world/drone-attack-baghdad") -> str:
    """A news article as a browser saves it: cookie banner, menu, by-line, related links and footer around it."""
    paragraphs = "".join(f"<p>{text}</p>" for text in ARTICLE)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Drone attack targets Iraqi prime minister | Example News</title>
<meta property="og:title" content="Drone attack targets Iraqi prime minister">
<meta property="og:site_name" content="Example News">{head}
<link rel="canonical" href="{canonical}">
<script>var tracking = 'do not index';</script><style>body {{font-family: sans-serif}}</style></head><body>
<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience.</p>
<button>Accept all cookies</button></div>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li><li><a href="/business">Business</a>
</li><li><a href="/sport">Sport</a></li></ul></nav></header>
<main><article><h1>Drone attack targets Iraqi prime minister</h1><p class="byline">By Jane Doe</p>{paragraphs}
</article>
<aside class="related"><h2>Related articles</h2><ul><li><a href="/a">Iraq election results delayed again</a></li>
<li><a href="/b">Who are Iraq's armed factions?</a></li></ul></aside></main>
<footer><p>&copy; 2024 Example News Ltd. All rights reserved.</p><ul><li><a href="/privacy">Privacy policy</a></li>
<li><a href="/contact">Contact us</a></li></ul></footer></body></html>"""


@pytest.mark.parametrize("head", [META_TAGS, JSON_LD], ids=["meta-tags", "json-ld"])
def test_a_saved_news_page_gives_its_article_and_metadata_without_boilerplate(tmp_path: Path, head: str) -> None:
    path = tmp_path / "drone-attack.html"
    path.write_text(news_page(head))
    doc = load_document(path)
    assert (doc.title, doc.publisher, doc.author, doc.date, doc.url) == (
        "Drone attack targets Iraqi prime minister", "Example News", "Jane Doe", "2021-11-08",
        "https://news.example.com/world/drone-attack-baghdad")
    assert doc.text.split("\n\n")[1:] == ARTICLE  # after the headline, one paragraph each, as written
    for text in BOILERPLATE:
        assert text not in doc.text


def test_a_news_page_that_states_no_date_has_none(tmp_path: Path) -> None:
    """The footer's copyright year is not a publication date."""
    path = tmp_path / "undated.html"
    path.write_text(news_page(head=""))
    doc = load_document(path)
    assert doc.date == "" and ARTICLE[0] in doc.text


def test_a_page_whose_only_text_looks_like_boilerplate_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "notice.html"
    path.write_text('<html><head><title>Notice</title></head><body><div class="footer">'
                    "<p>Statement from the ministry: talks resume on Friday.</p></div></body></html>")
    doc = load_document(path)
    assert (doc.title, doc.text) == ("Notice", "Statement from the ministry: talks resume on Friday.")


def test_a_page_without_text_is_a_clear_failure(tmp_path: Path) -> None:
    path = tmp_path / "blank.html"
    path.write_text("<html><head><title>Blank</title><script>var x = 1;</script></head><body></body></html>")
    with pytest.raises(LoadError, match="blank.html: no text left"):
        load_document(path)


_network: list[str] | None = None  # while a list, every network event of this process is recorded in it


def _record_network(event: str, _args: tuple) -> None:
    if _network is not None and event.startswith(("socket.", "urllib.", "http.client.")):
        _network.append(event)


sys.addaudithook(_record_network)  # an audit hook cannot be removed; it records only while `_network` is a list


def test_reading_a_saved_page_opens_no_network_connection(tmp_path: Path) -> None:
    """trafilatura is given the markup, never a URL: the canonical address is read, not fetched."""
    global _network
    path = tmp_path / "page.html"
    path.write_text(news_page(canonical="https://news.example.com/world/drone-attack-baghdad"))
    _network = []
    try:
        doc = load_document(path)
    finally:
        events, _network = _network, None
    assert doc.url and events == []


def test_a_word_document_gives_its_paragraphs_headings_tables_and_core_properties(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Budget talks stall", level=1)
    document.add_paragraph("Ministers failed to agree on the budget on Tuesday.")
    document.add_paragraph("")
    document.add_heading("What comes next", level=2)
    document.add_paragraph("Talks resume on Friday,").add_run(" officials said.")
    table = document.add_table(rows=2, cols=2)
    for (row, column), text in {(0, 0): "Party", (0, 1): "Seats", (1, 0): "Blue", (1, 1): "42"}.items():
        table.cell(row, column).text = text
    properties = document.core_properties
    properties.title, properties.author = "Budget talks", "Ann Reporter"
    properties.created = datetime(2022, 3, 4, 9, 30)
    document.save(tmp_path / "budget.docx")

    doc = load_document(tmp_path / "budget.docx")
    assert (doc.title, doc.author, doc.date, doc.publisher, doc.url) == (
        "Budget talks", "Ann Reporter", "2022-03-04", "", "")
    assert doc.text == ("Budget talks stall\n\nMinisters failed to agree on the budget on Tuesday.\n\n"
                        "What comes next\n\nTalks resume on Friday, officials said.\n\nParty | Seats\nBlue | 42")


def test_a_word_document_made_by_a_script_is_not_dated_2013_or_written_by_python_docx(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("The ferry crossing to Valmora closes for repairs in March.")
    document.save(tmp_path / "memo.docx")
    assert (load_document(tmp_path / "memo.docx").author, load_document(tmp_path / "memo.docx").date) == ("", "")
    document.core_properties.author = "Tomas Reyes"  # a script that names the author but keeps the template's time
    document.save(tmp_path / "memo.docx")
    assert (load_document(tmp_path / "memo.docx").author, load_document(tmp_path / "memo.docx").date) == (
        "Tomas Reyes", "")


def test_a_corrupt_word_document_is_a_clear_failure(tmp_path: Path) -> None:
    path = tmp_path / "draft.docx"
    path.write_bytes(b"PK\x03\x04 the start of a zip file, then nothing")
    with pytest.raises(LoadError, match="draft.docx: not a readable Word document"):
        load_document(path)


def test_front_matter_url_is_kept_when_it_is_a_web_address(tmp_path: Path) -> None:
    path = tmp_path / "linked.txt"
    path.write_text("---\ntitle: Linked\nurl: https://www.example.org/news/linked?id=3\n---\nBody text.\n")
    assert load_document(path).url == "https://www.example.org/news/linked?id=3"
    path.write_text("---\ntitle: Linked\nurl: javascript:alert(1)\n---\nBody text.\n")
    assert load_document(path).url == ""


def test_pdf_keeps_pages_and_document_info(tmp_path: Path) -> None:
    pages = ["The first page talks about drones.", "The second page names a suspect.", "The third page concludes."]
    doc = load_document(make_pdf(tmp_path / "report.pdf", pages, title="Drone report", author="Analyst"))
    assert (doc.title, doc.author) == ("Drone report", "Analyst")
    assert [span.page for span in doc.pages] == [1, 2, 3]
    for span, text in zip(doc.pages, pages):
        assert doc.text[span.start : span.end] == text
        assert doc.page_at(span.start) == span.page


@pytest.mark.parametrize(
    ("encoding", "prefix"), [("latin-1", b""), ("utf-16-le", codecs.BOM_UTF16_LE), ("utf-8", codecs.BOM_UTF8)]
)
def test_text_in_other_encodings_is_decoded(tmp_path: Path, encoding: str, prefix: bytes) -> None:
    path = tmp_path / "accents.txt"
    path.write_bytes(prefix + "Café in São Paulo, naïve résumé.".encode(encoding))
    assert load_document(path).text == "Café in São Paulo, naïve résumé."


@pytest.mark.parametrize(("charset", "title", "text"), [
    ("shift_jis", "日本の橋", "新しい橋は来年に開通する予定です。"),
    ("windows-1251", "Новый мост", "Новый мост через реку откроется в следующем году."),
    ("iso-8859-2", "Nowy most", "Nowy most przez rzekę zostanie otwarty w przyszłym roku, mówią władze."),
])
def test_a_saved_page_is_read_in_the_charset_it_declares(tmp_path: Path, charset: str, title: str,
                                                         text: str) -> None:
    """Pages saved from older or non-English sites are often not UTF-8; read as Windows-1252 they were mojibake."""
    for declaration in (f'<meta charset="{charset}">',
                        f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">'):
        path = tmp_path / "page.html"
        page = (f"<html><head>{declaration}<title>{title}</title></head>"
                f"<body><article><h1>{title}</h1><p>{text}</p></article></body></html>")
        path.write_bytes(page.encode(charset))
        document = load_document(path)
        assert document.title == title and text in document.text, declaration


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.txt", b"", "file is empty"),
        ("blank.md", b"  \n\n ", "file is empty"),
        ("binary.txt", bytes(range(256)) * 20, "binary data"),
        ("broken.pdf", b"%PDF-1.4\n this is not really a pdf \n%%EOF", "not a readable PDF"),
        ("table.csv", b"a,b\n1,2\n", "unsupported file type"),
    ],
)
def test_unreadable_files_raise_one_error_naming_file_and_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(LoadError) as caught:
        load_document(path)
    assert name in str(caught.value)
    assert reason in caught.value.reason


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    path.write_text("word " * 1000)
    with pytest.raises(LoadError, match="over the"):
        load_document(path, max_bytes=1000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2021-11-20", "2021-11-20"), ("November 20, 2021", "2021-11-20"), ("D:20211120093000Z", "2021-11-20"),
     ("20 November 2021", "2021-11-20"), ("2021-11-20T09:30:00+00:00", "2021-11-20"), ("20211120", "2021-11-20"),
     ("November 2021", "2021-11"), ("2021-11", "2021-11"), ("2021", "2021"), ("", ""),
     # as agencies and foreign papers write them (they were left undated)
     ("Nov. 7, 2021", "2021-11-07"), ("Sept. 30, 2021", "2021-09-30"), ("Sun, 07 Nov 2021 23:30:00 -0500", "2021-11-07"),
     ("7 novembre 2021", "2021-11-07"), ("1er décembre 2021", "2021-12-01"), ("7. November 2021", "2021-11-07"),
     ("7 März 2021", "2021-03-07"), ("07.11.2021", "2021-11-07")],
)
def test_dates_are_normalized_to_iso(value: str, expected: str) -> None:
    assert normalize_date(value) == expected


@pytest.mark.parametrize("value", ["last Tuesday", "12/11/2021", "2021-02-30", "20213045", "2021-13", "31.02.2021"])
def test_a_date_that_cannot_be_read_is_left_out_and_named(tmp_path: Path, value: str,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    """The date filters compare ISO text: "last Tuesday" kept as the date would sort after every year and match
    any "since"; an ambiguous or impossible date would place the story at a wrong time."""
    path = tmp_path / "harbour.txt"
    path.write_text(f"---\ntitle: Harbour bridge\ndate: {value}\n---\nThe harbour bridge opened.\n")
    assert load_document(path).date == ""
    assert f"harbour.txt: date {value!r} is not a date" in caplog.text


def test_markdown_syntax_stays_out_of_the_passages(tmp_path: Path) -> None:
    """A reader sees "The big storm", not "# The **big** storm", and a link's words without its address."""
    path = tmp_path / "storm.md"
    path.write_text("---\ntitle: Storm\n---\n# The **big** storm\n\nThe [weather service](https://wx.example.org) "
                    "said the storm\nwould pass by *Friday*. ![Map of the storm](map.png)\n\n- Ferries stopped\n"
                    "- Schools `closed`\n\n| town | rain |\n|---|---|\n| Elmsby | 80 mm |\n")
    assert load_document(path).text == ("The big storm\n\nThe weather service said the storm would pass by Friday. "
                                        "Map of the storm\n\nFerries stopped\n\nSchools closed\n\n"
                                        "town | rain\n\nElmsby | 80 mm")


def test_a_front_matter_header_that_is_never_closed_is_said_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "open.txt"
    path.write_text("---\ntitle: Unterminated\ndate: 2021-05-05\n\nThe city council met on Monday.\n")
    document = load_document(path)
    assert "The city council met on Monday." in document.text and document.date == ""
    assert "open.txt: starts a front-matter header with --- but never closes it" in caplog.text


def test_front_matter_lists_are_read_as_their_items(tmp_path: Path) -> None:
    """`publisher: [Reuters, AP]` was kept with its brackets, and an author list under `author:` was dropped."""
    path = tmp_path / "pooled.txt"
    path.write_text("---\ntitle: Pool report\npublisher: [Reuters, \"AP\"]\nauthor:\n  - Jane Doe\n  - 'Omar Ali'\n"
                    "date: 2021-11-07\n---\nThe pool report was filed at noon.\n")
    document = load_document(path)
    assert (document.publisher, document.author, document.date) == ("Reuters, AP", "Jane Doe, Omar Ali", "2021-11-07")


def test_character_references_copied_from_web_pages_are_written_out(tmp_path: Path) -> None:
    path = tmp_path / "viacom.txt"
    path.write_text("---\ntitle: &#163;1.8m indecency fine for Viacom\n---\n"
                    "Viacom agreed to pay &pound;1.8m. R&D and &notably stay as written; AT&amp;T does not.\n")
    document = load_document(path)
    assert document.title == "£1.8m indecency fine for Viacom"
    assert document.text == "Viacom agreed to pay £1.8m. R&D and &notably stay as written; AT&T does not."


LIVE_ENTRIES = [("17:10 GMT", "Fifth death confirmed", "Police say a fifth person has died in hospital."),
                ("12:30 GMT", "Helpline opened", "Wessex Lines has opened a helpline for relatives on 0800 555 0199."),
                ("10:42 GMT", "", "A witness says the train lurched to the left."),
                ("08:30 GMT", "What we know", "A passenger train has derailed near Harwell Junction in Oxfordshire.")]


def live_page() -> str:
    """A live page as news sites publish one: entries stamped with their time in a `timestamp` element."""
    entries = "".join(f'<div class="entry"><span class="timestamp">{time}</span>{f"<h3>{heading}</h3>" * bool(heading)}'
                      f"<p>{text}</p></div>" for time, heading, text in LIVE_ENTRIES)
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Harwell derailment: live | Daily Ledger</title>'
            '<meta property="og:site_name" content="Daily Ledger">'
            '<meta property="article:published_time" content="2025-03-03T08:30:00+00:00"></head><body>'
            f'<nav><a href="/">Home</a></nav><h1>Harwell derailment: live</h1><div class="live-feed">{entries}</div>'
            "<footer>&copy; 2025 Daily Ledger</footer></body></html>")


def test_a_live_pages_entries_keep_their_times(tmp_path: Path, embedder: Embedder) -> None:
    """The times of a live page's entries were dropped as page furniture, so "when was the helpline opened?"
    was declined although the page says 12:30; each entry now opens with its time. An article's single
    `<time>` by-line is left where it was."""
    (tmp_path / "corpus").mkdir()
    path = tmp_path / "corpus" / "live.html"
    path.write_text(live_page())
    text = load_document(path).text
    for time, _, said in LIVE_ENTRIES:
        assert f"{time} – {said}" in text
    article = tmp_path / "article.html"
    article.write_text(news_page().replace('<p class="byline">By Jane Doe</p>',
                                           '<p class="byline">By Jane Doe, <time>10:15</time></p>'))
    assert "10:15" not in load_document(article).text  # left to the by-line, not opening the first paragraph
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    sync(settings, embedder)
    answer = Retriever.open(settings.index_dir, embedder, settings).ask("When was the helpline for relatives opened?")
    assert answer.confident and "12:30 GMT" in answer.text


@pytest.mark.parametrize("page", ['"https://news.example.com/world/drones"',
                                  '{"@type": "WebPage", "@id": "https://news.example.com/world/drones"}'],
                         ids=["text", "object"])
def test_a_page_giving_its_address_only_in_json_ld_keeps_it(tmp_path: Path, page: str) -> None:
    """Many news pages give their address only as JSON-LD `mainEntityOfPage`, which trafilatura does not read:
    the passage had no link to its original."""
    head = JSON_LD.replace('"headline"', f'"mainEntityOfPage": {page}, "headline"')
    path = tmp_path / "drones.html"
    path.write_text(news_page(head, canonical=""))
    assert load_document(path).url == "https://news.example.com/world/drones"
