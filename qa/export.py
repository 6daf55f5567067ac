"""How answers are shown to people: relevance labels, citations, escaped HTML with the answer marked,
and a Markdown export of a session's questions and answers.

Everything here is a pure function of records, so the page (`app.py`) stays a thin arrangement of
widgets and the formatting can be tested without a browser. Corpus text is never trusted: HTML output
escapes every character of it, and Markdown output backslash-escapes the characters Markdown acts on.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import NamedTuple

from qa.answer import NO_ANSWER_THRESHOLD, STRONG_ANSWER_THRESHOLD
from qa.records import Answer, Hit, PageSpan, Sentence
from qa.sources import SourceLine


class Relevance(NamedTuple):
    """A reader's word for how well a passage matches the question, and a colour for it."""

    label: str
    color: str


# Bands of the answer model's probability for a hit's best sentence (qa.answer), at the thresholds calibrated
# on public data (qa/models/answer-scorer.json): at or above NO_ANSWER_THRESHOLD the sentence is presented as
# an answer; at or above STRONG_ANSWER_THRESHOLD it almost never comes from an archive without the answer.
RELEVANCE_BANDS: tuple[tuple[float, Relevance], ...] = (
    (STRONG_ANSWER_THRESHOLD, Relevance("Strong match", "green")),
    (NO_ANSWER_THRESHOLD, Relevance("Good match", "blue")),
)
WEAK = Relevance("Weak match", "gray")
UNSCORED = Relevance("Not scored", "gray")

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$])")


def relevance(hit: Hit) -> Relevance:
    """The label for a hit's best sentence score; `UNSCORED` when no sentence was marked."""
    if hit.answer is None:
        return UNSCORED
    for floor, label in RELEVANCE_BANDS:
        if hit.answer.score >= floor:
            return label
    return WEAK


def source_details(hit: Hit) -> str:
    """Plain text: "Publisher, Author, date, page N", leaving out what is unknown."""
    return ", ".join(_detail_parts(hit))


def source_details_html(hit: Hit) -> str:
    """`source_details` as escaped HTML, each part isolated (`isolated`)."""
    return ", ".join(isolated(part) for part in _detail_parts(hit))


def _detail_parts(hit: Hit) -> list[str]:
    return [part for part in (hit.publisher, hit.author, hit.date, f"page {hit.page}" if hit.page else "") if part]


def citation_parts(hit: Hit) -> tuple[str, str]:
    """The citation of a passage as (title, the rest): "Title", " — Publisher, Author, date, page N, where",
    where being the original URL when known, else the file name (the title falls back to the file name, which
    is then not repeated). The one formatter of citations: `citation` for the page's copy button, and the
    Markdown export, which sets the title in italics."""
    where = hit.url or (hit.doc_id if hit.title else "")
    details = ", ".join(part for part in (source_details(hit), where) if part)
    return hit.title or hit.doc_id, f" — {details}" if details else ""


def citation(hit: Hit) -> str:
    """Plain text: "Title — Publisher, Author, date, page N, URL or file" (see `citation_parts`)."""
    return "".join(citation_parts(hit))


def safe_url(url: str) -> str:
    """`url` if it is a plain http(s) address, else "": a link made from corpus metadata must never run script
    (a `javascript:` address) or break out of its attribute."""
    return url if re.fullmatch(r"https?://[^\s\"'<>]+", url, flags=re.IGNORECASE) else ""


NEW_TAB = '<span class="qa-hidden"> (opens in a new tab)</span>'  # said to screen readers, not shown


def origin_html(hit: Hit) -> str:
    """Where a passage comes from, as escaped HTML: a link to its original URL when known, else its file name."""
    url = safe_url(hit.url)
    if url:
        return (f'<a class="qa-link" href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">'
                f"{escape_html(url)}{NEW_TAB}</a>")
    return f"File: {escape_html(hit.doc_id)}"


def source_line_html(line: SourceLine) -> str:
    """One line of "what each source says": the sentence (quotes balanced) and whose it is; a weak line (the
    document comes close but states no answer) is marked so."""
    weak = ' <span class="qa-weak-label">(comes close, states no answer)</span>' if line.weak else ""
    also = (f'<div class="qa-source">the same sentence, word for word, also in '
            f'{"; ".join(byline_html(hit) for hit in line.also)}</div>' if line.also else "")
    return (f'<div class="qa-says{" qa-weak" if line.weak else ""}"><div dir="auto">{escape_html(line.sentence)}</div>'
            f'<div class="qa-source">— {byline_html(line.hit)}{weak}</div>{also}</div>')


def copies_html(hit: Hit) -> str:
    """Which other documents state a passage word for word (`Hit.copies`), as escaped HTML; "" when none do."""
    return (f'<div class="qa-meta">The same text, word for word, also in '
            f'{"; ".join(byline_html(copy) for copy in hit.copies)}</div>' if hit.copies else "")


def byline_html(hit: Hit) -> str:
    """Whose a sentence is, as escaped HTML: the title in bold (linked to the original when its address is
    known), then publisher and date."""
    title = isolated(hit.title or hit.doc_id)
    if url := safe_url(hit.url):
        title = f'<a href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">{title}{NEW_TAB}</a>'
    details = ", ".join(isolated(part) for part in (hit.publisher, hit.date or "no date") if part)
    return f"<b>{title}</b>, {details}"


def counted(count: int, noun: str) -> str:
    """"1 document", "2,225 documents": a count with its noun in the right number (nouns taking an -s)."""
    return f"{count:,} {noun}{'s' * (count != 1)}"


def isolated(text: str) -> str:
    """`text` escaped inside <bdi>, which lays it out in its own direction: an Arabic title or publisher beside a
    date or another field no longer reverses the line ("— 10-11-2021 ,شفق نيوز")."""
    return f"<bdi>{escape_html(text)}</bdi>"


def escape_html(text: str) -> str:
    """Every character of `text` safe inside HTML; line breaks kept as <br> (no blank lines, so a
    Markdown renderer treats the whole block as HTML and applies no Markdown syntax to corpus text)."""
    return html.escape(text).replace("\r\n", "\n").replace("\n", "<br>")


def phrase_parts(answer: Answer) -> tuple[str, str, str]:
    """The answer's sentence (`Answer.text`, stripped) cut around its answer phrase: (before, phrase, after);
    the phrase is "" when none is marked."""
    text, where = answer.text, answer.phrase_in_text
    if where is None:
        return text.strip(), "", ""
    start, end = where
    return text[:start].lstrip(), text[start:end], text[end:].rstrip()


def answer_html(answer: Answer) -> str:
    """The answer's sentence as escaped HTML, its answer phrase in <strong>: "...by <strong>three</strong> drones"."""
    before, phrase, after = phrase_parts(answer)
    marked = f'<strong class="qa-phrase">{escape_html(phrase)}</strong>' if phrase else ""
    return escape_html(before) + marked + escape_html(after)


def highlight_html(text: str, start: int, end: int, pages: Sequence[PageSpan] = (), anchor: str = "") -> str:
    """`text` as one escaped HTML block with `text[start:end]` inside <mark>, and a "Page N" label where
    each page of a PDF begins. The mark and page tags are the only markup; the rest is escaped text.
    With `anchor`, the first mark gets that id, so a link can scroll to it.

    Example:
        >>> highlight_html("a <b> c", 2, 5)
        '<div class="qa-text" dir="auto">a <mark>&lt;b&gt;</mark> c</div>'
    """
    page_starts = {span.start: span.page for span in pages if 0 <= span.start < len(text)}
    marked = 0 <= start < end <= len(text)
    cuts = sorted({0, len(text), *page_starts, *((start, end) if marked else ())})
    parts = []
    for first, last in zip(cuts, cuts[1:]):
        if first in page_starts:
            parts.append(f'<div class="qa-page">Page {page_starts[first]}</div>')
        piece = escape_html(text[first:last])
        # cuts include start and end, so each piece lies wholly inside or outside the marked span
        if marked and start <= first and last <= end:
            opening = f'<mark id="{anchor}">' if anchor and first == start else "<mark>"
            piece = f"{opening}{piece}</mark>"
        parts.append(piece)
    return f'<div class="qa-text" dir="auto">{"".join(parts)}</div>'


def shown_sentence(hit: Hit) -> Sentence | None:
    """The hit's marked sentence if the answer model rates it an answer (at or above NO_ANSWER_THRESHOLD), else
    None: a passage that only comes close is shown without a marked sentence, in the page and in the export."""
    return hit.answer if hit.answer is not None and hit.answer.score >= NO_ANSWER_THRESHOLD else None


def passage_html(hit: Hit) -> str:
    """The hit's passage, escaped, with its answering sentence marked (see `shown_sentence`)."""
    sentence = shown_sentence(hit)
    return highlight_html(hit.text, sentence.start, sentence.end) if sentence else highlight_html(hit.text, 0, 0)


def escape_markdown(text: str) -> str:
    """`text` with Markdown's active characters backslash-escaped, so it reads as written."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def export_name(notebook: str, day: str) -> str:
    """The file name of a notebook's Markdown export on `day`: it names the notebook, so the exports of two
    stories made the same day are told apart, with only the characters a file name can safely hold."""
    stem = re.sub(r"[^\w-]+", "-", notebook).strip("-_") or "notebook"
    return f"ask-the-articles-{stem[:80]}-{day}.md"


def answers_markdown(answers: Sequence[Answer], heading: str = "Questions and answers",
                     searches: Sequence[str] = ()) -> str:
    """A Markdown report of a session: each question, how it was searched (`searches[i]`, the mode and filters
    in words, when given), its answer with its source, then every passage found, cited by `citation_parts`.
    Passages are numbered [1], [2]... per question in rank order, and the answer points to the passage it
    came from.
    """
    lines = [f"# {escape_markdown(heading)}", ""]
    if not answers:
        lines += ["No questions were asked.", ""]
    for number, answer in enumerate(answers, start=1):
        lines += [f"## {number}. {escape_markdown(answer.question)}", ""]
        if number <= len(searches):
            lines += [f"*Searched by {escape_markdown(searches[number - 1])}*", ""]
        lines += _answer_lines(answer)
        for hit in answer.hits:
            lines += [f"**[{hit.rank}]** {_markdown_citation(hit)} ({relevance(hit).label.lower()})", ""]
            if hit.copies:
                lines += [f"The same text also in {'; '.join(_markdown_citation(copy) for copy in hit.copies)}", ""]
            lines += _quote(hit)
    return "\n".join(lines).rstrip() + "\n"


def _answer_lines(answer: Answer) -> list[str]:
    """The answer paragraph: the sentence and its source, or why there is none."""
    if not answer.hits:
        return ["*No passages matched; the search filters may have excluded every document.*", ""]
    if not answer.confident or answer.best is None:
        return ["*The corpus does not seem to answer this; the closest passages follow.*", ""]
    best = answer.best
    return [
        f"**Answer:** {f'*{escape_markdown(answer.context)}* ' if answer.context else ''}"
        f"{answer_markdown(answer)} [{best.rank}]",
        "",
        f"Source: {_markdown_citation(best)}",
        "",
    ]


def answer_markdown(answer: Answer) -> str:
    """The answer's sentence as escaped Markdown, its answer phrase in bold."""
    before, phrase, after = phrase_parts(answer)
    return escape_markdown(before) + (f"**{escape_markdown(phrase)}**" if phrase else "") + escape_markdown(after)


def _markdown_citation(hit: Hit) -> str:
    """The citation with the title in italics."""
    title, rest = citation_parts(hit)
    return f"*{escape_markdown(title)}*{escape_markdown(rest)}"


def _quote(hit: Hit) -> list[str]:
    """The passage as a block quote, its answering sentence (see `shown_sentence`) in bold."""
    text, shown = hit.text, shown_sentence(hit)
    if shown is None:
        quoted = escape_markdown(text)
    else:
        start, end = shown.start, shown.end
        before, sentence, after = text[:start], text[start:end], text[end:]
        # bold must hug the words: move surrounding spaces outside the ** markers
        core = sentence.strip()
        lead, trail = sentence[: len(sentence) - len(sentence.lstrip())], sentence[len(sentence.rstrip()) :]
        quoted = escape_markdown(before) + lead + (f"**{escape_markdown(core)}**" if core else "") + trail
        quoted += escape_markdown(after)
    return [f"> {line}".rstrip() for line in quoted.splitlines()] + [""]
