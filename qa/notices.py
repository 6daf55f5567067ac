"""What an action on the corpus did, in a reader's words: the notices the page shows after an upload, a removal
or an update of the index.

Two rules a reader relies on: a file that cannot be read is reported once, by the action that met it (a broken
file left in the folder is not announced again after every later action; the document list keeps showing
it), and nothing is called a success next to a failure of the same action.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal, NamedTuple

from qa.export import counted, escape_markdown
from qa.records import SyncReport

Kind = Literal["success", "info", "warning", "error"]


class Notice(NamedTuple):
    """One message box: its kind (the Streamlit call that shows it) and its Markdown text."""

    kind: Kind
    message: str


def sync_notices(report: SyncReport, uploaded: Sequence[str] = (), previous: SyncReport | None = None
                 ) -> list[Notice]:
    """The notices of one sync: what changed, then each file it could not read, each it read with a warning (an
    encoding guessed, a date left out) and each duplicate.

    `uploaded` are the files this action added (a failed one "was not added"); what the `previous` sync already
    reported (the same failure, the same duplicate) is left out unless this action uploaded the file.
    """
    previous = previous or SyncReport()
    failed = fresh(report.failures, previous.failures, uploaded)
    not_read = fresh(report.not_read, previous.not_read, uploaded)
    duplicates = fresh(report.duplicates, previous.duplicates, uploaded)
    again = f" ({len(report.reread)} of them only read again by this version's readers)" if report.reread else ""
    done = [f"{len(names)} {verb}" for names, verb in
            ((report.added, "added"), (report.updated, f"updated{again}"), (report.removed, "removed")) if names]
    notices = []
    if done:
        embedded = f" ({counted(report.chunks_embedded, 'passage')} indexed)" if report.chunks_embedded else ""
        notices.append(Notice("success", f"Index updated: {', '.join(done)}{embedded}."))
    elif not failed and not duplicates and not not_read:
        notices.append(Notice("success", "The index is up to date."))
    for doc_id, reason in failed:
        fate = "It was not added." if doc_id in uploaded else "It was skipped; fix or remove the file."
        notices.append(Notice("warning", f"Could not read **{escape_markdown(doc_id)}**: {escape_markdown(reason)}. "
                                         f"{fate}"))
    for doc_id, reason in not_read:
        notices.append(Notice("info", f"**{escape_markdown(doc_id)}** is {escape_markdown(reason)}."))
    for doc_id, warning in report.warned:
        notices.append(Notice("warning", f"**{escape_markdown(doc_id)}**: {escape_markdown(warning)}."))
    for doc_id, original in duplicates:
        fate = "It was not added." if doc_id in uploaded else "It is indexed once."
        notices.append(Notice("info", f"**{escape_markdown(doc_id)}** has the same content as "
                                      f"**{escape_markdown(original)}**. {fate}"))
    return notices


def fresh(pairs: Sequence[tuple[str, str]], reported: Collection[tuple[str, str]], uploaded: Collection[str]
          ) -> list[tuple[str, str]]:
    """The (file, detail) pairs not `reported` before, and those of files just `uploaded`."""
    reported = {tuple(pair) for pair in reported}
    return [(doc_id, detail) for doc_id, detail in pairs if doc_id in uploaded or (doc_id, detail) not in reported]


def tempered(notices: Sequence[Notice]) -> list[Notice]:
    """The notices of one action, with no success shown beside a failure: when any is a warning or an error,
    its successes are plain information (what did work is still said, in blue, not green)."""
    failed = any(notice.kind in ("warning", "error") for notice in notices)
    return [Notice("info", notice.message) if failed and notice.kind == "success" else notice for notice in notices]
