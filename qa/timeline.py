"""When a story was covered: the documents matching a question counted by month of publication.

A reporter asking about a story wants to see when it was reported (one burst, or coverage over years) and to
narrow the search to one period. Documents without a date are counted apart, never placed at a guessed date.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timeline:
    """Documents per month ("YYYY-MM"), every month from the first to the last (zeros included, so gaps in the
    coverage show), and how many documents have no date."""

    months: tuple[tuple[str, int], ...] = ()
    undated: int = 0

    @property
    def dated(self) -> int:
        return sum(count for _, count in self.months)

    def to_dict(self) -> dict:
        return {"months": [list(pair) for pair in self.months], "undated": self.undated}

    @classmethod
    def from_dict(cls, data: dict) -> Timeline:
        return cls(tuple((month, int(count)) for month, count in data["months"]), int(data["undated"]))


def coverage(documents: Iterable[tuple[str, str]]) -> Timeline:
    """The timeline of (doc_id, date) pairs, each document counted once; a date is ISO text ("2021-11-20",
    "2021-11" or ""), and one without a valid month counts as undated."""
    dates = dict(documents)
    months = Counter(month for date in dates.values() if (month := month_of(date)))
    if not months:
        return Timeline((), len(dates))
    first, last = min(months), max(months)
    span = []
    year, month = int(first[:4]), int(first[5:])
    while f"{year:04d}-{month:02d}" <= last:
        key = f"{year:04d}-{month:02d}"
        span.append((key, months[key]))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return Timeline(tuple(span), len(dates) - sum(months.values()))


def month_of(date: str) -> str:
    """"YYYY-MM" of an ISO date, or "" when it does not start with a real year and month."""
    try:
        dt.date(int(date[:4]), int(date[5:7]), 1)
    except ValueError:
        return ""
    return date[:7] if len(date) >= 7 and date[4] == "-" else ""


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """The first and last day of a "YYYY-MM" month."""
    first = dt.date(int(month[:4]), int(month[5:7]), 1)
    following = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)
