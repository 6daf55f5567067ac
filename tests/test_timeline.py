"""qa.timeline: documents counted by month, gaps kept, undated counted apart."""

from __future__ import annotations

from datetime import date

from qa.timeline import Timeline, coverage, month_bounds


def test_documents_are_counted_once_per_month_with_gaps_and_undated_apart() -> None:
    timeline = coverage([("a", "2021-11-07"), ("b", "2021-11-28"), ("a", "2021-11-07"), ("c", "2022-02-01"),
                         ("d", ""), ("e", "someday")])
    assert timeline.months == (("2021-11", 2), ("2021-12", 0), ("2022-01", 0), ("2022-02", 1))
    assert timeline.undated == 2 and timeline.dated == 3
    assert Timeline.from_dict(timeline.to_dict()) == timeline


def test_no_dates_at_all_is_an_empty_timeline() -> None:
    assert coverage([("a", ""), ("b", "")]) == Timeline((), 2)


def test_month_bounds_cover_the_whole_month() -> None:
    assert month_bounds("2021-11") == (date(2021, 11, 1), date(2021, 11, 30))
    assert month_bounds("2020-12") == (date(2020, 12, 1), date(2020, 12, 31))
    assert month_bounds("2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
