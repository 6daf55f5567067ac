"""Ask the articles: a Streamlit page over the `qa` library.

Start it with `streamlit run app.py` (or `make run`). The page only arranges widgets and calls `qa`:
retrieval, indexing and the formatting of passages live in the library. Where the corpus and index are
comes from `qa.Settings.from_env()` (QA_CORPUS_DIR, QA_INDEX_DIR, QA_MODEL), which is also how the
tests point the page at a temporary index.

Reading order: cached resources, then the pieces of the page (index actions, sidebar, answers), then
the script that puts them together at the bottom.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import streamlit as st

import qa
from qa.config import SUPPORTED_SUFFIXES
from qa.corpus import add_bytes, corpus_files, find_documents, matches, remove_file, restore_file
from qa.errors import BuildLockedError
from qa.export import (
    answer_html, answers_markdown, citation, copies_html, counted, escape_html, escape_markdown, export_name,
    highlight_html, isolated, origin_html, passage_html, relevance, source_details, source_details_html,
    source_line_html,
)
from qa.history import History, Turn, notebook_name
from qa.indexer import withdraw_unindexed
from qa.notices import Notice, sync_notices, tempered
from qa.sources import compare_sources
from qa.timeline import Timeline, coverage, month_bounds

logger = logging.getLogger("qa.app")
EXAMPLES = (
    "who was suspected of the Kadhimi attack",
    "how many drones targeted Kadhimi's residence",
    "what did Qais al-Khazali say about the attack",
)
EXAMPLE_DOCUMENTS = {"middleeasteye-2021-11-28-betrayed-by-iran.txt", "trackpersia-2021-11-20-drones-iran-proxies.txt"}
MODES = {
    "hybrid": ("Words and meaning", "Recommended: exact words and similar meaning together"),
    "dense": ("Meaning", "Finds paraphrases, even without the same words"),
    "bm25": ("Exact words", "Like a keyword search; good for names"),
}
DOCUMENTS_SHOWN = 50  # rows of the sidebar's document list: enough to browse, few enough for an archive of thousands
TIMELINE_PASSAGES = 50  # passages whose documents the timeline counts: the story's coverage, not just the top k
BUSY = ("Another build of the index is running (perhaps `python -m qa build` in a terminal). "
        "Wait for it to finish, then try again.")
STYLE = """<style>
.qa-text { line-height: 1.6; overflow-wrap: anywhere; }
.qa-text mark { background: #fde68a; padding: 0 .1em; border-radius: 3px; box-shadow: inset 0 -2px #b45309; }
.qa-page { margin: 1em 0 .3em; padding-top: .4em; border-top: 1px solid #e5e7eb;
           font-size: .8em; color: #6b7280; text-transform: uppercase; letter-spacing: .05em; }
.qa-answer { font-size: 1.15em; line-height: 1.5; padding: .5em .9em; margin-bottom: .3em;
             border-left: 4px solid #f59e0b; background: #fffbeb; border-radius: 0 6px 6px 0; }
.qa-source, .qa-meta, .qa-where { color: #4b5563; font-size: .9em; }
.qa-where { overflow-wrap: anywhere; }
.qa-title, .qa-section { font-weight: 600 !important; font-size: 1rem !important; line-height: 1.5 !important;
                         margin: 0 !important; padding: 0 !important; letter-spacing: normal !important; }
.qa-section { margin-top: .4em !important; }
.qa-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
[data-testid="stCaptionContainer"] { opacity: 1; color: #4b5563; }
[data-testid="stPopoverBody"] [data-testid="stCode"] * { visibility: visible; opacity: 1; }
main { scroll-padding: 4rem 0 9rem; }
.qa-question, .qa-outcome { scroll-margin-top: 4.5rem; }
.qa-says { margin: .2em 0 .6em; padding-left: .7em; border-left: 3px solid #93c5fd; line-height: 1.45; }
.qa-says.qa-weak { border-left-color: #e5e7eb; color: #6b7280; }
.qa-weak-label { font-style: italic; }
.qa-context { color: #4b5563; }
.qa-phrase { font-weight: 700; box-shadow: inset 0 -.35em #fde68a; }
</style>"""
# Streamlit draws a popover's box at the end of the page and leaves the focus on the button that opened it, so a
# keyboard user reached a citation's copy button only after every other control: move the focus into the box,
# once it is drawn (on a busy machine that took longer than the 200 ms waited at first, and the focus stayed put).
FOCUS_COPY = """<script>
if (!window.qaFocusCopy) {
  window.qaFocusCopy = true;
  document.addEventListener("click", (event) => {
    if (!event.target.closest('[data-testid="stPopoverButton"]')) return;
    let tries = 0;
    const focusCopy = () => {
      const copy = document.querySelector('[data-testid="stPopoverBody"] button[aria-label="Copy to clipboard"]');
      if (copy) copy.focus();
      else if (++tries < 30) setTimeout(focusCopy, 100);
    };
    setTimeout(focusCopy, 200);
  });
}
</script>"""
# Bring what the reader is waiting for to the top of the view: a new answer's question (Streamlit keeps a chat
# page scrolled to the bottom, which left the answer above the screen, under its passages), the notices of an
# action taken in the sidebar (with Undo), or why a question was refused. Emitted only on the run that has
# one to show (its text names the run, so it runs once), it holds the view there for a few seconds while
# charts and passages render (longer on a busy machine), until the reader scrolls, touches or types. A target
# that takes the focus (tabindex) gets it: the notices of a sidebar action, where the pressed button is gone.
SCROLL_INTO_VIEW = """<script>
(function (selector, run) {
  let reader = false, focused = false;
  for (const event of ["wheel", "touchstart", "keydown", "mousedown"])
    window.addEventListener(event, () => { reader = true; }, {once: true, passive: true});
  (function show(tries) {
    if (reader) return;
    const found = document.querySelectorAll(selector);
    const target = found[found.length - 1];
    if (target) target.scrollIntoView({block: "start"});
    if (target && !focused && target.hasAttribute("tabindex")) {
      target.focus({preventScroll: true});
      focused = true;
    }
    if (tries < 60) setTimeout(() => show(tries + 1), 150);
  })(0);
})(%r, %d);
</script>"""


class SearchOptions(NamedTuple):
    """What the sidebar asks for: passages to show, retrieval mode, filters, and a sentence saying so; `period` is
    the first and last date of the archive (None when no document is dated)."""

    k: int
    mode: str
    filters: qa.Filters
    description: str
    period: tuple[dt.date, dt.date] | None


# --- cached resources: one model and one open index per server process, shared by all sessions ---

@st.cache_resource(show_spinner="Loading the language model (first time only)…")
def load_embedder(model: str, backend: str) -> qa.Embedder:
    return qa.Embedder(model, backend=backend)


@st.cache_resource(show_spinner=False)
def retriever_slot(index_dir: str, model: str, backend: str) -> dict[str, qa.Retriever]:
    """A holder for the open Retriever of one index; `open_retriever` swaps in a newer generation."""
    return {}


def open_retriever(settings: qa.Settings, embedder: qa.Embedder) -> qa.Retriever:
    """The cached Retriever, moved to the newest generation if a build replaced it since the last run.

    Raises IndexNotFoundError (no index yet), IndexMismatchError or IndexCorruptError (must be rebuilt).
    """
    slot = retriever_slot(settings.store or str(settings.index_dir), settings.model, settings.backend)
    retriever = slot.get("retriever")
    slot["retriever"] = (
        retriever.refreshed() if retriever else qa.Retriever.open(None, embedder, settings)
    )
    return slot["retriever"]


# --- actions that change the index: each shows its progress, then reruns the page with notices ---

def sync_visibly(settings: qa.Settings, embedder: qa.Embedder, label: str, rebuild: bool = False,
                 uploaded: Sequence[str] = (), previous: qa.SyncReport | None = None
                 ) -> tuple[qa.SyncReport | None, list[Notice]]:
    """Run `qa.sync` with its stages and embedding progress on screen, and say what it did that the `previous`
    sync did not already say (`sync_notices`); never waits behind another build. The report is None when the
    sync could not run."""
    with st.status(label, expanded=True) as status:
        bar = st.progress(0.0, text="Reading the corpus…")

        def stage(message: str) -> None:
            status.update(label=f"{label}: {message}…")

        def progress(done: int, total: int) -> None:
            bar.progress(done / total, text=f"Embedded {done:,} of {total:,} passages")

        try:
            report = qa.sync(settings, embedder, rebuild=rebuild, progress=progress, stage=stage, wait=False)
        except BuildLockedError:
            status.update(label="Another build is running", state="error")
            return None, [Notice("info", BUSY)]
        except qa.QAError as error:
            status.update(label="The index could not be updated", state="error")
            return None, [Notice("error", f"The index could not be updated: {escape_markdown(str(error))}")]
        status.update(label="Index updated", state="complete")
    return report, sync_notices(report, uploaded, previous)


def add_uploads(files: Sequence[tuple[str, bytes]], settings: qa.Settings, embedder: qa.Embedder,
                previous: qa.SyncReport | None) -> list[Notice]:
    """Save uploaded files into the corpus (safe names, never overwriting) and index them; a file of a type the
    page cannot read is named with the supported types.

    A file the indexer cannot read, or a copy of a document already there, is moved out again (to the corpus's
    `.removed/` folder, `withdraw_unindexed`), so a mistaken upload does not linger in the corpus.
    """
    notices: list[Notice] = []
    saved = []
    for name, data in files:
        try:
            saved.append(add_bytes(name, data, settings.corpus_dir).relative_to(settings.corpus_dir).as_posix())
        except qa.QAError as error:
            notices.append(Notice("warning", escape_markdown(str(error))))
    if not saved:
        return notices
    label = f"Adding {len(saved)} file{'s' * (len(saved) > 1)}"
    report, outcome = sync_visibly(settings, embedder, label, uploaded=saved, previous=previous)
    if report is None:  # saved, not indexed yet: uploading again would only add copies
        listed = ", ".join(f"**{escape_markdown(name)}**" for name in saved)
        return notices + outcome + [Notice("info", f"{listed} {'is' if len(saved) == 1 else 'are'} saved in the "
                                            "corpus: once the index can be updated, press **Update index** to "
                                            "index them; there is no need to upload them again.")]
    withdraw_unindexed(saved, report, settings, embedder)
    return notices + outcome


def remove_document(doc_id: str, settings: qa.Settings, embedder: qa.Embedder,
                    previous: qa.SyncReport | None) -> list[Notice]:
    """Move a document out of the corpus (into `.removed/`, not deleted) and drop it from the index; the page
    then offers to undo it (`undo_removal`)."""
    try:
        kept = remove_file(doc_id, settings.corpus_dir)
    except qa.QAError as error:
        return [Notice("error", escape_markdown(str(error)))]
    report, notices = sync_visibly(settings, embedder, f"Removing {escape_markdown(doc_id)}", previous=previous)
    if report is None:  # the index still holds it (another build runs): the file goes back, so both agree
        restore_file(kept, doc_id, settings.corpus_dir)
        return [Notice("info", f"**{escape_markdown(doc_id)}** was not removed."), *notices]
    st.session_state.removed = (doc_id, str(kept))
    return notices


def undo_removal(settings: qa.Settings, embedder: qa.Embedder, previous: qa.SyncReport | None) -> None:
    """While the last removal of this session can be undone, a button that puts the file back and indexes it."""
    removed = st.session_state.get("removed")
    if not removed:
        return
    doc_id, kept = removed
    left, right = st.columns([3, 1], vertical_alignment="center")
    left.caption(f"**{escape_markdown(doc_id)}** was removed (kept in the corpus's `.removed` folder).")
    if right.button("Undo", key="undo-remove", icon=":material/undo:", help=f"Put {doc_id} back and index it"):
        del st.session_state.removed
        try:
            restored = restore_file(Path(kept), doc_id, settings.corpus_dir)
        except qa.QAError as error:
            finish([Notice("error", escape_markdown(str(error)))])
        notices = sync_visibly(settings, embedder, f"Restoring {escape_markdown(restored.name)}",
                               previous=previous)[1]
        back = restored.relative_to(settings.corpus_dir.resolve()).as_posix()
        renamed = f" as **{escape_markdown(back)}**, since a new file took its name" if back != doc_id else ""
        finish([Notice("success", f"**{escape_markdown(doc_id)}** is back in the corpus{renamed}."), *notices])


def finish(notices: list[Notice]) -> None:
    """Keep the notices for the next run and rerun, so every part of the page shows the new index."""
    st.session_state.notices = tempered(notices)
    st.rerun()


# --- sidebar ---

def search_options(retriever: qa.Retriever, settings: qa.Settings) -> SearchOptions:
    """The search widgets: mode, number of passages, and filters by source and date. The dates live in
    `st.session_state.dates`, so the timeline's month picker can narrow them too."""
    st.header("Search")
    mode = st.radio("Match on", list(MODES), format_func=lambda m: MODES[m][0],
                    captions=[help_text for _, help_text in MODES.values()], key="mode")
    k = st.slider("Passages to show", 1, 20, settings.k, key="k")

    documents = retriever.documents()
    publishers = sorted({doc.publisher for doc in documents if doc.publisher})
    shared = Counter(doc.title for doc in documents)  # the same headline on two stories: say which file is which
    titles = {doc.doc_id: f"{doc.title} ({doc.doc_id})" if shared[doc.title] > 1 else doc.title or doc.doc_id
              for doc in documents}
    choices = publishers + list(titles)
    # keyed, so adding or removing a document keeps the choice; a source that is gone is dropped from it
    st.session_state.sources = [s for s in st.session_state.get("sources", []) if s in choices]
    sources = st.multiselect(
        "Only these sources", choices, placeholder="All sources", key="sources",
        format_func=lambda s: f"{s} (publisher)" if s in publishers else titles[s],
    )
    described = [f"{MODES[mode][0].lower()} ({mode})", f"top {k}"] + [titles.get(s, s) for s in sources]

    since = until = ""
    dates = sorted(day for doc in documents if (day := parse_day(doc.date)))
    period = (dates[0], dates[-1]) if dates else None
    if dates:
        everything = (dates[0], dates[-1])
        chosen = st.session_state.get("dates")
        widest = chosen is not None and tuple(chosen) == st.session_state.get("period")
        if not chosen or widest or not all(dates[0] <= day <= dates[-1] for day in chosen):
            st.session_state.dates = everything  # not narrowed (so it follows the archive), or out of its range
        st.session_state.period = everything
        chosen = st.date_input("Published between", min_value=dates[0], max_value=dates[-1], format="YYYY-MM-DD",
                               key="dates")
        # filter on dates only when narrowed, so undated documents are searched by default; a start date
        # alone (the second not picked yet) already narrows
        if chosen and (len(chosen) == 1 or tuple(chosen) != everything):
            since, until = chosen[0].isoformat(), chosen[1].isoformat() if len(chosen) == 2 else ""
            described.append(f"published {since} to {until}" if until else f"published from {since}")
            st.button("All dates", key="all-dates", icon=":material/date_range:", type="tertiary",
                      on_click=st.session_state.update, kwargs={"dates": everything})
    return SearchOptions(k, mode, qa.Filters(tuple(sources), since, until), " · ".join(described), period)


def parse_day(text: str) -> dt.date | None:
    """The date at the start of an ISO date string, or None."""
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def notebook_tools(history: History, notebook: str) -> None:
    """Which notebook the questions are saved in (the page address carries it, so a bookmark comes back to
    it), and a button that forgets them."""
    st.header("Notebook")
    name = st.text_input("Questions are saved in the notebook", value=notebook, key="notebook",
                         help="One notebook per story keeps their questions apart; the address of the page "
                              "names it, so bookmark it to come back.")
    if notebook_name(name) != notebook:
        st.query_params["notebook"] = notebook_name(name)
        st.rerun()
    saved = history.saved(notebook)
    if st.session_state.get("clearing", (None,))[0] != notebook:
        st.button("Clear this notebook", key="clear", icon=":material/clear_all:",
                  help="Forget every question saved in this notebook (asks first)",
                  on_click=st.session_state.update, kwargs={"clearing": (notebook, saved[-1][0] if saved else 0)})
        return
    last = st.session_state.clearing[1]  # the questions counted here: a colleague may ask more before Clear
    count = sum(turn_id <= last for turn_id, _ in saved)
    st.warning(f"Forget the {count} question{'s' * (count != 1)} of **{escape_markdown(notebook)}**? "
               "This cannot be undone; *Download as Markdown* keeps a copy.")
    left, right = st.columns(2)
    if left.button("Clear", key="confirm-clear", type="primary"):
        del st.session_state["clearing"]
        history.clear(notebook, up_to=last)
        st.session_state.get("shown", {}).pop(notebook, None)  # forgotten here, not "cleared elsewhere"
        newer = sum(turn_id > last for turn_id, _ in history.saved(notebook))
        kept = (f" {counted(newer, 'question')} asked since (in another tab or window) "
                f"{'is' if newer == 1 else 'are'} kept." if newer else "")
        finish([Notice("success", f"The notebook **{escape_markdown(notebook)}** is cleared.{kept}")])
    right.button("Keep", key="keep-notebook", on_click=st.session_state.pop, args=("clearing", None))


def index_facts(retriever: qa.Retriever, settings: qa.Settings, embedder: qa.Embedder) -> None:
    """What the index holds, and a button to pick up files copied into the corpus folder by hand."""
    st.header("Index")
    manifest = retriever.store.manifest
    try:
        built = dt.datetime.strptime(manifest.built_at, "%Y-%m-%dT%H:%M:%S%z").strftime("%d %b %Y, %H:%M")
    except ValueError:
        built = manifest.built_at or "unknown"
    st.caption(f"{counted(manifest.documents, 'document')} · {counted(manifest.chunks, 'passage')}  \n"
               f"Model: {manifest.model}  \nBuilt: {built}  \nIndex: `{retriever.store.location()}`")
    if st.button("Update index", icon=":material/sync:", key="update",
                 help=f"Index files added to or changed in {settings.corpus_dir} outside this page"):
        finish(sync_visibly(settings, embedder, "Updating the index", previous=retriever.store.last_report())[1])


def document_list(retriever: qa.Retriever, settings: qa.Settings, embedder: qa.Embedder) -> None:
    """The indexed documents matching a search (the first DOCUMENTS_SHOWN, with file name, date, publisher),
    then the corpus files the last build could not index; each can be removed, after a confirmation."""
    documents = retriever.documents()
    report = retriever.store.last_report() or qa.SyncReport()
    skipped = [(doc_id, f"Not indexed: {reason}") for doc_id, reason in report.failed]
    skipped += [(doc_id, f"Not indexed: same content as {original}") for doc_id, original in report.duplicates]
    skipped = [(doc_id, why) for doc_id, why in skipped if (settings.corpus_dir / doc_id).is_file()]
    asked = st.session_state.get("confirm-remove")
    if asked and asked not in {doc.doc_id for doc in documents} | {doc_id for doc_id, _ in skipped}:
        del st.session_state["confirm-remove"]  # removed meanwhile, from another tab or window
        st.info(f"**{escape_markdown(asked)}** is no longer in the archive: it was removed from another tab or "
                "window.")
    with st.expander(f"Documents ({len(documents):,})"):
        query = st.text_input("Find a document", key="doc-search", placeholder="Title, file name or publisher")
        found = find_documents(documents, query)
        unread = [(doc_id, why) for doc_id, why in skipped if matches(query, doc_id)]  # they follow the search too
        shown = found[:DOCUMENTS_SHOWN]
        st.caption((f"{len(found):,} of {counted(len(documents), 'document')} match" if query else
                    counted(len(documents), "document") + (f", the first {len(shown)} shown; search to find others"
                                                           if len(shown) < len(found) else ""))
                   + (f"; {counted(len(unread), 'file')} not indexed, listed after them" if unread else ""))
        rows = [(doc.doc_id, doc.title or doc.doc_id,
                 " · ".join(isolated(part) for part in (doc.doc_id, doc.date or "no date",
                                                        doc.publisher or "unknown publisher",
                                                        counted(doc.chunks, "passage")))) for doc in shown]
        for doc_id, title, details in rows + [(doc_id, doc_id, escape_html(why))
                                              for doc_id, why in unread[:DOCUMENTS_SHOWN]]:
            st.markdown(f'<div class="qa-title">{isolated(title)}</div>'
                        f'<div class="qa-meta">{details}</div>', unsafe_allow_html=True)
            if st.session_state.get("confirm-remove") == doc_id:
                confirm_removal(doc_id, title, settings, embedder, report)
            else:
                st.button("Remove", key=f"remove-{doc_id}", icon=":material/delete:", type="tertiary",
                          help="Asks first; the file is moved to the corpus's .removed folder, and can be put back",
                          on_click=st.session_state.update, kwargs={"confirm-remove": doc_id})


def confirm_removal(doc_id: str, title: str, settings: qa.Settings, embedder: qa.Embedder,
                    previous: qa.SyncReport) -> None:
    """Ask before removing a document: remove it, or keep it."""
    st.warning(f"Remove **{escape_markdown(title)}** from the archive? You can undo it afterwards.")
    left, right = st.columns(2)
    if left.button("Remove", key=f"confirm-remove-{doc_id}", type="primary"):
        del st.session_state["confirm-remove"]
        finish(remove_document(doc_id, settings, embedder, previous))
    right.button("Keep", key=f"keep-{doc_id}", on_click=st.session_state.pop, args=("confirm-remove", None))


def uploader(settings: qa.Settings, embedder: qa.Embedder, previous: qa.SyncReport | None) -> None:
    """Add articles: store the uploaded files in the corpus and index them at once. Every file is accepted here
    and checked by `add_uploads`, so a file of another type is named in the page, never silently dropped."""
    st.header("Add articles")
    round_ = st.session_state.setdefault("upload_round", 0)  # a new key empties the uploader
    files = st.file_uploader(f"Articles ({' '.join(SUPPORTED_SUFFIXES)})", accept_multiple_files=True,
                             key=f"upload-{round_}")
    if st.button("Add to the corpus", key="add-files", icon=":material/upload:", disabled=not files):
        notices = add_uploads([(file.name, file.getvalue()) for file in files], settings, embedder, previous)
        st.session_state.upload_round = round_ + 1
        finish(notices)


# --- main area ---

def index_problem(error: qa.QAError, settings: qa.Settings, embedder: qa.Embedder) -> None:
    """Explain why there is nothing to search yet, and offer the step that fixes it."""
    if isinstance(error, qa.IndexNotFoundError):
        try:
            count = len(corpus_files(settings.corpus_dir))
        except qa.QAError:
            count = 0
        if not count:
            st.info(f"**No articles yet.** Add {' '.join(SUPPORTED_SUFFIXES)} files with **Add articles** in the "
                    f"sidebar, or copy them into `{settings.corpus_dir}` and run `python -m qa build`.")
            return
        st.info(f"**No index yet.** The {count} file{'s' * (count > 1)} in `{settings.corpus_dir}` must be "
                f"indexed before you can ask questions. Build it here (about a minute for a few dozen "
                f"articles), or run `python -m qa build` in a terminal.")
        label, rebuild = "Build index", False
    elif isinstance(error, qa.IndexMismatchError):  # built with another model: only a rebuild, when asked, replaces it
        st.error(f"**The index was built another way.** {escape_markdown(str(error))}")
        label, rebuild = "Rebuild the index with this model", True
    else:
        st.error(f"**The index cannot be used.** {escape_markdown(str(error))}")
        label, rebuild = "Repair index", False  # a plain sync rebuilds from the corpus what it cannot reuse
    if st.button(label, type="primary", key="build", icon=":material/build:"):
        finish(sync_visibly(settings, embedder, "Building the index", rebuild=rebuild)[1])
    st.button("Refresh", key="refresh", icon=":material/refresh:")




def examples(retriever: qa.Retriever) -> None:
    """Example questions for an empty page, a click asking one; only over the bundled articles they are about
    (on another archive they would be answered "not found", a poor first answer)."""
    if not {doc.doc_id for doc in retriever.documents()} & EXAMPLE_DOCUMENTS:
        st.markdown("**Ask about a person, a figure, a date or a reason** in the articles, in your own words.")
        return
    st.markdown("**Try a question**, or type your own below:")
    for number, question in enumerate(EXAMPLES):
        st.button(question, key=f"example-{number}", icon=":material/help:", type="tertiary",
                  on_click=st.session_state.update, kwargs={"pending": question})


def ask(retriever: qa.Retriever, question: str, options: SearchOptions) -> Turn:
    """Answer the question, say what each source says (from the same ratings), and count the documents among the
    top TIMELINE_PASSAGES passages by month."""
    answer, candidates = retriever.ask_rated(question, k=options.k, mode=options.mode, filters=options.filters)
    matching = retriever.search(question, k=TIMELINE_PASSAGES, mode=options.mode, filters=options.filters)
    return Turn(answer, tuple(compare_sources(answer.question, answer.hits, candidates)),
                coverage((hit.doc_id, hit.date) for hit in matching), options.description, bool(options.filters))


def latest_turn(saved: list[tuple[int, Turn]], notebook: str) -> int | None:
    """The id of the turn drawn in full (chart, passages): the last question this reader asked in the notebook,
    while it is there, else the notebook's last. Colleagues sharing a notebook ask too, and a page that opened
    a colleague's newer question as its reader's own answer hid the reader's behind a toggle."""
    own = st.session_state.get("asked", {}).get(notebook)
    return own if any(turn_id == own for turn_id, _ in saved) else (saved[-1][0] if saved else None)


def say_cleared_elsewhere(saved: list[tuple[int, Turn]], notebook: str) -> None:
    """Say so when questions this page showed are gone from the notebook: someone cleared it in another tab or
    window (this page's own Clear forgets what it showed first), else they vanish unexplained."""
    shown = st.session_state.setdefault("shown", {})
    gone = shown.get(notebook, set()) - {turn_id for turn_id, _ in saved}
    if gone:
        st.info(f"{counted(len(gone), 'earlier question')} of this notebook {'was' if len(gone) == 1 else 'were'} "
                "cleared in another tab or window.")
    shown[notebook] = {turn_id for turn_id, _ in saved}


def show_turn(number: int, turn: Turn, retriever: qa.Retriever, dates: tuple[dt.date, dt.date] | None,
              latest: bool, anchor: int = 0) -> None:
    """One question and its answer: the best sentence with its source, what each source says, when the story
    was covered (a chart for the latest question), then the passages. `anchor` (the turn's id) names the
    question's heading (`qa-turn-<id>`), so the page can bring this very question into view."""
    with st.chat_message("user"):
        st.markdown(f'<h2 class="qa-title qa-question qa-turn-{anchor}" dir="auto">'
                    f'{escape_html(turn.answer.question)}</h2>', unsafe_allow_html=True)
        st.caption(f"Searched by {escape_markdown(turn.search)}")
    with st.chat_message("assistant"):
        answer = turn.answer
        if not answer.hits:
            st.info("**No passages match.** " + (
                "Your filters exclude every article: clear the source filter or widen the dates in the sidebar."
                if turn.filtered else "Try other words, or add articles about this."))
            return
        if answer.confident and answer.best is not None:
            best = answer.best
            label = relevance(best)
            context = f'<span class="qa-context">{escape_html(answer.context)} </span>' if answer.context else ""
            st.markdown(f'<div class="qa-answer" dir="auto">{context}{answer_html(answer)}</div>'
                        f'<div class="qa-source">— <b>{isolated(best.title or best.doc_id)}</b>, '
                        f'{source_details_html(best) or isolated(best.doc_id)}</div>', unsafe_allow_html=True)
            st.badge(label.label, color=label.color,
                     help="How sure the answer model is that this sentence answers: a strong match is reached by "
                          "under 1% of questions the archive cannot answer; check a good match against its passage")
            if label.label == "Good match":
                st.caption("A good match: check it against its passage below.")
            copy_citation(best)
        else:
            st.info("**The archive does not seem to answer this.** No sentence of the closest passages seems to "
                    "state it; they are below. Try other words, or add articles that cover it.")
        if turn.sources:
            st.markdown('<h3 class="qa-section">What each source says</h3>', unsafe_allow_html=True)
            st.markdown("".join(source_line_html(line) for line in turn.sources), unsafe_allow_html=True)
        show_timeline(turn.timeline, number, turn.answer.question, dates, latest)
        # an earlier answer's passages are drawn only when asked for: drawn for every answer, they made a new answer
        # slower to show as the notebook grew (scripts/page_benchmark.py: 0.82 s at 0-9 questions, 1.20 s at 30-39;
        # now 0.63 and 0.67 s)
        label = f"Passages ({len(answer.hits)})"
        if latest or st.toggle(label, key=f"passages-{number}", help="Show this answer's passages again"):
            with st.expander(label, expanded=True):
                st.caption("A highlighted sentence is one the answer model rates as answering your question; the "
                           "label says how sure it is.")
                for hit in answer.hits:
                    show_passage(hit, f"context-{number}-{hit.rank}", retriever)


def show_timeline(timeline: Timeline, number: int, question: str, dates: tuple[dt.date, dt.date] | None,
                  latest: bool) -> None:
    """When the matching documents were published: a bar chart per month with a month picker that narrows the
    date filter and asks again (latest question only; earlier ones get one line)."""
    undated = f"{timeline.undated:,} undated" if timeline.undated else ""
    if not timeline.months:
        if undated:
            st.caption("When it was covered: " + (
                "the matching document states no date." if timeline.undated == 1 else
                f"none of the {timeline.undated:,} matching documents states a date."))
        return
    first, last = timeline.months[0][0], timeline.months[-1][0]
    span = f"{first} to {last}" if first != last else first
    summary = f"{counted(timeline.dated, 'matching document')} dated {span}" + (f", {undated}" if undated else "")
    if not latest:
        st.caption(f"When it was covered: {summary}.")
        return
    st.markdown(f'<h3 class="qa-section">When it was covered · {escape_html(summary)}</h3>', unsafe_allow_html=True)
    chart = pd.DataFrame({"documents": [count for _, count in timeline.months]},
                         index=pd.Index([month for month, _ in timeline.months], name="month"))
    st.bar_chart(chart, y="documents", height=160)
    if dates is not None and first != last:  # one month only: narrowing to it would ask the same again
        st.selectbox("Narrow the dates to a month and ask again", [m for m, count in timeline.months if count],
                     index=None, placeholder="Choose a month", key=f"month-{number}", on_change=narrow_to_month,
                     args=(f"month-{number}", question, dates))


def narrow_to_month(key: str, question: str, dates: tuple[dt.date, dt.date]) -> None:
    """Set the sidebar's date filter to the month chosen in `key` (within the archive's dates) and ask again."""
    first, last = month_bounds(st.session_state[key])
    st.session_state.dates = (max(first, dates[0]), min(last, dates[1]))
    st.session_state.pending = question


def copy_citation(hit: qa.Hit) -> None:
    """A *Copy citation* button: it shows the citation (`qa.export.citation`) with a copy-to-clipboard button,
    which takes the focus when the box opens (`FOCUS_COPY`), so Enter, Enter copies from the keyboard."""
    with st.popover("Copy citation", icon=":material/format_quote:"):
        st.code(citation(hit), language=None, wrap_lines=True)
        st.caption("Copy it with the button at the top right of the box (it has the focus: press Enter).")


def show_passage(hit: qa.Hit, key: str, retriever: qa.Retriever) -> None:
    """A passage card: title, source, where the original is (a link, or its file), a relevance label, the
    escaped text with its sentence marked, and its citation."""
    with st.container(border=True):
        st.markdown(f'<h3 class="qa-title">{hit.rank}. {isolated(hit.title or hit.doc_id)}</h3>'
                    f'<div class="qa-meta">{source_details_html(hit)}</div>'
                    f'<div class="qa-where">{origin_html(hit)}</div>{copies_html(hit)}', unsafe_allow_html=True)
        label = relevance(hit)
        st.badge(label.label, color=label.color)
        st.markdown(passage_html(hit), unsafe_allow_html=True)
        left, right = st.columns(2)
        with left:
            if st.button("Open in context", key=key, icon=":material/article:", type="tertiary"):
                show_in_context(retriever, hit)
        with right:
            copy_citation(hit)


@st.dialog("The passage in its document", width="large")
def show_in_context(retriever: qa.Retriever, hit: qa.Hit) -> None:
    """The whole source document with the passage highlighted where it stands (and page labels for PDFs)."""
    document = retriever.document(hit.doc_id)
    if document is None:
        st.warning("This document is no longer in the index; it was removed after you asked.")
        return
    st.markdown(f'<div class="qa-title">{isolated(document.title or document.doc_id)}</div>'
                f'<div class="qa-meta">{source_details_html(hit)}</div>', unsafe_allow_html=True)
    start, end = hit.start, hit.end
    if document.text[start:end] != hit.text:
        # the file changed after the question was asked: find the passage again, if it is still there
        start = document.text.find(hit.text)
        end = start + len(hit.text) if start >= 0 else -1
    if start < 0:
        st.warning("The document changed after you asked; this passage is no longer in it.")
    else:
        where = f" on page {hit.page}" if hit.page else ""
        st.markdown(f'<div class="qa-meta">The passage is highlighted{where}. '
                    f'<a href="#qa-passage">Jump to the passage</a></div>', unsafe_allow_html=True)
    st.markdown(highlight_html(document.text, start, end, document.pages, anchor="qa-passage"),
                unsafe_allow_html=True)




def announce(answer: qa.Answer) -> None:
    """Say a new answer to a screen reader (an alert, read once when it appears): the page draws it far from the
    chat box, where the focus stays for the next question."""
    if answer.confident and answer.best is not None:
        said = (f"Answer: {' '.join(filter(None, (answer.context, answer.text.strip())))} From {answer.best.title or answer.best.doc_id}, "
                f"{source_details(answer.best)}. {relevance(answer.best).label}.")
    elif answer.hits:
        said = "The archive does not seem to answer this. The closest passages are below."
    else:
        said = "No passages match."
    st.html(f'<div class="qa-hidden" role="alert">{escape_html(said)}</div>')


def session_tools(turns: list[Turn], notebook: str) -> None:
    """Download this notebook's questions and answers as Markdown, with how each was searched and citations;
    the file and its heading name the notebook, so two stories' exports are told apart."""
    st.download_button(
        "Download as Markdown",
        answers_markdown([turn.answer for turn in turns], f"Ask the articles: {notebook}",
                         [turn.search for turn in turns]),
        file_name=export_name(notebook, dt.date.today().isoformat()), mime="text/markdown",
        icon=":material/download:", key="download", help="Questions, answers and passages with their sources",
    )


def show_notices(notices: list[Notice]) -> None:
    """The outcome of the last action (kept across its rerun), as success/info/warning/error boxes, brought into
    view: the reader pressed the button in the sidebar, maybe with the page scrolled far down."""
    if notices:  # the focus follows: the button pressed was redrawn, and the focus fell to the page's start
        st.html('<div class="qa-outcome" tabindex="-1" aria-label="What the last action did"></div>')
        bring_into_view(".qa-outcome")
    for kind, message in notices:
        getattr(st, kind)(message)


def bring_into_view(selector: str) -> None:
    """Scroll the last element matching `selector` to the top of the view, once (`SCROLL_INTO_VIEW`)."""
    st.session_state.scrolls = st.session_state.get("scrolls", 0) + 1
    st.html(SCROLL_INTO_VIEW % (selector, st.session_state.scrolls), unsafe_allow_javascript=True)


# --- the page ---

st.set_page_config(page_title="Ask the articles", page_icon="📰", layout="centered")
st.html(STYLE)
st.html(FOCUS_COPY, unsafe_allow_javascript=True)
settings = qa.Settings.from_env()
history = History.beside(settings.index_dir)
notebook = notebook_name(st.query_params.get("notebook"))

st.title("Ask the articles")
show_notices(st.session_state.pop("notices", []))

try:
    embedder = load_embedder(settings.model, settings.backend)
except qa.QAError as error:
    st.error(f"**The language model could not be loaded.** {escape_markdown(str(error))}")
    st.stop()

try:
    retriever = open_retriever(settings, embedder)
except qa.QAError as error:
    with st.sidebar:
        uploader(settings, embedder, None)
    index_problem(error, settings, embedder)
    st.stop()

last_report = retriever.store.last_report()
with st.sidebar:
    options = search_options(retriever, settings)
    st.divider()
    notebook_tools(history, notebook)
    st.divider()
    uploader(settings, embedder, last_report)
    document_list(retriever, settings, embedder)
    st.divider()
    index_facts(retriever, settings, embedder)

undo_removal(settings, embedder, last_report)
if retriever.store.fallback:
    st.warning(f"**Answers come from an earlier copy of the index**, because the current one is damaged: "
               f"{escape_markdown(retriever.store.fallback)}. Press **Update index** to repair it from the corpus.")

if not retriever.store.manifest.documents:
    st.info(f"**The index is empty.** Add articles with **Add articles** in the sidebar, or copy files into "
            f"`{settings.corpus_dir}` and press **Update index**.")
    st.stop()

st.caption(f"Answers are sentences quoted from {counted(retriever.store.manifest.documents, 'document')}, "
           "each with its source. Nothing is made up.")
question = st.chat_input("Ask a question about the articles") or st.session_state.pop("pending", None)
problem = ""
asked: int | None = None  # the id of the question this run asked: in a notebook others share, not always the last
if question is not None:
    try:
        with st.spinner("Searching the articles…"):
            answered = ask(retriever, question, options)
            asked = history.add(notebook, answered)
            st.session_state.setdefault("asked", {})[notebook] = asked
    except qa.QuestionError as error:
        problem = str(error)
    except Exception:  # the page's boundary: log the details for whoever runs it, show the reader a sentence
        logger.exception("answering %r failed", question[:200])
        st.error("**Something went wrong while answering.** The details are in the server's log; the index "
                 "is unchanged. Try again, or rephrase the question.")

saved = history.saved(notebook)
say_cleared_elsewhere(saved, notebook)
turns = [turn for _, turn in saved]
if not turns:
    examples(retriever)
for number, (turn_id, turn) in enumerate(saved, start=1):
    show_turn(number, turn, retriever, options.period, latest=turn_id == latest_turn(saved, notebook), anchor=turn_id)
if problem:
    st.html('<div class="qa-outcome"></div>')
    st.warning(f"**Please rephrase:** {escape_markdown(problem)}.")
    bring_into_view(".qa-outcome")
elif asked is not None:
    bring_into_view(f".qa-turn-{asked}")
    announce(answered.answer)
if turns:
    session_tools(turns, notebook)
