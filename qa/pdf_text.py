"""Rejoins the lines a PDF text extractor returns into paragraphs, so a wrapped sentence reads whole.

pypdf returns every printed line as its own line. Two lines are joined by a space unless the break
between them is a real one:

- the next line is a list item ("•", "-", "*", "1.", "(a)"), or the line ends one (a list item's first short
  line, as "• night shifts for customs" before the next paragraph);
- the line is a heading, or the next line is one: a short line without final punctuation that starts
  with a capital, comes after a paragraph end and is followed by a capitalized line ("Background");
- the line is clearly shorter than the page's typical line and ends with sentence punctuation
  (the last line of a paragraph);
- the next line starts a footnote at the foot of the page (`footnote_starts`);
- a blank line.

A mistake either way costs little: a false break falls at a sentence end, and a missed one puts two
paragraphs on one line, where sentence splitting still separates them.

The pages are then one text (`join_pages`): apart by a blank line, or run on where a sentence goes on over the
page break in lowercase, so it reads whole too.

Before that, `without_running_lines` drops what a report prints on most pages, or on two pages in a row (a running
header, a chapter's header, "Page 3 of 12"), which would otherwise run into the first and last sentence of each
page and make passages of its own.
"""

from __future__ import annotations

import re

from qa.records import PageSpan

_SHORT = 0.75  # a line under this fraction of the typical width is "clearly shorter" than a full one
_SENTENCE_END = re.compile(r"[.!?:][\"'”’)\]]*$")
_FINAL_PUNCTUATION = re.compile(r"[.!?:;,\-–—][\"'”’)\]]*$")
_BULLET = re.compile(r"^[•◦▪‣·*\-–]\s+\S")
_NUMBERED = re.compile(r"^(\d{1,3}[.)]|\([a-z0-9]{1,3}\))\s+\S", re.IGNORECASE)
_BROKEN_WORD = re.compile(r"([^\W\d_]+)-$")  # letters, then the hyphen at the end of a line
_FIRST_WORD = re.compile(r"^[^\W\d_]+")
# Words English writes hyphenated before another word ("long-term", "well-known", "self-defence").
_COMPOUND_HEADS = frozenset({"self", "well", "long", "short", "full", "half", "so", "ill", "far"})


_PAGE_NUMBER = re.compile(r"(page\s*)?#(\s*(of|/)\s*#)?", re.IGNORECASE)
RUNNING_SHARE = 0.5  # a line on at least this share of the pages (and on two or more) is a running header or footer
RUNNING_EDGE = 3  # ... when it is among a page's first or last lines of text, where headers and footers stand


def without_running_lines(pages: list[str]) -> list[str]:
    """The pages' texts without the lines printed at the top or bottom of most pages, or of two pages in a row (a
    chapter's own header), numbers aside ("Page 2 of 3" and "Page 3 of 3" are one line), and without such lines
    that are only a page number; a one-page document keeps its lines."""
    keyed = [_edge_keys(page.splitlines()) for page in pages]
    if sum(1 for page in keyed if page) < 2:
        return pages
    on_pages: dict[str, list[int]] = {}
    for number, page in enumerate(keyed):
        for key in {key for _, key in page if key}:
            on_pages.setdefault(key, []).append(number)
    needed = max(2, RUNNING_SHARE * sum(1 for page in keyed if page))
    running = {key for key, numbers in on_pages.items()
               if len(numbers) >= needed or any(b == a + 1 for a, b in zip(numbers, numbers[1:]))}
    return ["\n".join(line for line, key in page if not key or (key not in running and not _PAGE_NUMBER.fullmatch(key)))
            for page in keyed]


def _edge_keys(lines: list[str]) -> list[tuple[str, str]]:
    """Each line with its `_running_key` when it is among the first or last RUNNING_EDGE lines of text, else ""."""
    text = [i for i, line in enumerate(lines) if line.strip()]
    edges = set(text[:RUNNING_EDGE] + text[-RUNNING_EDGE:])
    return [(line, _running_key(line) if i in edges else "") for i, line in enumerate(lines)]


def _running_key(line: str) -> str:
    """A line as repeated headers and footers are compared: spacing and case ignored, every number as "#"."""
    return re.sub(r"\d+", "#", " ".join(line.split()).lower())


def rejoin_lines(page_text: str) -> str:
    """The page's text with one line per paragraph, heading or list item, so sentences are not cut at line ends."""
    lines = [" ".join(line.split()) for line in page_text.splitlines()]  # a justified line's double spaces too
    width = _typical_width(lines)
    notes = footnote_starts(lines)
    paragraphs: list[str] = []
    current = ""
    for i, line in enumerate(lines):
        if not line:
            continue
        current = _join(current, line) if current else line
        previous = lines[i - 1] if i > 0 else ""
        following = lines[i + 1] if i + 1 < len(lines) else ""
        after_following = lines[i + 2] if i + 2 < len(lines) else ""
        item = "bullet" if _BULLET.match(current) else "numbered" if _NUMBERED.match(current) else ""
        if (not following or i + 1 in notes
                or _breaks_after(previous, line, following, after_following, width, item)):
            paragraphs.append(current)
            current = ""
    return "\n".join(paragraphs)


# A footnote starts with its number ("1 Figures from...", "¹ See...") or a mark ("* Estimate"), then a capital.
_FOOTNOTE = re.compile(r"^(\d{1,3}\s+|[¹²³⁴⁵⁶⁷⁸⁹⁰]+\s*|[*†‡§]\s*)[A-Z“\"]")
FOOTNOTE_LINES = 8  # footnotes stand among a page's last lines of text


def footnote_starts(lines: list[str]) -> set[int]:
    """Indexes of the lines that start a footnote: from the first line among the page's last FOOTNOTE_LINES lines
    of text that opens like one, each line that opens like one. Its small print runs as long as a body line, so
    it would otherwise continue the sentence above it ("...driven 1 Figures from the Tracking Matrix")."""
    text = [i for i, line in enumerate(lines) if line]
    first = next((i for i in text[-FOOTNOTE_LINES:] if _FOOTNOTE.match(lines[i])), None)
    return set() if first is None else {i for i in text if i >= first and _FOOTNOTE.match(lines[i])}


def _typical_width(lines: list[str]) -> int:
    """The upper-quartile line length: most lines of a page run full width, headings and list items don't."""
    lengths = sorted(len(line) for line in lines if line)
    return lengths[(3 * len(lengths)) // 4] if lengths else 0


def _breaks_after(previous: str, line: str, following: str, after_following: str, width: int,
                  item: str = "") -> bool:
    """True when the break between `line` and `following` ends a block rather than wrapping a paragraph; `item`
    says when the block so far is a list item ("bullet" or "numbered"), which ends at its first short line,
    punctuated or not, or before a capitalized line: a bullet's wrapped line goes on in lowercase, so a paragraph
    after a full-width bullet starts anew; a numbered paragraph (a ruling's, a report's) is prose, which wraps
    before a name ("...Network Rail / Infrastructure Ltd, is..."), so it ends there only after a sentence's end."""
    short = len(line) < _SHORT * width
    ends_sentence = bool(_SENTENCE_END.search(line))
    capital_ends = _starts_capitalized(following) and (item == "bullet" or ends_sentence)
    if _BULLET.match(following) or (item and (short or capital_ends)):
        return True
    # A wrapped sentence can put "14." at the start of a line, so a number starts an item only after a block end.
    if _NUMBERED.match(following) and (short or ends_sentence):
        return True
    if _is_heading(previous, line, following, width) or _is_heading(line, following, after_following, width):
        return True
    return short and ends_sentence


def _is_heading(previous: str, line: str, following: str, width: int) -> bool:
    """A short capitalized line without final punctuation between a block end and a capitalized line."""
    return (
        bool(line and following)
        and len(line) < _SHORT * width
        and not _FINAL_PUNCTUATION.search(line)
        and _starts_capitalized(line)
        and (not previous or len(previous) < _SHORT * width or bool(_SENTENCE_END.search(previous)))
        and (_starts_capitalized(following) or bool(_BULLET.match(following)))
    )


def _starts_capitalized(line: str) -> bool:
    """True when the line's first letter or digit, after any opening quote or bracket, is a capital or digit."""
    first = line.lstrip("\"'“‘([")[:1]
    return first.isupper() or first.isdigit()


def _join(text: str, line: str) -> str:
    """`text` continued by the next printed line (see `_glue`)."""
    dropped, separator = _glue(text, line)
    return text[: len(text) - dropped] + separator + line


def _glue(text: str, line: str) -> tuple[int, str]:
    """How `text` runs on into the next printed line: the characters to drop from its end and the separator.

    A space between words, none inside a word broken by a hyphen. A line ending in letter + "-" before a
    lowercase letter is a word the typesetter broke: the hyphen is dropped ("compen-" + "sation" ->
    "compensation") unless the part before it is a word English writes hyphenated before another ("long-" +
    "term" -> "long-term") and the part after has four letters or more, since suffixes a typesetter splits off
    ("short-age", "long-ing") are three. Before a capital or a digit the hyphen is part of the name or number and
    stays ("Al-" + "Kadhimi", "2020-" + "21").
    """
    if not text.endswith("-") or not text[-2:-1].isalnum():
        return 0, " "
    broken = _BROKEN_WORD.search(text)
    right = _FIRST_WORD.match(line)
    if broken and right and line[0].islower():
        keeps_hyphen = broken.group(1).lower() in _COMPOUND_HEADS and len(right.group()) >= 4
        return (0, "") if keeps_hyphen else (1, "")
    return 0, ""


def join_pages(pages: list[str]) -> tuple[str, tuple[PageSpan, ...]]:
    """The pages' texts as one text, with where each non-empty page lies in it.

    Pages are apart by a blank line, except where a paragraph runs on over the page break (`_runs_on`): there
    the page break is glued like a line break, so the sentence across it reads whole. A page's span then ends
    where its own characters end (a hyphen dropped from a broken word belongs to no page).
    """
    text, spans = "", []
    for number, page_text in enumerate(pages, start=1):
        if not page_text.strip():
            continue
        if text:
            last, first = text.rsplit("\n", 1)[-1], page_text.split("\n", 1)[0]
            dropped, separator = _glue(last, first) if _runs_on(last, first) else (0, "\n\n")
            text = text[: len(text) - dropped] + separator
            spans[-1] = PageSpan(spans[-1].page, spans[-1].start, spans[-1].end - dropped)
        spans.append(PageSpan(page=number, start=len(text), end=len(text) + len(page_text)))
        text += page_text
    return text, tuple(spans)


def _runs_on(last: str, first: str) -> bool:
    """True when the block that ends one page goes on in the block that starts the next: it ends no sentence and
    is no list item or footnote, and the next starts in lowercase, mid-sentence. A capital is not enough: a caption,
    a heading or a header printed at the page break starts with one too, and would be glued into the sentence."""
    if not last or not first or _SENTENCE_END.search(last) or not first[0].islower():
        return False
    return not (_BULLET.match(last) or _NUMBERED.match(last) or _FOOTNOTE.match(last))
