"""PDF text on real fpdf2 files: wrapped lines rejoined into whole sentences, columns, hyphens, headings, pages."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from fpdf import FPDF
from pypdf import PdfReader

from qa import Embedder
from qa.chunking import chunk_document
from qa.text import split_sentences
from qa.loading import load_document
from qa.pdf_text import join_pages, rejoin_lines

FREIGHT = (
    "Shipping costs climbed through the spring as insurers priced in the risk of delays at sea. "
    "Analysts at the chamber of commerce said freight rates on the Valmora to Ostend route rose by 14 per cent "
    "in March, the sharpest monthly rise since the port reopened after the strike. "
    "Importers passed most of the increase on to shops within weeks."
)
STRIKE = (
    "Dock workers ended their strike on Monday after the owners agreed to a new shift pattern. "
    "The union said the deal would be put to a vote of all members before the summer."
)
HARBOUR = (
    "The harbour authority answered with a plan to widen the northern channel before the winter storms. "
    "Its engineers expect the work to take two years and to cost more than the last dredging programme."
)
WINTER = "Ferry operators warned that crossings could be cut during the works. No date has been set for the start."


def new_pdf() -> FPDF:
    """An A4 fpdf2 document in a 12-point core font, ready for pages."""
    pdf = FPDF()
    pdf.core_fonts_encoding = "windows-1252"  # has the bullet "•", which latin-1 lacks
    pdf.set_font("helvetica", size=12)
    return pdf


def write_block(pdf: FPDF, text: str, width: float = 0) -> None:
    """One block (paragraph, heading or list item) wrapped by fpdf2 to `width` (0: the full text width)."""
    pdf.multi_cell(width, 7, text, new_x="LMARGIN", new_y="NEXT")


def save(pdf: FPDF, path: Path) -> Path:
    """The PDF written to `path`."""
    pdf.output(str(path))
    return path


def raw_lines(path: Path) -> list[str]:
    """What pypdf alone returns for every page, one printed line per item."""
    return [line for page in PdfReader(path).pages for line in page.extract_text().splitlines()]


def sentence_containing(text: str, words: str) -> str:
    """The first sentence of `text`, as `split_sentences` cuts it, that holds `words`."""
    return next(text[s:e] for s, e in split_sentences(text) if words in text[s:e])


def test_a_wrapped_paragraph_comes_back_as_one_line_of_whole_sentences(tmp_path: Path) -> None:
    pdf = new_pdf()
    pdf.add_page()
    write_block(pdf, FREIGHT)
    path = save(pdf, tmp_path / "freight.pdf")
    as_printed = "\n".join(raw_lines(path))
    assert "14 per cent" not in sentence_containing(as_printed, "Analysts"), "the sentence must wrap"

    doc = load_document(path)

    assert doc.text == FREIGHT
    sentence = sentence_containing(doc.text, "Valmora")
    assert sentence.startswith("Analysts at the chamber") and sentence.endswith("after the strike.")
    assert "14 per cent" in sentence


def test_two_columns_read_whole_and_column_one_first(tmp_path: Path) -> None:
    pdf = new_pdf()
    pdf.add_page()
    gutter = 10
    width = (pdf.epw - gutter) / 2
    top = pdf.t_margin
    for x, paragraphs in ((pdf.l_margin, (FREIGHT, STRIKE)), (pdf.l_margin + width + gutter, (HARBOUR, WINTER))):
        pdf.set_xy(x, top)
        for paragraph in paragraphs:
            pdf.multi_cell(width, 7, paragraph, new_x="LEFT", new_y="NEXT")
            pdf.ln(7)
    path = save(pdf, tmp_path / "columns.pdf")

    doc = load_document(path)

    assert doc.text.split("\n\n") == [FREIGHT, STRIKE, HARBOUR, WINTER]


def test_a_word_hyphenated_at_a_line_end_is_rejoined(tmp_path: Path) -> None:
    pdf = new_pdf()
    pdf.add_page()
    write_block(pdf, "The ministry promised the families of the crew fair compen-\nsation within a month.")
    path = save(pdf, tmp_path / "hyphen.pdf")
    assert "compen-" in raw_lines(path)[0]

    doc = load_document(path)

    assert doc.text == "The ministry promised the families of the crew fair compensation within a month."


@pytest.mark.parametrize(
    ("lines", "joined"),
    [
        ("it pays fair compen-\nsation now.", "it pays fair compensation now."),
        ("a long-\nterm plan.", "a long-term plan."),
        ("a fuel short-\nage hit the city.", "a fuel shortage hit the city."),
        ("Prime Minister Mustafa al-\nKadhimi said.", "Prime Minister Mustafa al-Kadhimi said."),
        ("the 2020-\n21 season.", "the 2020-21 season."),
        ("prices rose -\nand fell.", "prices rose - and fell."),
    ],
)
def test_hyphen_at_a_line_end(lines: str, joined: str) -> None:
    assert rejoin_lines(lines) == joined


def test_headings_and_list_items_keep_their_own_lines_and_paragraphs_stay_apart(tmp_path: Path) -> None:
    pdf = new_pdf()
    pdf.add_page()
    for block in ("Background", FREIGHT, "The port listed three demands:", "• a second pier", "- more cranes",
                  "1. night shifts for the customs office, paid at the overtime rate agreed with the unions "
                  "last year, and a review after six months", "(a) a new road", "Outlook", HARBOUR):
        write_block(pdf, block)
    path = save(pdf, tmp_path / "structure.pdf")

    doc = load_document(path)

    assert doc.text.split("\n\n") == [
        "Background", FREIGHT, "The port listed three demands:", "• a second pier", "- more cranes",
        "1. night shifts for the customs office, paid at the overtime rate agreed with the unions last year, "
        "and a review after six months", "(a) a new road", "Outlook", HARBOUR,
    ]


def test_the_last_list_item_does_not_run_into_the_paragraph_after_it(tmp_path: Path) -> None:
    """An item without final punctuation ran into the next paragraph: "• night shifts for customs The ministry..."."""
    pdf = new_pdf()
    pdf.add_page()
    blocks = ("The port listed two demands:", "• a second pier", "• night shifts for customs", STRIKE,
              "1. night shifts for the customs office, paid at the overtime rate agreed with the unions last year, "
              "and a review after six months", HARBOUR)
    for block in blocks:
        write_block(pdf, block)
    assert load_document(save(pdf, tmp_path / "demands.pdf")).text.split("\n\n") == list(blocks)


def test_a_full_width_list_item_does_not_swallow_the_paragraph_after_it(tmp_path: Path) -> None:
    """"• Public employment services reach fewer than one in five young jobseekers Humanitarian partners..."."""
    pdf = new_pdf()
    pdf.add_page()
    item = "• Public employment services in the region reach fewer than one in five young jobseekers"
    pdf.set_font("helvetica", size=11)
    write_block(pdf, "The review found two gaps:")
    write_block(pdf, item)
    write_block(pdf, STRIKE)
    path = save(pdf, tmp_path / "item.pdf")
    assert len(raw_lines(path)[1]) >= 0.75 * max(len(line) for line in raw_lines(path)), "the item runs full width"
    assert load_document(path).text.split("\n\n") == ["The review found two gaps:", item, STRIKE]


def test_a_numbered_paragraph_wrapping_before_a_name_stays_whole(tmp_path: Path) -> None:
    """A ruling's numbered paragraphs are prose: one wrapping before "Infrastructure Ltd" was cut there (as a
    bullet ends before a capital), and the answer named the claimants' barrister for the defendant's."""
    pdf = new_pdf()
    pdf.add_page()
    pdf.set_font("helvetica", size=11)
    represented = ("3. The second defendant, Network Rail Infrastructure Ltd, is represented by Ms Fiona Hale of "
                   "Counsel, instructed by Harwell Kingsley Solicitors LLP of London, and the Office of Rail and Road "
                   "by Mr Daniel Okafor, Treasury Counsel, of the Government Legal Department in Bristol.")
    for block in ("2. The claimants are represented by Ms Amelia Grant KC.", represented,
                  "4. The hearing took place on 6 March 2025."):
        write_block(pdf, block)
    path = save(pdf, tmp_path / "ruling.pdf")
    wrapped = raw_lines(path)[2:-1]  # the lines of paragraph 3 after its first
    assert any(line[:1].isupper() for line in wrapped), "a wrapped line opens with a capital"
    assert load_document(path).text.split("\n\n") == ["2. The claimants are represented by Ms Amelia Grant KC.",
                                                       represented, "4. The hearing took place on 6 March 2025."]


def test_a_number_opening_a_wrapped_line_does_not_start_a_list_item() -> None:
    lines = "Analysts said freight rates on the Valmora to Ostend route rose by\n14. Then they fell again in April."
    assert rejoin_lines(lines) == lines.replace("\n", " ")


def two_page_pdf(tmp_path: Path) -> Path:
    pdf = new_pdf()
    for paragraph in (FREIGHT, HARBOUR):
        pdf.add_page()
        write_block(pdf, paragraph)
    return save(pdf, tmp_path / "two-pages.pdf")


def test_sentences_on_page_two_map_to_page_two(tmp_path: Path) -> None:
    doc = load_document(two_page_pdf(tmp_path))

    assert [(span.page, doc.text[span.start : span.end]) for span in doc.pages] == [(1, FREIGHT), (2, HARBOUR)]
    for words, page in (("Valmora", 1), ("northern channel", 2), ("dredging programme", 2)):
        start, end = next((s, e) for s, e in split_sentences(doc.text) if words in doc.text[s:e])
        assert doc.page_at(start) == doc.page_at(end - 1) == page


def test_chunks_of_a_rejoined_pdf_keep_exact_text_and_page(tmp_path: Path, embedder: Embedder) -> None:
    doc = load_document(two_page_pdf(tmp_path))

    chunks = chunk_document(doc, embedder.count_tokens, 40, 8, embedder.split_long)

    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.text == doc.text[chunk.start : chunk.end]
        assert chunk.page == doc.page_at(chunk.start)
    valmora = next(chunk for chunk in chunks if "Valmora" in chunk.text)
    assert "14 per cent" in valmora.text and valmora.page == 1


def test_a_sentence_across_a_page_break_reads_whole_and_cites_the_page_it_starts_on(
    tmp_path: Path, embedder: Embedder
) -> None:
    """Passages never spanned two pages, so the sentence the page break cut was answered as "Analysts at", and
    its figure was in a sentence of its own on the next page."""
    pdf = new_pdf()
    pdf.add_page()
    write_block(pdf, STRIKE)
    pdf.set_y(pdf.h - pdf.b_margin - 7)  # room for one line: the paragraph runs on over the page break
    write_block(pdf, FREIGHT)
    write_block(pdf, HARBOUR)
    path = save(pdf, tmp_path / "page-break.pdf")
    first_page = PdfReader(path).pages[0].extract_text()
    assert first_page.endswith("Analysts at"), "the sentence must cross the page break"

    doc = load_document(path)

    assert doc.text.split("\n\n") == [STRIKE, FREIGHT, HARBOUR]
    assert [span.page for span in doc.pages] == [1, 2]
    for span in doc.pages:
        printed = PdfReader(path).pages[span.page - 1].extract_text().split()
        assert set(doc.text[span.start : span.end].split()) <= set(printed)
    chunks = chunk_document(doc, embedder.count_tokens, 60, 8, embedder.split_long)
    valmora = next(chunk for chunk in chunks if "Valmora" in chunk.text)
    assert sentence_containing(valmora.text, "Valmora") == sentence_containing(FREIGHT, "Valmora")
    assert valmora.page == 1 and doc.page_at(valmora.start + valmora.text.index("14 per cent")) == 2
    assert next(chunk for chunk in chunks if "northern channel" in chunk.text).page == 2


class FootnotedReport(FPDF):
    """A report with a footnote in small print at the foot of page 1 and "Title | N" at the foot of each page."""

    def footer(self) -> None:
        if self.page_no() == 1:
            self.set_y(-28)
            self.set_font("helvetica", size=7.5)
            self.multi_cell(0, 3.6, "1 Figures from the port authority's ledger for the months of January to "
                                    "December, as audited by the chamber of commerce in Ostend in the spring")
        self.set_y(-15)
        self.set_font("helvetica", size=8)
        self.cell(0, 5, f"Valmora Freight Review | {self.page_no()}", align="C")


def test_a_footnote_at_the_foot_of_a_page_stays_out_of_the_sentences(tmp_path: Path) -> None:
    """Its small print runs as long as a body line, so it continued the sentence above it, and the next page's
    continuation was glued after it: "...rates on the 1 Figures from the port authority's ledger... Valmora"."""
    pdf = FootnotedReport()
    pdf.set_auto_page_break(True, 30)
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    write_block(pdf, STRIKE)
    pdf.set_y(pdf.page_break_trigger - 7.1)
    write_block(pdf, FREIGHT)
    write_block(pdf, HARBOUR)
    path = save(pdf, tmp_path / "footnoted.pdf")
    assert "1 Figures from" in PdfReader(path).pages[0].extract_text()

    text = load_document(path).text

    note = sentence_containing(text, "port authority's ledger")
    assert note.startswith("1 Figures from") and "Analysts" not in note and "chamber of commerce said" not in note
    assert "Page" not in text and "Freight Review |" not in text
    for words in ("Shipping costs", "Importers passed", "northern channel"):
        assert "Figures" not in sentence_containing(text, words)


class ChapteredReport(FPDF):
    """A report whose running header names the chapter: "Chapter 1: Freight" on pages 1-2, then "Chapter 2"."""

    def header(self) -> None:
        chapter = 1 if self.page_no() <= 2 else 2
        self.cell(0, 8, f"Chapter {chapter}: {'Freight' if chapter == 1 else 'The harbour'}", align="C",
                  new_x="LMARGIN", new_y="NEXT")


def test_a_chapters_own_running_header_is_dropped_and_the_sentence_under_it_reads_whole(tmp_path: Path) -> None:
    """The header of one chapter is on too few pages to count as running, so it was glued into the sentence
    across the page break: "...Analysts at Chapter 1: Freight the chamber of commerce..."."""
    pdf = ChapteredReport()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    write_block(pdf, STRIKE)
    pdf.set_y(pdf.page_break_trigger - 7.1)
    write_block(pdf, FREIGHT)
    for text in (HARBOUR, WINTER, STRIKE, HARBOUR):  # chapter 2 is longer: chapter 1's header is on 2 of 6 pages
        pdf.add_page()
        write_block(pdf, text)
    text = load_document(save(pdf, tmp_path / "chapters.pdf")).text
    assert "Chapter" not in text
    assert sentence_containing(text, "Valmora") == sentence_containing(FREIGHT, "Valmora")


def test_a_caption_at_the_foot_of_a_page_is_not_glued_to_the_next_page(tmp_path: Path) -> None:
    """A caption (or heading) without final punctuation ending a page was glued to the next page's first
    sentence, which was then cited at the caption's page."""
    pdf = new_pdf()
    pdf.add_page()
    write_block(pdf, STRIKE)
    write_block(pdf, "Figure 3: Freight rates on the Valmora to Ostend route by month, 2020 to 2024")
    pdf.add_page()
    write_block(pdf, HARBOUR)
    doc = load_document(save(pdf, tmp_path / "caption.pdf"))
    assert sentence_containing(doc.text, "harbour authority").startswith("The harbour authority")
    assert doc.page_at(doc.text.index("The harbour authority")) == 2


def test_a_word_broken_over_a_page_break_is_rejoined_and_belongs_to_no_page(tmp_path: Path) -> None:
    pdf = new_pdf()
    pdf.add_page()
    write_block(pdf, "The ministry promised the families of the crew that it would pay them fair compen-")
    pdf.add_page()
    write_block(pdf, "sation within a month of the inquiry.")

    doc = load_document(save(pdf, tmp_path / "broken-word.pdf"))

    assert doc.text == ("The ministry promised the families of the crew that it would pay them fair compensation "
                        "within a month of the inquiry.")
    assert [(span.page, doc.text[span.start : span.end]) for span in doc.pages] == [
        (1, "The ministry promised the families of the crew that it would pay them fair compen"),
        (2, "sation within a month of the inquiry."),
    ]


@pytest.mark.parametrize(
    ("last", "first", "runs_on"),
    [
        ("analysts said freight rates on the Valmora to", "the Ostend route rose by 14 per cent.", True),
        ("the ministry said the", "families would be paid.", True),
        ("analysts said freight rates on the Valmora to Ostend route rose by", "14 per cent in March.", False),
        ("the union said the deal would be put to a vote of all members", "Dock workers ended their strike.", False),
        ("Importers passed most of the increase on to shops within weeks.", "the figures are provisional.", False),
        ("1 Figures from the port authority's ledger for the year", "the rates rose.", False),
        ("• night shifts for customs officers at the port of", "valmora and Ostend.", False),
        ("Background to the strike at the port of Valmora this spring", "• a second pier", False),
    ],
)
def test_a_block_runs_on_over_a_page_break_only_when_it_ends_no_sentence(last: str, first: str, runs_on: bool) -> None:
    text, _ = join_pages([f"Earlier text.\n{last}", first])
    assert (f"{last} {first}" in text) == runs_on and (f"{last}\n\n{first}" in text) != runs_on


def test_a_pdf_that_states_no_publication_date_has_none(tmp_path: Path) -> None:
    pdf = new_pdf()
    pdf.set_title("Freight on the Valmora")
    pdf.set_creation_date(datetime(2026, 12, 1, tzinfo=timezone.utc))  # the day the file was made, not published
    pdf.add_page()
    write_block(pdf, WINTER)
    doc = load_document(save(pdf, tmp_path / "report.pdf"))
    assert PdfReader(tmp_path / "report.pdf").metadata["/CreationDate"].startswith("D:2026")
    assert doc.title == "Freight on the Valmora" and doc.date == ""


class RunningReport(FPDF):
    """A report as agencies print them: the same header at the top of every page, "Page N of M" at the foot."""

    def header(self) -> None:
        self.cell(0, 8, "Valmora Port Authority - Quarterly Freight Review", align="C", new_x="LMARGIN", new_y="NEXT")

    def footer(self) -> None:
        self.set_y(-15)
        self.cell(0, 10, f"Page {self.page_no()} of {{nb}}", align="C")


def test_a_running_header_and_page_footer_stay_out_of_the_text(tmp_path: Path) -> None:
    """They ran into the first and last sentence of every page ("...could then Page 1 of 3") and made passages of
    their own; the same line in the body of one page stays."""
    pdf = RunningReport()
    pdf.set_font("helvetica", size=12)
    for text in (FREIGHT, STRIKE, HARBOUR):
        pdf.add_page()
        write_block(pdf, text)
    write_block(pdf, "The Valmora Port Authority - Quarterly Freight Review is sent to every shipper.")
    text = load_document(save(pdf, tmp_path / "review.pdf")).text
    assert "Page" not in text and text.count("Quarterly Freight Review") == 1
    assert sentence_containing(text, "Importers") == "Importers passed most of the increase on to shops within weeks."
    assert sentence_containing(text, "Dock workers").startswith("Dock workers ended their strike")
