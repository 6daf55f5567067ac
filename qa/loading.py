"""Loaders: a file in the corpus -> `Document` (text, metadata, page spans). One error type: `LoadError`.

Metadata for `.txt` and `.md` comes from an optional front-matter header:

    ---
    title: Betrayed by Iran?
    publisher: Middle East Eye
    author: Suadad al-Salhy
    date: 2021-11-28
    url: https://www.middleeasteye.net/news/iraq-kadhimi-drone-attack-iran-factions
    ---

A saved news page (`.html`, `.htm`) is read by trafilatura: the article's text without navigation, banners,
footers or related links, and the title, author, date, site name and canonical URL the page states. A Word
file (`.docx`) gives its paragraphs and its core properties; a PDF its text per page and its document info.
A date is only ever one the document states: never the day the file was written or saved.
"""

from __future__ import annotations

import codecs
import hashlib
import html
import io
import json
import logging
import re
import zipfile
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING

import charset_normalizer

from qa.cleaning import clean_text
from qa.config import SUPPORTED_SUFFIXES
from qa.errors import LoadError
from qa.pdf_text import join_pages, rejoin_lines, without_running_lines
from qa.records import Document
from qa.text import normal_form

if TYPE_CHECKING:
    from docx.table import Table

logger = logging.getLogger(__name__)
# trafilatura logs its give-ups without naming the file ("discarding data: None"); a page it cannot read is
# reported once, by name, as a LoadError, so its own lines would only repeat that without saying which file.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|\Z)", re.DOTALL)
_DATE_FORMATS = ("%B %d, %Y", "%d %B %Y", "%b %d, %Y", "%d %b %Y", "%Y/%m/%d", "%d %m %Y")
_MONTH_FORMATS = ("%B %Y", "%b %Y")


# How files are read and cut into passages: raised whenever a reader or the chunker changes what a file gives, so
# the next build reads again the files an earlier version read (an index entry keeps the key it was read with).
# 2: .md through markdown-it, declared web-page charsets, character references, one Unicode form, legacy encodings
# detected, PDF running lines, footnotes and page breaks, headings no longer taken for dates or by-lines.
# 3: a live page's entry times kept, a web page's address read from its JSON-LD, a PDF's numbered paragraph whole
# across a capitalised line, a paragraph number opening its sentence.
# 4: each passage embedded after its document's title (`qa.chunking.embedding_text`).
READING_VERSION = 4
EMBEDDED_SINCE = 4  # the first version whose passages were embedded as they are now: a vector stored by an earlier
# one is of other text, and a passage read again is embedded again instead of keeping it (`embedded_as_now`)


def content_key(digest: str) -> str:
    """What an index records of a file to tell whether it must be read again: its sha256 and READING_VERSION."""
    return f"{digest}/r{READING_VERSION}"


def same_file(recorded: str, key: str) -> bool:
    """Whether two content keys are of the same bytes (read by different versions, or before versions were kept)."""
    return recorded.partition("/")[0] == key.partition("/")[0]


def reading_version(key: str) -> int:
    """The READING_VERSION a content key was recorded with (0 before versions were kept)."""
    return int(key.partition("/r")[2] or 0)


def read_by_newer(recorded: str, key: str) -> bool:
    """Whether the index recorded these bytes as read by a newer READING_VERSION than `key`'s: a release rolled
    back (or one machine not yet upgraded) keeps the newer reading instead of reading every file again, which
    made builds of two releases take turns re-reading everything."""
    return same_file(recorded, key) and reading_version(recorded) > reading_version(key)


def embedded_as_now(recorded: str) -> bool:
    """Whether the passages of a file recorded with this content key were embedded as this release embeds them,
    so their vectors can be kept when it is read again (`qa.storage.Writer.embedded`)."""
    return reading_version(recorded) >= EMBEDDED_SINCE


def load_document(path: Path, doc_id: str | None = None, max_bytes: int = 20_000_000) -> Document:
    """Read one corpus file into a Document; raises LoadError naming the file and the reason."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise LoadError(path, f"unsupported file type {suffix or '(none)'}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(path, f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit; split it")
        data = path.read_bytes()
    except FileNotFoundError:
        raise LoadError(path, "file disappeared before it could be read") from None
    except OSError as error:
        raise LoadError(path, f"cannot read file ({error.strerror or error})") from None
    if not data.strip():
        raise LoadError(path, "file is empty")

    if suffix == ".pdf":
        meta, pages = parse_pdf(data, path)
    elif suffix == ".docx":
        meta, text = parse_docx(data, path)
        pages = [text]
    elif suffix in (".html", ".htm"):
        meta, text = parse_html(decode_text(data, path, page_charset(data, path)))
        pages = [text]
    else:
        meta, text = parse_front_matter(decode_text(data, path), path)
        meta = {key: character_references(value) for key, value in meta.items()}
        pages = [clean_text(markdown_text(text) if suffix == ".md" else character_references(text))]

    pages = [normal_form(page) for page in pages]
    meta = {key: normal_form(value) for key, value in meta.items()}
    text, spans = join_pages(pages) if suffix == ".pdf" else (pages[0], ())
    if not text.strip():
        raise LoadError(path, "no text left after removing markup and boilerplate")
    return Document(
        doc_id=doc_id or path.name,
        path=str(path),
        text=text,
        title=meta.get("title") or _title_from_name(path),
        publisher=meta.get("publisher", ""),
        author=meta.get("author", ""),
        date=normalize_date(meta.get("date", ""), path),
        pages=spans,
        content_hash=content_key(hashlib.sha256(data).hexdigest()),
        url=web_address(meta.get("url", ""), path),
    )


def decode_text(data: bytes, path: Path, declared: str = "") -> str:
    """Bytes -> str: UTF-8 (with or without BOM), UTF-16 with BOM, else the `declared` encoding (a web page's
    charset), else UTF-8, else Windows-1252/Latin-1; refuses binary."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data[:8192]:
        raise LoadError(path, "binary data, not text (it contains NUL bytes)")
    if declared and not declared.startswith(("utf-16", "utf-32")):  # those are told by a BOM, as in a browser
        text = data.decode(declared, errors="replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = legacy_text(data, path)
    controls = sum(1 for char in text[:8192] if ord(char) < 32 and char not in "\t\n\r\f")
    if controls > 0.05 * min(len(text), 8192):
        raise LoadError(path, "binary data, not text (too many control characters)")
    return text


_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


def page_charset(data: bytes, path: Path) -> str:
    """The encoding a saved web page declares (`<meta charset>` or `http-equiv` Content-Type) near its start,
    as a Python codec name; "" when it declares none, or one Python does not know (logged)."""
    found = _CHARSET.search(data[:4096])
    if not found:
        return ""
    name = found.group(1).decode("ascii", errors="replace")
    try:
        return codecs.lookup(name).name
    except LookupError:
        logger.warning("%s: declares the unknown charset %r; read as UTF-8 or Windows-1252", path, name)
        return ""


WESTERN_SHARE = 0.3  # read as Windows-1252, a Western text has few letters outside ASCII (French about 0.05)


def legacy_text(data: bytes, path: Path) -> str:
    """Bytes that are not UTF-8: Windows-1252 (Latin-1 where that fails) when they read as a Western text, else
    the encoding charset-normalizer finds (Arabic Windows-1256 read as Windows-1252 is all accented letters,
    "ÇáßÇÙãí"); said in the log, since it is a guess. charset-normalizer alone takes short French for Urdu."""
    western = data.decode("cp1252", errors="strict") if _is_cp1252(data) else data.decode("latin-1")
    letters = [char for char in western if char.isalpha()]
    if sum(1 for char in letters if not char.isascii()) <= WESTERN_SHARE * len(letters):
        logger.warning("%s: not UTF-8; read as Windows-1252/Latin-1 (save it as UTF-8 to be sure)", path)
        return western
    guess = charset_normalizer.from_bytes(data).best()
    if guess is None:
        raise LoadError(path, "not UTF-8, and its encoding could not be told; save it as UTF-8")
    logger.warning("%s: not UTF-8; read as %s (save it as UTF-8 to be sure)", path, guess.encoding)
    return str(guess)


def _is_cp1252(data: bytes) -> bool:
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def parse_front_matter(text: str, path: object = "") -> tuple[dict[str, str], str]:
    """Split an optional `---` header of `key: value` lines from the body; a header that is never closed is
    read as text, and said so (logged with `path`): its title and date would otherwise vanish silently."""
    match = _FRONT_MATTER.match(text)
    if not match:
        if re.match(r"---[ \t]*\r?\n", text):
            logger.warning("%s: starts a front-matter header with --- but never closes it with another ---; "
                           "the header is read as text", path)
        return {}, text
    meta, key = {}, ""
    for line in match.group(1).splitlines():
        item = re.match(r"\s*-\s+(.*)", line)
        if item and key:  # a YAML list under the last key: "author:", then "- Jane Doe" lines
            meta[key] = ", ".join(part for part in (meta[key], _unquoted(item.group(1).strip())) if part)
            continue
        name, sep, value = line.partition(":")
        if sep and name.strip():
            key = name.strip().lower()
            meta[key] = _listed(value.strip())
    return meta, text[match.end() :]


_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def character_references(text: str) -> str:
    """The text with HTML character references written out ("&#163;1.8m fine" -> "£1.8m fine"), as text copied
    from web pages often carries them (the BBC archive's titles do); only complete ones, ending in ";", so "R&D"
    and "&notably" stay as written."""
    return _REFERENCE.sub(lambda found: html.unescape(found.group(0)), text)


def _listed(value: str) -> str:
    """A value as text: a YAML list written inline ("[Reuters, AP]") as its items joined by ", "."""
    items = re.fullmatch(r"\[(.*)\]", value)
    return ", ".join(_unquoted(item.strip()) for item in items.group(1).split(",")) if items else _unquoted(value)


def markdown_text(markdown: str) -> str:
    """What a reader sees of a Markdown file, through markdown-it (CommonMark): headings, paragraphs, list items,
    quotes and code as paragraphs, a table row per line with its cells joined by " | ", a wrapped line joined to
    its sentence; no `#`, `**`, link targets or image sources left in the passages (an image gives its alt text)."""
    from markdown_it import MarkdownIt

    blocks: list[str] = []
    cells: list[str] | None = None  # the cells of the table row being read
    for token in MarkdownIt("commonmark").enable("table").parse(markdown):
        if token.type == "inline":
            (blocks if cells is None else cells).append(_inline_text(token.children or []))
        elif token.type in ("code_block", "fence"):
            blocks.append(token.content)
        elif token.type == "tr_open":
            cells = []
        elif token.type == "tr_close" and cells is not None:
            blocks.append(" | ".join(cell.strip() for cell in cells if cell.strip()))
            cells = None
    return _paragraphs(blocks)


def _inline_text(children: list) -> str:
    """The text of a Markdown paragraph's inline tokens: words and code as written, a wrapped line as a space,
    an image as its alt text; emphasis, link targets and inline HTML left out."""
    parts = []
    for token in children:
        if token.type in ("text", "code_inline", "image"):  # an image token's content is its alt text
            parts.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" " if token.type == "softbreak" else "\n")
    return "".join(parts)


def _unquoted(value: str) -> str:
    """The value without one pair of quotes around it; a quote that is part of it stays (Economy 'stronger')."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def normalize_date(value: str, path: object = "") -> str:
    """An ISO date, `YYYY-MM-DD`, `YYYY-MM` or `YYYY`, when the value can be read as a real one; else "" (logged
    with `path`): the date filters compare dates as ISO text, so "last Tuesday" or "2021-02-30" must not be kept."""
    value = value.strip()
    if not value:
        return ""
    found = _read_date(value)
    if not found:
        logger.warning("%s: date %r is not a date this reader knows (write it as YYYY-MM-DD); left undated",
                       path, value[:80])
    return found


def _read_date(value: str) -> str:
    """The ISO form of a date written as ISO (a time may follow), compact (`20211120`, a PDF's `D:2021...`),
    a year and month (`2021-11`, `November 2021`), a year, or in words (`20 November 2021`); "" otherwise."""
    iso = re.match(r"^D?:?(\d{4})-?(\d{2})-?(\d{2})", value)
    partial = re.fullmatch(r"(\d{4})(?:-(\d{2}))?", value)
    try:
        if iso:
            return date(*map(int, iso.groups())).isoformat()
        if partial:
            year, month = partial.groups()
            return date(int(year), int(month or 1), 1).isoformat()[: 7 if month else 4]
    except ValueError:
        return ""
    words = _in_english(value)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(words, fmt).date().isoformat()
        except ValueError:
            continue
    for fmt in _MONTH_FORMATS:
        try:
            return datetime.strptime(words, fmt).date().isoformat()[:7]
        except ValueError:
            continue
    try:  # a feed's or an e-mail's date: "Sun, 07 Nov 2021 10:00:00 GMT"
        return parsedate_to_datetime(value).date().isoformat()
    except (TypeError, ValueError, IndexError):
        return ""


# Month names of the languages a foreign desk reads most, by their English name (strptime reads English only).
_MONTH_NAMES = dict(zip(
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre "
    "januar februar märz april mai juni juli august september oktober november dezember "
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(),
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
     "December"] * 3))


def _in_english(value: str) -> str:
    """A date in words as strptime reads it: French, German or Spanish month names in English, no "." after an
    abbreviated month or a day ("Nov. 7, 2021", "7. November 2021", "07.11.2021", day first), "Sept" as "Sep",
    "1er" as "1"."""
    value = re.sub(r"\b(\d{1,2})(\.|er\b)", r"\1 ", value)  # "07.11.2021" becomes "07 11 2021"
    value = re.sub(r"\b([^\W\d_]{3,4})\.", r"\1", value)
    value = re.sub(r"\bSept\b", "Sep", value, flags=re.IGNORECASE)
    value = re.sub(r"[^\W\d_]+", lambda word: _MONTH_NAMES.get(word.group().casefold(), word.group()), value)
    return " ".join(value.split())


def web_address(value: str, path: Path) -> str:
    """`value` if it is an http(s) address, else "" (logged): the page links to it, so a `javascript:` or
    `file:` address from a document is never kept."""
    value = value.strip()
    if not value or re.fullmatch(r"https?://[^\s/]+\S*", value, re.IGNORECASE):
        return value
    logger.warning("%s: url %r is not an http(s) address; left out", path, value[:80])
    return ""


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize()


def parse_pdf(data: bytes, path: Path) -> tuple[dict[str, str], list[str]]:
    """Metadata and cleaned text of each page (page 1 first) through pypdf, wrapped lines rejoined into paragraphs."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(path, "encrypted PDF (needs a password); save an unencrypted copy")
        # The default mode reads text in content-stream order, where a writer keeps each column's block
        # together; extraction_mode="layout" reads across the page row by row and interleaves two columns.
        raw = without_running_lines([page.extract_text() or "" for page in reader.pages])
        pages = [clean_text(rejoin_lines(page)) for page in raw]
        info = reader.metadata or {}
    except LoadError:
        raise
    except Exception as error:  # pypdf raises many kinds on damaged files; none may stop a build
        raise LoadError(path, f"not a readable PDF ({type(error).__name__}: {error})") from None
    if not any(page.strip() for page in pages):
        raise LoadError(path, "PDF has no text layer (scanned images?); run OCR on it first")
    meta = {
        "title": str(info.get("/Title") or "").strip(),
        "author": str(info.get("/Author") or "").strip(),
        "publisher": str(info.get("/Publisher") or "").strip(),
        # only a date the document states: /CreationDate is when the file was written (by whoever saved it,
        # often the day it was downloaded), which would date every report to then and stretch the date filter
        "date": str(info.get("/PublicationDate") or "").strip(),
    }
    return meta, pages


# htmldate's extensive search guesses a date from any year in the text (a footer's "© 2024" became the
# publication date), so only the markup is searched: meta tags, JSON-LD, <time> elements and the URL's path.
_PAGE_DATE_SEARCH = {"extensive_search": False, "original_date": True}


def parse_html(markup: str) -> tuple[dict[str, str], str]:
    """Metadata and main text of a saved news page through trafilatura, from the markup alone (nothing is fetched).

    When trafilatura keeps no main text (a small page whose only text it takes for boilerplate), the page's whole
    visible text is used instead, so the document is not lost.
    """
    from trafilatura import bare_extraction, html2txt
    from trafilatura.metadata import extract_metadata

    found = extract_metadata(markup, date_config=dict(_PAGE_DATE_SEARCH))  # it writes into the dict it is given
    main = bare_extraction(timed_entries(markup), include_comments=False)
    text = main.text if main is not None and (main.text or "").strip() else html2txt(markup)
    meta = {"title": found.title or "", "author": found.author or "", "date": found.date or "",
            "publisher": found.sitename or "", "url": found.url or linked_data_address(markup)}
    return meta, _paragraphs(text.splitlines())


_LINKED_DATA = re.compile(r'<script[^>]*type=["\']application/ld\+json["\'][^>]*>(.*?)</script>',
                          re.IGNORECASE | re.DOTALL)


def linked_data_address(markup: str) -> str:
    """The article's own address in the page's JSON-LD (`url`, or `mainEntityOfPage` as a text or an object's
    `@id` / `url`), or "": trafilatura reads a canonical link or og:url only, and many news pages give only this."""
    for block in _LINKED_DATA.findall(markup):
        try:
            items = _linked_items(json.loads(block))
        except ValueError:
            continue
        for item in items:
            if not isinstance(item, dict) or not re.search(r"Article|Posting", str(item.get("@type", ""))):
                continue
            page = item.get("mainEntityOfPage")
            inner = (page.get("@id"), page.get("url")) if isinstance(page, dict) else ()
            for address in (item.get("url"), page, *inner):
                if isinstance(address, str) and address.startswith(("http://", "https://")):
                    return address
    return ""


def _linked_items(data: object) -> list:
    """The objects of a JSON-LD block: a list of them, a `@graph` of them, or one."""
    if isinstance(data, list):
        return data
    return data.get("@graph", [data]) if isinstance(data, dict) else []


_CLOCK_TIME = re.compile(r"^\s*\d{1,2}[:.]\d{2}\b")
MIN_TIMED_ENTRIES = 3  # clock times a page must stamp its entries with to be read as a live page


def timed_entries(markup: str) -> str:
    """A live page's markup with each entry's time ("10:42 GMT", in a `<time>` or an element of class
    `timestamp`) opening the entry's first paragraph ("10:42 GMT – Police confirmed..."): trafilatura drops such
    elements as page furniture, and the reporter asking when something happened loses the answer. Pages with
    fewer than MIN_TIMED_ENTRIES clock times (an article's byline date) are left as they are."""
    import lxml.html

    try:
        tree = lxml.html.document_fromstring(markup)
    except (ValueError, lxml.etree.ParserError):
        return markup
    stamps = [element for element in tree.xpath('//time | //*[contains(concat(" ", @class, " "), " timestamp ")]')
              if _CLOCK_TIME.match(element.text_content())]
    if len(stamps) < MIN_TIMED_ENTRIES:
        return markup
    for stamp in stamps:
        said = " ".join(stamp.text_content().split())
        entry = next(stamp.itersiblings("p"), None)  # the paragraph after it, or else the first of its entry
        if entry is None:
            entry = next(stamp.getparent().iterdescendants("p"), None)
        if entry is not None and said:
            entry.text = f"{said} – {entry.text or ''}"
            stamp.drop_tree()
    return lxml.html.tostring(tree, encoding="unicode")


# python-docx writes its own template's author and creation time into every file a script makes with it; a script
# that sets the author often leaves the time, so each is dropped on its own
_PYTHON_DOCX_AUTHOR, _PYTHON_DOCX_CREATED = "python-docx", "2013-12-23T23:15:00"


MAX_UNPACKED_BYTES = 200_000_000  # a Word file's parts, unpacked: a novel is a few MB; a zip bomb is gigabytes


def check_unpacked_size(data: bytes, path: Path) -> None:
    """LoadError when a Word file (a zip) unpacks to more than MAX_UNPACKED_BYTES, by the sizes its directory
    declares (the zip reader stops at them): a 1.5 MB file unpacking to 1.5 GB took 2.3 GB of memory to refuse."""
    try:
        unpacked = sum(entry.file_size for entry in zipfile.ZipFile(io.BytesIO(data)).infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise LoadError(path, f"not a readable Word document ({type(error).__name__}: {error})") from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise LoadError(path, f"Word file unpacks to {unpacked / 1e6:,.0f} MB, over the "
                              f"{MAX_UNPACKED_BYTES / 1e6:.0f} MB limit (a damaged or hostile file?)")


def parse_docx(data: bytes, path: Path) -> tuple[dict[str, str], str]:
    """Metadata from a Word file's core properties and its text through python-docx: paragraphs and headings in
    order, each table row as one line of its cells.

    The date is the `created` core property when it is set (the date the author's word processor recorded when
    the document was written, kept inside the file); the file system's dates are never used. Core properties
    hold no publisher, so it stays empty.
    """
    import docx
    from docx.table import Table

    check_unpacked_size(data, path)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = [_table_text(item) if isinstance(item, Table) else item.text
                  for item in document.iter_inner_content()]
        properties = document.core_properties
        created = properties.created
        from_template = created is not None and created.strftime("%Y-%m-%dT%H:%M:%S") == _PYTHON_DOCX_CREATED
        meta = {"title": properties.title or "",
                "author": "" if properties.author == _PYTHON_DOCX_AUTHOR else properties.author or "",
                "date": created.date().isoformat() if created and not from_template else ""}
    except Exception as error:  # python-docx raises zip, XML and key errors on a damaged file; none may stop a build
        raise LoadError(path, f"not a readable Word document ({type(error).__name__}: {error})") from None
    return {key: value.strip() for key, value in meta.items()}, _paragraphs(blocks)


def _table_text(table: Table) -> str:
    """A Word table as text: one line per row, its cells joined by " | " (a merged cell once)."""
    rows = []
    for row in table.rows:
        cells = [cell.text.strip() for cell in row.cells]
        rows.append(" | ".join(cell for i, cell in enumerate(cells) if cell and (i == 0 or cell != cells[i - 1])))
    return "\n".join(row for row in rows if row)


def _paragraphs(blocks: list[str]) -> str:
    """Non-empty blocks of text, spaces tidied, separated by one blank line (how every loader marks paragraphs)."""
    tidy = (re.sub(r"[ \t\r\f\v\xa0]+", " ", block).strip() for block in blocks)
    return "\n\n".join(block for block in tidy if block)
