"""qa.notices: a failure is reported once, by the action that met it, and never beside a success."""

from __future__ import annotations

from qa.notices import Notice, sync_notices, tempered
from qa.records import SyncReport

BROKEN = ("scan.pdf", "the PDF is damaged")


def test_a_failure_is_reported_by_the_sync_that_met_it_without_a_success() -> None:
    notices = sync_notices(SyncReport(unchanged=["a.txt"], failed=[BROKEN]))
    assert [notice.kind for notice in notices] == ["warning"]
    assert "scan.pdf" in notices[0].message and "skipped" in notices[0].message


def test_a_failure_the_last_sync_reported_is_not_repeated() -> None:
    previous = SyncReport(failed=[BROKEN])
    assert sync_notices(SyncReport(unchanged=["a.txt"], failed=[BROKEN]), previous=previous) == [
        Notice("success", "The index is up to date.")]
    changed = sync_notices(SyncReport(failed=[("scan.pdf", "another reason")]), previous=previous)
    assert [notice.kind for notice in changed] == ["warning"]  # a new reason is news


def test_an_uploaded_file_that_fails_is_always_reported_as_not_added() -> None:
    notices = sync_notices(SyncReport(failed=[BROKEN]), uploaded=["scan.pdf"], previous=SyncReport(failed=[BROKEN]))
    assert len(notices) == 1 and "It was not added." in notices[0].message


def test_no_success_is_shown_beside_a_failure() -> None:
    mixed = [Notice("warning", "notes.xlsx was not added"), *sync_notices(SyncReport(added=["a.txt"]))]
    assert [notice.kind for notice in tempered(mixed)] == ["warning", "info"]
    assert tempered(sync_notices(SyncReport(added=["a.txt"])))[0].kind == "success"


def test_an_uploaded_copy_of_an_indexed_document_is_said_not_added_and_nothing_is_called_up_to_date() -> None:
    copy = ("notes-2.txt", "notes.txt")
    notices = sync_notices(SyncReport(unchanged=["notes.txt"], duplicates=[copy]), uploaded=["notes-2.txt"])
    assert notices == [Notice("info", "**notes-2.txt** has the same content as **notes.txt**. It was not added.")]
    in_folder = sync_notices(SyncReport(unchanged=["notes.txt"], duplicates=[copy]))
    assert [notice.message.endswith("It is indexed once.") for notice in in_folder] == [True]
