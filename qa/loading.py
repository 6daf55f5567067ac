"""Loaders: a file in the corpus -> `Document` (text, metadata, page spans). One error type: `LoadError`.

Metadata for `.txt` and `.md` comes from an optional front-matter header:

    ---
    title: Betrayed by Iran?
    publisher: Middle East Eye
    author: Suadad al-Salhy
    date: 2021-11-28
    ---

HTML metadata comes from the page's `<meta>` tags; PDF metadata from the document info.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

from qa.cleaning import clean_text
from qa.config import SUPPORTED_SUFFIXES
from qa.errors import LoadError
from qa.pdf_text import rejoin_lines
from qa.records import Document, PageSpan

logger = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|\Z)", re.DOTALL)
_DATE_FORMATS = ("%Y-%m-%d", "%B %d, %Y", "%d %B %Y", "%b %d, %Y", "%d %b %Y", "%Y/%m/%d", "%Y%m%d")


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
    elif suffix in (".html", ".htm"):
        meta, text = parse_html(decode_text(data, path))
        pages = [clean_text(text)]
    else:
        meta, text = parse_front_matter(decode_text(data, path))
        pages = [clean_text(text)]

    text, spans = _join_pages(pages) if suffix == ".pdf" else (pages[0], ())
    if not text.strip():
        raise LoadError(path, "no text left after removing markup and boilerplate")
    return Document(
        doc_id=doc_id or path.name,
        path=str(path),
        text=text,
        title=meta.get("title") or _title_from_name(path),
        publisher=meta.get("publisher", ""),
        author=meta.get("author", ""),
        date=normalize_date(meta.get("date", "")),
        pages=spans,
        content_hash=hashlib.sha256(data).hexdigest(),
    )


def decode_text(data: bytes, path: Path) -> str:
    """Bytes -> str: UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252/Latin-1; refuses binary."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data[:8192]:
        raise LoadError(path, "binary data, not text (it contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        logger.warning("%s: not UTF-8; read as Windows-1252/Latin-1", path)
        text = data.decode("cp1252", errors="strict") if _is_cp1252(data) else data.decode("latin-1")
    controls = sum(1 for char in text[:8192] if ord(char) < 32 and char not in "\t\n\r\f")
    if controls > 0.05 * min(len(text), 8192):
        raise LoadError(path, "binary data, not text (too many control characters)")
    return text


def _is_cp1252(data: bytes) -> bool:
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return True


def parse_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split an optional `---` header of `key: value` lines from the body."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    meta = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip().lower()] = value.strip().strip("\"'")
    return meta, text[match.end() :]


def normalize_date(value: str) -> str:
    """An ISO `YYYY-MM-DD` date when the value can be read as one, else the value as given."""
    value = value.strip()
    if not value:
        return ""
    iso = re.match(r"^D?:?(\d{4})-?(\d{2})-?(\d{2})", value)
    if iso:
        return "-".join(iso.groups())
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date().isoformat()
        except ValueError:
            continue
    return value


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize()


def _join_pages(pages: list[str]) -> tuple[str, tuple[PageSpan, ...]]:
    """Concatenate page texts with blank lines, recording where each non-empty page lies."""
    parts, spans, offset = [], [], 0
    for number, page_text in enumerate(pages, start=1):
        if not page_text.strip():
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        parts.append(page_text)
        spans.append(PageSpan(page=number, start=offset, end=offset + len(page_text)))
        offset += len(page_text)
    return "".join(parts), tuple(spans)


def parse_pdf(data: bytes, path: Path) -> tuple[dict[str, str], list[str]]:
    """Metadata and cleaned text of each page (page 1 first) through pypdf, wrapped lines rejoined into paragraphs."""
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoadError(path, "encrypted PDF (needs a password); save an unencrypted copy")
        # The default mode reads text in content-stream order, where a writer keeps each column's block
        # together; extraction_mode="layout" reads across the page row by row and interleaves two columns.
        pages = [clean_text(rejoin_lines(page.extract_text() or "")) for page in reader.pages]
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


class _ArticleParser(HTMLParser):
    """Collects meta tags, the <title>, and visible text, preferring what lies inside <article>."""

    SKIP = {"script", "style", "noscript", "nav", "header", "footer", "aside", "form", "svg", "template",
            "iframe", "button", "figcaption", "select", "head"}
    BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "article", "section", "tr",
             "blockquote", "pre", "ul", "ol", "table", "main", "figure", "hr", "dd", "dt"}
    VOID = {"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "embed", "source", "track", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self.body: list[str] = []
        self.article: list[str] = []
        self._skip_depth = 0
        self._article_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            values = {key: value or "" for key, value in attrs}
            name = (values.get("property") or values.get("name") or values.get("itemprop") or "").lower()
            if name and values.get("content") and name not in self.meta:
                self.meta[name] = values["content"].strip()
        if tag == "title":
            self._in_title = True
        if tag in self.VOID:
            self._newline(tag)
            return
        if tag in self.SKIP:
            self._skip_depth += 1
        if tag == "article":
            self._article_depth += 1
        self._newline(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self.VOID:
            return
        if tag in self.SKIP and self._skip_depth:
            self._skip_depth -= 1
        if tag == "article" and self._article_depth:
            self._article_depth -= 1
        self._newline(tag)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._skip_depth:
            return
        self.body.append(data)
        if self._article_depth:
            self.article.append(data)

    def _newline(self, tag: str) -> None:
        if tag in self.BLOCK and not self._skip_depth:
            self.body.append("\n")
            if self._article_depth:
                self.article.append("\n")


def parse_html(markup: str) -> tuple[dict[str, str], str]:
    """Metadata from meta tags and the article's text (the <article> element if any, else the body)."""
    parser = _ArticleParser()
    parser.feed(markup)
    parser.close()
    meta_tags = parser.meta

    def first(*names: str) -> str:
        return next((meta_tags[name] for name in names if meta_tags.get(name)), "")

    meta = {
        "title": first("og:title", "twitter:title", "headline") or parser.title.strip(),
        "publisher": first("og:site_name", "publisher", "article:publisher", "application-name"),
        "author": first("author", "article:author", "byl", "dc.creator"),
        "date": first("article:published_time", "date", "pubdate", "publish-date", "dc.date", "datepublished"),
    }
    article = "".join(parser.article)
    text = article if len(article.strip()) >= 200 else "".join(parser.body)
    lines = (re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in text.split("\n"))
    return meta, "\n".join(line for line in lines if line)
