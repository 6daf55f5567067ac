"""qa.export: relevance labels, escaped HTML with the answer marked, and the Markdown report of a session."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qa import Answer, Hit, Retriever, Sentence
from qa.answer import NO_ANSWER_THRESHOLD, STRONG_ANSWER_THRESHOLD
from qa.export import (answer_html, answers_markdown, citation, counted, escape_markdown, export_name,
                       highlight_html, passage_html, relevance)
from qa.records import PageSpan

SEED_QUESTION = "who was suspected of the Kadhimi attack"


def make_hit(text: str, answer: tuple[int, int, float] | None = None, rank: int = 1, **source: object) -> Hit:
    fields = dict(title="Drones over Baghdad", publisher="Track Persia", author="Trackpersia",
                  date="2021-11-20", path="corpus/drones.txt", page=None)
    fields.update(source)
    return Hit(rank=rank, score=0.03, text=text, chunk_id=rank, doc_id="drones.txt", start=0, end=len(text),
               answer=Sentence(*answer) if answer else None, **fields)


@pytest.mark.parametrize("score, label", [
    (STRONG_ANSWER_THRESHOLD + 0.01, "Strong match"), (STRONG_ANSWER_THRESHOLD, "Strong match"),
    (STRONG_ANSWER_THRESHOLD - 0.01, "Good match"), (NO_ANSWER_THRESHOLD, "Good match"),
    (NO_ANSWER_THRESHOLD - 0.01, "Weak match"), (-1.0, "Weak match"),
])
def test_relevance_labels_follow_the_calibrated_thresholds(score: float, label: str) -> None:
    assert NO_ANSWER_THRESHOLD < STRONG_ANSWER_THRESHOLD
    assert relevance(make_hit("One sentence.", (0, 13, score))).label == label


def test_a_hit_without_a_marked_sentence_is_not_scored() -> None:
    assert relevance(make_hit("")).label == "Not scored"


def test_citation_names_title_publisher_author_date_page_and_file() -> None:
    assert citation(make_hit("x", page=3)) == ("Drones over Baghdad — Track Persia, Trackpersia, 2021-11-20, page 3, "
                                               "drones.txt")
    assert citation(make_hit("x", title="", publisher="", author="", date="")) == "drones.txt"


def test_citation_gives_the_original_url_when_known() -> None:
    hit = make_hit("x", url="https://www.middleeasteye.net/news/iraq-kadhimi-drone-attack")
    assert citation(hit) == ("Drones over Baghdad — Track Persia, Trackpersia, 2021-11-20, "
                             "https://www.middleeasteye.net/news/iraq-kadhimi-drone-attack")


def test_highlight_escapes_every_character_and_marks_only_the_span() -> None:
    text = 'Before <script>alert("x")</script> & after'
    html = highlight_html(text, 7, 34)
    assert html == ('<div class="qa-text" dir="auto">Before <mark>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</mark>'
                    " &amp; after</div>")


def test_highlight_keeps_line_breaks_without_blank_lines() -> None:
    """A blank line would end the HTML block and let Markdown act on the corpus text after it."""
    html = highlight_html("First paragraph.\n\n**Second** paragraph.", 0, 0)
    assert "\n" not in html and "<br><br>**Second**" in html and "<mark>" not in html


def test_highlight_labels_pages_and_marks_across_them_with_one_anchor() -> None:
    text = "Page one text. Page two text."
    pages = (PageSpan(1, 0, 15), PageSpan(2, 15, len(text)))
    html = highlight_html(text, 9, 20, pages, anchor="qa-passage")
    assert html.count('<div class="qa-page">') == 2
    assert html.index("Page 1") < html.index("Page one") < html.index("Page 2")
    assert html.count("<mark") == 2 and html.count('id="qa-passage"') == 1
    assert '<mark id="qa-passage">text. </mark><div class="qa-page">Page 2</div><mark>Page </mark>' in html


def test_passage_html_marks_the_answering_sentence_only_when_the_model_rates_it_an_answer() -> None:
    text = "Drones flew. Kataeb Sayyid al-Shuhada is the key suspect."
    hit = make_hit(text, (13, 57, NO_ANSWER_THRESHOLD))
    assert "<mark>Kataeb Sayyid al-Shuhada is the key suspect.</mark>" in passage_html(hit)
    assert "<mark>" not in passage_html(make_hit(text, (13, 57, NO_ANSWER_THRESHOLD - 0.01)))


def test_markdown_report_cites_the_answer_and_every_passage() -> None:
    first = make_hit("Three drones attacked. Kataeb Sayyid al-Shuhada is the key suspect.",
                     (23, 67, STRONG_ANSWER_THRESHOLD), page=2)
    second = make_hit("Another passage.", (0, 16, NO_ANSWER_THRESHOLD - 0.01), rank=2, title="Betrayed by Iran?",
                      publisher="Middle East Eye", author="", date="2021-11-28")
    report = answers_markdown([Answer(SEED_QUESTION, (first, second), first, True)], "Session")
    assert report.startswith("# Session\n")
    assert f"## 1. {SEED_QUESTION}" in report
    assert "**Answer:** Kataeb Sayyid al-Shuhada is the key suspect. [1]" in report
    assert "Source: *Drones over Baghdad* — Track Persia, Trackpersia, 2021-11-20, page 2, drones.txt" in report
    assert "**[2]** *Betrayed by Iran?* — Middle East Eye, 2021-11-28, drones.txt (weak match)" in report
    assert "> Three drones attacked. **Kataeb Sayyid al-Shuhada is the key suspect.**" in report
    assert "> Another passage." in report and "**Another passage.**" not in report  # below the no-answer threshold


def test_markdown_report_records_how_each_question_was_searched() -> None:
    hit = make_hit("Kataeb Sayyid al-Shuhada is the key suspect.", (0, 44, STRONG_ANSWER_THRESHOLD))
    answers = [Answer(SEED_QUESTION, (hit,), hit, True), Answer("nothing", ())]
    searches = ["exact words (bm25) · top 3 · Track Persia · 2021-11-01 to 2021-11-30", "meaning (dense) · top 5"]
    report = answers_markdown(answers, searches=searches)
    first, second = report.split("## 2. nothing")
    assert "*Searched by exact words (bm25) · top 3 · Track Persia · 2021-11-01 to 2021-11-30*" in first
    assert "*Searched by meaning (dense) · top 5*" in second


def test_markdown_report_says_when_there_is_no_answer_or_no_passage() -> None:
    weak = make_hit("Nothing relevant here.", (0, 22, 0.1))
    report = answers_markdown([Answer("boiling point of tungsten", (weak,), weak, False), Answer("nothing", ())])
    assert "does not seem to answer this" in report and "**Answer:**" not in report
    assert "No passages matched" in report
    assert "## 2. nothing" in report


def test_markdown_report_escapes_corpus_text() -> None:
    hit = make_hit("Read <script>x</script> and *this* # now", (0, 4, 0.5), title="A [link](http://x) title")
    report = answers_markdown([Answer("q", (hit,), hit, True)])
    assert "<script>" not in report and r"\<script\>x\</script\>" in report
    assert r"*A \[link\](http://x) title*" in report
    assert r"\*this\* \# now" in report


@pytest.mark.parametrize(("sentence", "phrase", "html"), [
    # the closing quotation mark is added at the end; the phrase stays where it is
    ('"Kataeb <KSS> is the key suspect.', "Kataeb <KSS>",
     '&quot;<strong class="qa-phrase">Kataeb &lt;KSS&gt;</strong> is the key suspect.&quot;'),
    # the opening one is added at the start: the phrase moves one character on
    ('Three drones hit it," he said.', "Three",
     '&quot;<strong class="qa-phrase">Three</strong> drones hit it,&quot; he said.'),
])
def test_the_answer_phrase_is_marked_inside_the_shown_sentence(sentence: str, phrase: str, html: str) -> None:
    text = f"Before it. {sentence} After it."
    start = text.index(sentence)
    hit = make_hit(text, (start, start + len(sentence), STRONG_ANSWER_THRESHOLD))
    at = text.index(phrase)
    answer = Answer(SEED_QUESTION, (hit,), hit, True, phrase=(at, at + len(phrase)))
    assert answer.phrase_text == phrase
    assert answer_html(answer) == html
    assert answer_html(replace(answer, phrase=None)) == html.replace('<strong class="qa-phrase">', "").replace(
        "</strong>", "")
    assert f"**Answer:** {escape_markdown(answer.text[:answer.phrase_in_text[0]])}**{escape_markdown(phrase)}**" in (
        answers_markdown([answer]))
    assert Answer.from_dict(answer.to_dict()) == answer  # a saved question keeps its phrase


def test_escape_markdown_leaves_plain_text_alone() -> None:
    assert escape_markdown("Kadhimi's house, 7 November (AFP).") == "Kadhimi's house, 7 November (AFP)."


def test_report_of_a_real_answer(seed_retriever: Retriever) -> None:
    answer = seed_retriever.ask(SEED_QUESTION, k=3)
    report = answers_markdown([answer])
    assert report.count("**[") == len(answer.hits) == 3
    assert "Middle East Eye" in report and "2021-11-28" in report
    assert "Kataeb Sayyid al-Shuhada" in report


@pytest.mark.parametrize(("notebook", "name"), [
    ("Kadhimi attack", "ask-the-articles-Kadhimi-attack-2026-12-05.md"),
    ("../etc/passwd", "ask-the-articles-etc-passwd-2026-12-05.md"),
    ("???", "ask-the-articles-notebook-2026-12-05.md"),
])
def test_an_export_is_named_after_its_notebook_with_safe_characters(notebook: str, name: str) -> None:
    assert export_name(notebook, "2026-12-05") == name


def test_counts_are_said_in_the_right_number() -> None:
    assert [counted(n, "passage") for n in (0, 1, 2, 7305)] == ["0 passages", "1 passage", "2 passages",
                                                                "7,305 passages"]


def test_an_answer_pointing_back_is_shown_after_the_sentence_it_points_to() -> None:
    """"He said the strike would go ahead." alone does not say who "he" is: the page, the export, the command line
    and the JSON give the sentence before it in its passage as the answer's context."""
    text = "Union leader Claudia Reiner spoke on Monday. He said the strike would go ahead. Talks end today."
    start = text.index("He said")
    best = make_hit(text, (start, text.index(" Talks"), 0.9))
    answer = Answer("Who said the strike would go ahead?", (best,), best, confident=True)
    assert answer.context == "Union leader Claudia Reiner spoke on Monday."
    assert "**Answer:** *Union leader Claudia Reiner spoke on Monday.* He said the strike" in answers_markdown([answer])
    assert answer.to_dict()["context"] == answer.context
    plain = make_hit(text, (0, start - 1, 0.9))
    assert Answer("Who spoke on Monday?", (plain,), plain, confident=True).context == ""  # points back to nothing
