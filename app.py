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
from collections.abc import Sequence
from typing import NamedTuple

import streamlit as st

import qa
from qa.config import SUPPORTED_SUFFIXES
from qa.corpus import add_bytes, remove_file
from qa.errors import BuildLockedError
from qa.export import (
    answers_markdown, escape_html, escape_markdown, highlight_html, passage_html, relevance, source_details,
)
from qa.indexer import corpus_files

logger = logging.getLogger("qa.app")
EXAMPLES = (
    "who was suspected of the Kadhimi attack",
    "how many drones targeted Kadhimi's residence",
    "what did Qais al-Khazali say about the attack",
)
MODES = {
    "hybrid": ("Words and meaning", "Recommended: exact words and similar meaning together"),
    "dense": ("Meaning", "Finds paraphrases, even without the same words"),
    "bm25": ("Exact words", "Like a keyword search; good for names"),
}
BUSY = ("Another build of the index is running (perhaps `python -m qa build` in a terminal). "
        "Wait for it to finish, then try again.")
STYLE = """<style>
.qa-text { line-height: 1.6; overflow-wrap: anywhere; }
.qa-text mark { background: #fde68a; padding: 0 .1em; border-radius: 3px; }
.qa-page { margin: 1em 0 .3em; padding-top: .4em; border-top: 1px solid #e5e7eb;
           font-size: .8em; color: #6b7280; text-transform: uppercase; letter-spacing: .05em; }
.qa-answer { font-size: 1.15em; line-height: 1.5; padding: .5em .9em; margin-bottom: .3em;
             border-left: 4px solid #f59e0b; background: #fffbeb; border-radius: 0 6px 6px 0; }
.qa-source, .qa-meta { color: #4b5563; font-size: .9em; }
.qa-title { font-weight: 600; }
</style>"""

Notice = tuple[str, str]  # (kind: "success" | "info" | "warning" | "error", Markdown message)


class SearchOptions(NamedTuple):
    """What the sidebar asks for: passages to show, retrieval mode, filters, and a sentence saying so."""

    k: int
    mode: str
    filters: qa.Filters
    description: str


class Turn(NamedTuple):
    """One question of this session: its answer, how it was searched, and whether filters were on."""

    answer: qa.Answer
    how: str
    filtered: bool


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
                 uploaded: Sequence[str] = ()) -> tuple[qa.SyncReport | None, list[Notice]]:
    """Run `qa.sync` with its stages and embedding progress on screen, and say what it did (see
    `describe`); never waits behind another build. The report is None when the sync could not run."""
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
            return None, [("info", BUSY)]
        except qa.QAError as error:
            status.update(label="The index could not be updated", state="error")
            return None, [("error", f"The index could not be updated: {escape_markdown(str(error))}")]
        status.update(label="Index updated", state="complete")
    return report, describe(report, uploaded)


def describe(report: qa.SyncReport, uploaded: Sequence[str] = ()) -> list[Notice]:
    """What a sync did, in a reader's words; files in `uploaded` that failed are said not to be added."""
    done = [f"{len(names)} {verb}" for names, verb in
            ((report.added, "added"), (report.updated, "updated"), (report.removed, "removed")) if names]
    if done:
        notices = [("success", f"Index updated: {', '.join(done)} ({report.chunks_embedded:,} passages indexed).")]
    else:
        notices = [("success", "The index is up to date.")]
    for doc_id, reason in report.failed:
        fate = "It was not added." if doc_id in uploaded else "It was skipped; fix or remove the file."
        notices.append(("warning", f"Could not read **{escape_markdown(doc_id)}**: "
                                   f"{escape_markdown(reason)}. {fate}"))
    for doc_id, original in report.duplicates:
        notices.append(("info", f"**{escape_markdown(doc_id)}** has the same content as "
                                f"**{escape_markdown(original)}**, so it is indexed once."))
    return notices


def add_uploads(files: Sequence[tuple[str, bytes]], settings: qa.Settings, embedder: qa.Embedder) -> list[Notice]:
    """Save uploaded files into the corpus (safe names, never overwriting) and index them.

    A file the indexer cannot read is moved out again (to the corpus's `.removed/` folder), so a bad
    upload does not linger in the corpus.
    """
    notices: list[Notice] = []
    saved = []
    for name, data in files:
        try:
            saved.append(add_bytes(name, data, settings.corpus_dir).relative_to(settings.corpus_dir).as_posix())
        except qa.QAError as error:
            notices.append(("warning", escape_markdown(str(error))))
    if not saved:
        return notices
    label = f"Adding {len(saved)} file{'s' * (len(saved) > 1)}"
    report, outcome = sync_visibly(settings, embedder, label, uploaded=saved)
    if report is not None:
        for doc_id, _ in report.failed:
            if doc_id in saved:
                remove_file(doc_id, settings.corpus_dir)
    return notices + outcome


def remove_document(doc_id: str, settings: qa.Settings, embedder: qa.Embedder) -> list[Notice]:
    """Move a document out of the corpus (into `.removed/`, not deleted) and drop it from the index."""
    try:
        remove_file(doc_id, settings.corpus_dir)
    except qa.QAError as error:
        return [("error", escape_markdown(str(error)))]
    return sync_visibly(settings, embedder, f"Removing {escape_markdown(doc_id)}")[1]


def finish(notices: list[Notice]) -> None:
    """Keep the notices for the next run and rerun, so every part of the page shows the new index."""
    st.session_state.notices = notices
    st.rerun()


# --- sidebar ---

def search_options(retriever: qa.Retriever, settings: qa.Settings) -> SearchOptions:
    """The search widgets: mode, number of passages, and filters by source and date."""
    st.header("Search")
    mode = st.radio("Match on", list(MODES), format_func=lambda m: MODES[m][0],
                    captions=[help_text for _, help_text in MODES.values()], key="mode")
    k = st.slider("Passages to show", 1, 20, settings.k, key="k")

    documents = retriever.documents()
    publishers = sorted({doc.publisher for doc in documents if doc.publisher})
    titles = {doc.doc_id: doc.title or doc.doc_id for doc in documents}
    sources = st.multiselect(
        "Only these sources", publishers + list(titles), placeholder="All sources",
        format_func=lambda s: f"{s} (publisher)" if s in publishers else titles[s],
    )
    described = [MODES[mode][0].lower(), f"top {k}"] + [titles.get(s, s) for s in sources]

    since = until = ""
    dates = sorted(day for doc in documents if (day := parse_day(doc.date)))
    if dates:
        chosen = st.date_input("Published between", value=(dates[0], dates[-1]), min_value=dates[0],
                               max_value=dates[-1], format="YYYY-MM-DD")
        # filter on dates only when narrowed, so undated documents are searched by default
        if len(chosen) == 2 and tuple(chosen) != (dates[0], dates[-1]):
            since, until = chosen[0].isoformat(), chosen[1].isoformat()
            described.append(f"{since} to {until}")
    return SearchOptions(k, mode, qa.Filters(tuple(sources), since, until), " · ".join(described))


def parse_day(text: str) -> dt.date | None:
    """The date at the start of an ISO date string, or None."""
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def index_facts(retriever: qa.Retriever, settings: qa.Settings, embedder: qa.Embedder) -> None:
    """What the index holds, and a button to pick up files copied into the corpus folder by hand."""
    st.header("Index")
    manifest = retriever.store.manifest
    try:
        built = dt.datetime.strptime(manifest.built_at, "%Y-%m-%dT%H:%M:%S%z").strftime("%d %b %Y, %H:%M")
    except ValueError:
        built = manifest.built_at or "unknown"
    st.caption(f"{manifest.documents:,} documents · {manifest.chunks:,} passages  \n"
               f"Model: {manifest.model}  \nBuilt: {built}  \nIndex: `{retriever.store.location()}`")
    if st.button("Update index", icon=":material/sync:", key="update",
                 help=f"Index files added to or changed in {settings.corpus_dir} outside this page"):
        finish(sync_visibly(settings, embedder, "Updating the index")[1])


def document_list(retriever: qa.Retriever, settings: qa.Settings, embedder: qa.Embedder) -> None:
    """Every indexed document with its source and size, then the corpus files the last build could not
    index (still in the corpus folder), each with a remove button."""
    documents = retriever.documents()
    report = retriever.store.last_report() or qa.SyncReport()
    skipped = [(doc_id, f"Not indexed: {reason}") for doc_id, reason in report.failed]
    skipped += [(doc_id, f"Not indexed: same content as {original}") for doc_id, original in report.duplicates]
    skipped = [(doc_id, why) for doc_id, why in skipped if (settings.corpus_dir / doc_id).is_file()]
    with st.expander(f"Documents ({len(documents)})"):
        rows = [(doc.doc_id, doc.title or doc.doc_id,
                 f"{doc.publisher or 'Unknown publisher'} · {doc.date or 'no date'} · {doc.chunks} passages")
                for doc in documents]
        for doc_id, title, details in rows + [(doc_id, doc_id, why) for doc_id, why in skipped]:
            st.markdown(f'<div class="qa-title">{escape_html(title)}</div>'
                        f'<div class="qa-meta">{escape_html(details)}</div>', unsafe_allow_html=True)
            if st.button("Remove", key=f"remove-{doc_id}", icon=":material/delete:", type="tertiary",
                         help="Moves the file to the corpus's .removed folder and drops it from the index"):
                finish(remove_document(doc_id, settings, embedder))


def uploader(settings: qa.Settings, embedder: qa.Embedder) -> None:
    """Add articles: store the uploaded files in the corpus and index them at once."""
    st.header("Add articles")
    round_ = st.session_state.setdefault("upload_round", 0)  # a new key empties the uploader
    files = st.file_uploader("Text, Markdown, HTML or PDF", type=[s.lstrip(".") for s in SUPPORTED_SUFFIXES],
                             accept_multiple_files=True, key=f"upload-{round_}")
    if st.button("Add to the corpus", key="add-files", icon=":material/upload:", disabled=not files):
        notices = add_uploads([(file.name, file.getvalue()) for file in files], settings, embedder)
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
            st.info(f"**No articles yet.** Add .txt, .md, .html or .pdf files with **Add articles** in the "
                    f"sidebar, or copy them into `{settings.corpus_dir}` and run `python -m qa build`.")
            return
        st.info(f"**No index yet.** The {count} file{'s' * (count > 1)} in `{settings.corpus_dir}` must be "
                f"indexed before you can ask questions. Build it here (about a minute for a few dozen "
                f"articles), or run `python -m qa build` in a terminal.")
        label, rebuild = "Build index", False
    else:
        st.error(f"**The index cannot be used.** {escape_markdown(str(error))}")
        label, rebuild = "Repair index", False  # a plain sync rebuilds from the corpus what it cannot reuse
    if st.button(label, type="primary", key="build", icon=":material/build:"):
        finish(sync_visibly(settings, embedder, "Building the index", rebuild=rebuild)[1])
    st.button("Refresh", key="refresh", icon=":material/refresh:")


def examples() -> None:
    """Example questions for an empty page; a click asks it."""
    st.markdown("**Try a question**, or type your own below:")
    for number, question in enumerate(EXAMPLES):
        st.button(question, key=f"example-{number}", icon=":material/help:", type="tertiary",
                  on_click=st.session_state.update, kwargs={"pending": question})


def show_turn(number: int, turn: Turn, retriever: qa.Retriever, latest: bool) -> None:
    """One question and its answer: the best sentence with its source first, then the passages."""
    with st.chat_message("user"):
        st.markdown(f'<div class="qa-title">{escape_html(turn.answer.question)}</div>', unsafe_allow_html=True)
        st.caption(f"Searched by {turn.how}")
    with st.chat_message("assistant"):
        answer = turn.answer
        if not answer.hits:
            st.info("**No passages match.** " + (
                "Your filters exclude every article: clear the source filter or widen the dates in the sidebar."
                if turn.filtered else "Try other words, or add articles about this."))
            return
        if answer.confident and answer.best is not None:
            best = answer.best
            st.markdown(f'<div class="qa-answer">{escape_html(answer.text.strip())}</div>'
                        f'<div class="qa-source">— <b>{escape_html(best.title or best.doc_id)}</b>, '
                        f'{escape_html(source_details(best))}</div>', unsafe_allow_html=True)
        else:
            st.info("**The archive does not seem to answer this.** No sentence states it; the closest passages "
                    "are below. Try other words, or add articles that cover it.")
        with st.expander(f"Passages ({len(answer.hits)})", expanded=latest):
            st.caption("A highlighted sentence is one the answer model rates as answering your question; the label "
                       "says how sure it is.")
            for hit in answer.hits:
                show_passage(hit, f"context-{number}-{hit.rank}", retriever)


def show_passage(hit: qa.Hit, key: str, retriever: qa.Retriever) -> None:
    """A passage card: title, source, a relevance label, the escaped text with its sentence marked."""
    with st.container(border=True):
        st.markdown(f'<div class="qa-title">{hit.rank}. {escape_html(hit.title or hit.doc_id)}</div>'
                    f'<div class="qa-meta">{escape_html(source_details(hit))}</div>', unsafe_allow_html=True)
        label = relevance(hit)
        st.badge(label.label, color=label.color)
        st.markdown(passage_html(hit), unsafe_allow_html=True)
        if st.button("Open in context", key=key, icon=":material/article:", type="tertiary"):
            show_in_context(retriever, hit)


@st.dialog("The passage in its document", width="large")
def show_in_context(retriever: qa.Retriever, hit: qa.Hit) -> None:
    """The whole source document with the passage highlighted where it stands (and page labels for PDFs)."""
    document = retriever.document(hit.doc_id)
    if document is None:
        st.warning("This document is no longer in the index; it was removed after you asked.")
        return
    st.markdown(f'<div class="qa-title">{escape_html(document.title or document.doc_id)}</div>'
                f'<div class="qa-meta">{escape_html(source_details(hit))}</div>', unsafe_allow_html=True)
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


def session_tools(turns: list[Turn]) -> None:
    """Download this session's questions and answers as Markdown with citations, or start afresh."""
    left, right = st.columns(2)
    left.download_button(
        "Download as Markdown", answers_markdown([turn.answer for turn in turns], "Ask the articles"),
        file_name=f"ask-the-articles-{dt.date.today().isoformat()}.md", mime="text/markdown",
        icon=":material/download:", key="download", help="Questions, answers and passages with their sources",
    )
    if right.button("Clear questions", key="clear", icon=":material/clear_all:"):
        st.session_state.turns = []
        st.rerun()


def show_notices(notices: list[Notice]) -> None:
    """The outcome of the last action (kept across its rerun), as success/info/warning/error boxes."""
    for kind, message in notices:
        getattr(st, kind)(message)


# --- the page ---

st.set_page_config(page_title="Ask the articles", page_icon="📰", layout="centered")
st.html(STYLE)
settings = qa.Settings.from_env()
turns: list[Turn] = st.session_state.setdefault("turns", [])

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
        uploader(settings, embedder)
    index_problem(error, settings, embedder)
    st.stop()

with st.sidebar:
    options = search_options(retriever, settings)
    st.divider()
    uploader(settings, embedder)
    document_list(retriever, settings, embedder)
    st.divider()
    index_facts(retriever, settings, embedder)

if retriever.store.fallback:
    st.warning(f"**Answers come from an earlier copy of the index**, because the current one is damaged: "
               f"{escape_markdown(retriever.store.fallback)}. Press **Update index** to repair it from the corpus.")

if not retriever.store.manifest.documents:
    st.info(f"**The index is empty.** Add articles with **Add articles** in the sidebar, or copy files into "
            f"`{settings.corpus_dir}` and press **Update index**.")
    st.stop()

st.caption(f"Answers are sentences quoted from {retriever.store.manifest.documents:,} documents, "
           "each with its source. Nothing is made up.")
question = st.chat_input("Ask a question about the articles") or st.session_state.pop("pending", None)
problem = ""
if question is not None:
    try:
        with st.spinner("Searching the articles…"):
            answer = retriever.ask(question, k=options.k, mode=options.mode, filters=options.filters)
        turns.append(Turn(answer, options.description, bool(options.filters)))
    except qa.QuestionError as error:
        problem = str(error)
    except Exception:  # the page's boundary: log the details for whoever runs it, show the reader a sentence
        logger.exception("answering %r failed", question[:200])
        st.error("**Something went wrong while answering.** The details are in the server's log; the index "
                 "is unchanged. Try again, or rephrase the question.")

if not turns:
    examples()
for number, turn in enumerate(turns, start=1):
    show_turn(number, turn, retriever, latest=number == len(turns))
if problem:
    st.warning(f"**Please rephrase:** {escape_markdown(problem)}.")
if turns:
    session_tools(turns)
