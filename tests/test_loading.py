"""Loaders on real files: front matter, HTML meta tags, multi-page PDFs, encodings, and unreadable files."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from fpdf import FPDF

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


def test_markdown_without_front_matter_takes_title_from_name(tmp_path: Path) -> None:
    path = tmp_path / "drone_strike-report.md"
    path.write_text("# Heading\n\nSome text about drones.\n")
    doc = load_document(path)
    assert doc.title == "Drone strike report"
    assert "Some text about drones." in doc.text


def test_html_reads_meta_tags_and_article_text_without_scripts(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    body = "The attack happened at night. " * 10
    path.write_text(
        "<html><head><title>Fallback</title>"
        '<meta property="og:title" content="Drone attack on Baghdad">'
        '<meta property="og:site_name" content="Example News">'
        '<meta name="author" content="Jane Doe">'
        '<meta property="article:published_time" content="2021-11-08T10:00:00Z">'
        "<script>var secret = 'do not index';</script></head><body>"
        "<nav>Home | World</nav><article><h1>Drone attack</h1>"
        f"<p>{body}</p><p>Officials &amp; experts <b>spoke</b>.</p></article>"
        "<footer>Copyright</footer></body></html>"
    )
    doc = load_document(path)
    assert (doc.title, doc.publisher, doc.author, doc.date) == (
        "Drone attack on Baghdad", "Example News", "Jane Doe", "2021-11-08")
    assert "Officials & experts spoke." in doc.text
    for absent in ("do not index", "Home | World", "Copyright"):
        assert absent not in doc.text


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
     ("20 November 2021", "2021-11-20"), ("sometime", "sometime"), ("", "")],
)
def test_dates_are_normalized_to_iso(value: str, expected: str) -> None:
    assert normalize_date(value) == expected
