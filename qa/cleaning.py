"""Removes scraped-page boilerplate (navigation, sign-ups, teasers, captions, by-lines, repeats) line by line.

Only whole lines are dropped, never words inside a line, so what stays is the article's own text.
"""

from __future__ import annotations

import re

_BOILERPLATE = re.compile(
    r"""^(
        skip\ to\ (main\ )?content
      | read\ more\W*
      | stay\ informed\ with\ .{0,80}
      | sign\ up\ (to|for)\ .{0,160}
      | subscribe\ (to|for|now)\ .{0,160}
      | this\ article\ is\ available\ in\ \w+\ on\ .{0,120}
      | .{0,80}\ delivers\ independent\ and\ unrivalled\ coverage.*
      | advertisement
      | share\ (this|on)\ .{0,60}
      | (?-i:[Bb][Yy]\ [A-Z][\w.'’-]*(\ (and\ |[a-z]{1,3}[\ -])?[A-Z][\w.'’-]*){0,4})
      | (\d{1,2}\ )?(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\ \d{1,2}(,\ \d{4}|\ \d{4})?
      | \d{4}-\d{2}-\d{2}
    )$""",
    re.VERBOSE | re.IGNORECASE,
)
_CAPTION_CREDIT = re.compile(
    r"\((AFP|Reuters|AP|EPA|Getty Images|Anadolu|MEE|File photo|Photo[^)]{0,60}|[^)]{0,40}/(AFP|Reuters|AP|EPA))\)\s*$",
    re.IGNORECASE,
)
_TEASER_MARK = re.compile(r"^read more\s*»?\s*$", re.IGNORECASE)
_ATTRIBUTION = re.compile(r"^\s*[-–—]\s*\S.{0,80}$")


def _normalized(line: str) -> str:
    """Lower-case letters and digits only, so quote marks and spacing don't hide a repeat."""
    return re.sub(r"[^0-9a-z]+", " ", line.lower()).strip()


def _is_boilerplate(line: str) -> bool:
    stripped = " ".join(line.split())
    return bool(_BOILERPLATE.match(stripped) or _CAPTION_CREDIT.search(stripped))


def clean_text(text: str) -> str:
    """The text without boilerplate lines; paragraphs stay separated by one blank line."""
    lines = [line.rstrip() for line in text.splitlines()]
    normalized = [_normalized(line) for line in lines]
    keep = [bool(line.strip()) and not _is_boilerplate(line) for line in lines]

    seen: set[str] = set()
    for i, norm in enumerate(normalized):
        if _TEASER_MARK.match(lines[i].strip()):
            previous = next((j for j in range(i - 1, -1, -1) if lines[j].strip()), None)
            if previous is not None:
                keep[previous] = False
        if not keep[i]:
            continue
        if len(norm) >= 30 and norm in seen:
            keep[i] = False
        elif len(norm) >= 30 and _is_pull_quote(norm, i, normalized):
            keep[i] = False
            following = i + 1
            if following < len(lines) and not lines[following].strip():
                following += 1
            if following < len(lines) and _ATTRIBUTION.match(lines[following]):
                keep[following] = False
        seen.add(norm)

    paragraphs = [line.strip() for line, kept in zip(lines, keep) if kept]
    return "\n\n".join(paragraphs)


def _is_pull_quote(norm: str, index: int, normalized: list[str]) -> bool:
    """A line whose words appear again inside a longer line elsewhere: a pull quote or repeated caption."""
    return any(len(other) > len(norm) and norm in other for j, other in enumerate(normalized) if j != index)
