"""Incremental sync: only new or changed files are embedded, removed ones disappear, duplicates are indexed once."""

from __future__ import annotations

from collections.abc import Sequence
import json
from dataclasses import replace

import numpy as np

from qa import Embedder, Retriever, Settings, loading, sync
from qa.errors import BuildLockedError, QAError
from qa.records import SyncReport
from qa.store import build_lock

import pytest

ARTICLE = ("---\ntitle: Falcons of Duhok\npublisher: Nature Desk\ndate: 2022-03-01\n---\n"
           "Saker falcons nest on the limestone cliffs above Duhok every spring. "
           "Local rangers counted forty breeding pairs this year.\n")


class CountingEmbedder(Embedder):
    """The real model, counting how many passages each call embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:
        self.calls.append(len(texts))
        return super().encode(texts, progress)


@pytest.fixture(scope="module")
def counting() -> CountingEmbedder:
    return CountingEmbedder()


def test_adding_one_article_embeds_only_its_chunks_and_removing_it_removes_its_hits(
    fresh_settings: Settings, counting: CountingEmbedder
) -> None:
    first = sync(fresh_settings, counting)
    assert sorted(first.added) == sorted(p.name for p in fresh_settings.corpus_dir.iterdir())
    before = Retriever.open(fresh_settings.index_dir, counting, fresh_settings)
    old_ids = set(before.store.ids.tolist())

    (fresh_settings.corpus_dir / "falcons.md").write_text(ARTICLE)
    counting.calls.clear()
    report = sync(fresh_settings, counting)
    assert report.added == ["falcons.md"] and len(report.unchanged) == 2
    retriever = before.refreshed()
    new_chunks = [row for row in retriever.documents() if row.doc_id == "falcons.md"][0].chunks
    assert counting.calls == [new_chunks] == [report.chunks_embedded]
    assert old_ids < set(retriever.store.ids.tolist()), "unchanged documents keep their chunks"
    assert retriever.search("how many falcon pairs breed near Duhok", k=1)[0].doc_id == "falcons.md"

    (fresh_settings.corpus_dir / "falcons.md").unlink()
    counting.calls.clear()
    report = sync(fresh_settings, counting)
    assert report.removed == ["falcons.md"] and counting.calls == [] and report.chunks_embedded == 0
    hits = retriever.refreshed().search("how many falcon pairs breed near Duhok", k=10)
    assert all(hit.doc_id != "falcons.md" for hit in hits)
    assert set(retriever.refreshed().store.ids.tolist()) == old_ids


def test_a_second_sync_with_nothing_changed_embeds_nothing(fresh_settings: Settings,
                                                           counting: CountingEmbedder) -> None:
    sync(fresh_settings, counting)
    counting.calls.clear()
    report = sync(fresh_settings, counting)
    assert not report.changed and counting.calls == [] and len(report.unchanged) == 2


def test_a_changed_file_is_re_embedded_and_its_old_text_is_gone(fresh_settings: Settings,
                                                                counting: CountingEmbedder) -> None:
    path = fresh_settings.corpus_dir / "falcons.md"
    path.write_text(ARTICLE)
    sync(fresh_settings, counting)
    path.write_text(ARTICLE.replace("forty breeding pairs", "twelve breeding pairs"))
    report = sync(fresh_settings, counting)
    assert report.updated == ["falcons.md"]
    retriever = Retriever.open(fresh_settings.index_dir, counting, fresh_settings)
    texts = [hit.text for hit in retriever.search("falcon breeding pairs Duhok", k=10)]
    assert any("twelve" in text for text in texts) and not any("forty" in text for text in texts)


def test_files_read_by_an_earlier_reading_version_are_read_again_once(
    fresh_settings: Settings, counting: CountingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index kept the text its readers gave when the file was first indexed (a PDF sentence cut at the page
    break, Markdown marks), however the readers improved, until a full rebuild. Read again, a passage whose text
    came out as it was keeps its vector: the upgrade of 2,225 BBC articles embedded all 6,897 passages again."""
    sync(fresh_settings, counting)
    before = Retriever.open(fresh_settings.index_dir, counting, fresh_settings).search("drone attack on Kadhimi", k=5)
    monkeypatch.setattr(loading, "READING_VERSION", loading.READING_VERSION + 1)
    counting.calls.clear()
    report = sync(fresh_settings, counting)
    assert sorted(report.updated) == sorted(report.reread) == sorted(p.name for p in fresh_settings.corpus_dir.iterdir())
    assert "2 updated (2 of them only read again by newer readers)" in report.summary()  # the upgrade's build says why
    assert counting.calls == [] and report.chunks_embedded == 0  # the readers gave the same text: nothing embedded
    after = Retriever.open(fresh_settings.index_dir, counting, fresh_settings).search("drone attack on Kadhimi", k=5)
    assert [(h.text, round(h.score, 6)) for h in after] == [(h.text, round(h.score, 6)) for h in before]
    assert not sync(fresh_settings, counting).changed


def test_vectors_embedded_before_passages_were_read_after_their_title_are_not_kept(
    fresh_settings: Settings, counting: CountingEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release before `loading.EMBEDDED_SINCE` embedded each passage alone: read again, a passage whose text is
    the same is embedded again after its title, not given the vector of the passage alone."""
    monkeypatch.setattr(loading, "READING_VERSION", loading.EMBEDDED_SINCE - 1)
    sync(fresh_settings, counting)
    monkeypatch.undo()
    counting.calls.clear()
    report = sync(fresh_settings, counting)
    chunks = Retriever.open(fresh_settings.index_dir, counting, fresh_settings).store.manifest.chunks
    assert len(report.reread) == 2 and report.chunks_embedded == chunks == sum(counting.calls)


def test_a_passage_is_found_by_its_documents_title(fresh_settings: Settings, counting: CountingEmbedder) -> None:
    """A story's later passages say "the deal" where its headline names the company. Two stories end in the same
    words; the question names one of them, and its passage is found first (read alone, both passages are one
    text, and the one indexed first, the other story's, came first)."""
    filler = " ".join(f"Analysts in the region described the sector's outlook as mixed in note {n}." for n in range(30))
    for name, company in (("a-takeover.md", "Brightwater Cobalt"), ("z-takeover.md", "Zorvane Lithium")):
        (fresh_settings.corpus_dir / name).write_text(
            f"---\ntitle: {company} takeover collapses\npublisher: Mining Desk\n---\n"
            f"The planned takeover of {company} by a rival collapsed on Monday.\n\n{filler}\n\n"
            "The failed deal will cost 300 jobs at the smelter, the union said.\n", encoding="utf-8")
    sync(fresh_settings, counting)
    retriever = Retriever.open(fresh_settings.index_dir, counting, fresh_settings)
    best = retriever.search("How many jobs will the collapse of the Zorvane Lithium takeover cost?", k=1, mode="dense")[0]
    assert "300 jobs" in best.text and "Zorvane" not in best.text and best.title == "Zorvane Lithium takeover collapses"


def test_files_a_newer_reading_version_read_are_left_as_they_are(fresh_settings: Settings, counting: CountingEmbedder,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A build of the release before (rolled back, or a machine not yet upgraded) re-read every file the newer
    one had read, and the newer one re-read them all again: builds of two releases took turns."""
    monkeypatch.setattr(loading, "READING_VERSION", loading.READING_VERSION + 1)
    sync(fresh_settings, counting)
    monkeypatch.setattr(loading, "READING_VERSION", loading.READING_VERSION - 1)
    report = sync(fresh_settings, counting)
    assert not report.changed and not report.reread and len(report.unchanged) == 2


def test_an_edited_file_embeds_only_its_changed_passages(fresh_settings: Settings, counting: CountingEmbedder) -> None:
    """A correction appended to a long article embedded all its passages again; the unchanged ones keep theirs."""
    sync(fresh_settings, counting)
    article = next(fresh_settings.corpus_dir.glob("middleeasteye-*"))
    chunks = Retriever.open(fresh_settings.index_dir, counting, fresh_settings).store.manifest.chunks
    article.write_text(article.read_text(encoding="utf-8") + "\n\nCorrection: the drones were launched at 2am.\n",
                       encoding="utf-8")
    counting.calls.clear()
    report = sync(fresh_settings, counting)
    assert report.updated == [article.name] and 0 < report.chunks_embedded <= 2 < chunks
    assert counting.calls == [report.chunks_embedded]
    answer = Retriever.open(fresh_settings.index_dir, counting, fresh_settings).ask("When were the drones launched?")
    assert "2am" in " ".join(hit.text for hit in answer.hits)


def test_a_file_that_cannot_be_read_keeps_its_last_indexed_version(fresh_settings: Settings,
                                                                   embedder: Embedder) -> None:
    """A file a build could not read (permissions, a share gone, a link left dangling) was removed from the index."""
    path = fresh_settings.corpus_dir / "falcons.md"
    path.write_text(ARTICLE)
    sync(fresh_settings, embedder)
    path.unlink()
    path.symlink_to(fresh_settings.corpus_dir / "on-a-share-not-mounted.md")
    report = sync(fresh_settings, embedder)
    assert report.removed == [] and "last indexed version stays searchable" in dict(report.failed)["falcons.md"]
    retriever = Retriever.open(fresh_settings.index_dir, embedder, fresh_settings)
    assert retriever.search("how many falcon pairs breed near Duhok", k=1)[0].doc_id == "falcons.md"


def test_the_same_content_under_two_names_is_indexed_once(fresh_settings: Settings, embedder: Embedder) -> None:
    (fresh_settings.corpus_dir / "falcons.md").write_text(ARTICLE)
    (fresh_settings.corpus_dir / "falcons-copy.md").write_text(ARTICLE)
    report = sync(fresh_settings, embedder)
    assert report.duplicates == [("falcons.md", "falcons-copy.md")]
    docs = [row.doc_id for row in Retriever.open(fresh_settings.index_dir, embedder, fresh_settings).documents()]
    assert docs.count("falcons-copy.md") + docs.count("falcons.md") == 1


def test_rebuild_re_embeds_everything(fresh_settings: Settings, counting: CountingEmbedder) -> None:
    sync(fresh_settings, counting)
    counting.calls.clear()
    report = sync(fresh_settings, counting, rebuild=True)
    assert report.rebuilt and len(report.added) == 2 and counting.calls == [report.chunks_embedded]


def test_a_second_build_waits_or_says_one_is_running(fresh_settings: Settings, embedder: Embedder) -> None:
    with build_lock(fresh_settings.index_dir):
        with pytest.raises(BuildLockedError, match="another build"):
            sync(fresh_settings, embedder, wait=False)
    assert sync(fresh_settings, embedder, wait=False).added


def test_a_corpus_folder_gone_empty_does_not_empty_the_index(fresh_settings: Settings, embedder: Embedder,
                                                              tmp_path) -> None:
    """An unmounted share looks like an empty folder: the build refuses to drop every document, says how to
    empty the index on purpose, and a mistyped --corpus is refused before a --rebuild drops anything."""
    sync(fresh_settings, embedder)
    for path in fresh_settings.corpus_dir.glob("*.txt"):
        path.unlink()
    with pytest.raises(QAError, match="would remove 2 of the index's 2 documents.*--prune"):
        sync(fresh_settings, embedder)
    assert len(Retriever.open(fresh_settings.index_dir, embedder, fresh_settings).documents()) == 2
    with pytest.raises(QAError, match="does not exist"):
        sync(replace(fresh_settings, corpus_dir=tmp_path / "typo"), embedder, rebuild=True)
    assert len(Retriever.open(fresh_settings.index_dir, embedder, fresh_settings).documents()) == 2
    sync(fresh_settings, embedder, rebuild=True)
    assert Retriever.open(fresh_settings.index_dir, embedder, fresh_settings).documents() == []


def test_a_folder_in_place_of_the_sync_report_is_replaced_and_the_build_succeeds(fresh_settings: Settings,
                                                                                 embedder: Embedder) -> None:
    """Every build published its generation, then failed on writing last-sync.json (IsADirectoryError)."""
    sync(fresh_settings, embedder)
    (fresh_settings.index_dir / "last-sync.json").unlink()
    (fresh_settings.index_dir / "last-sync.json").mkdir()
    (fresh_settings.corpus_dir / "falcons.md").write_text(ARTICLE)
    report = sync(fresh_settings, embedder)
    assert report.added == ["falcons.md"]
    assert Retriever.open(fresh_settings.index_dir, embedder, fresh_settings).store.last_report().added == ["falcons.md"]


def test_a_build_that_would_remove_most_of_the_index_asks_for_prune(fresh_settings: Settings, embedder: Embedder,
                                                                     tmp_path) -> None:
    """--corpus pointed at a folder holding one stray file removed 593 documents in a plain build, their vectors
    lost to a long re-embedding."""
    for n in range(40):
        (fresh_settings.corpus_dir / f"note-{n}.txt").write_text(f"Note {n}: the harbour of Basra reopened.")
    sync(fresh_settings, embedder)
    stray = tmp_path / "downloads"
    stray.mkdir()
    (stray / "stray.txt").write_text("A stray note about falcons in Duhok.")
    with pytest.raises(QAError, match="would remove 42 of the index's 42 documents.*--prune"):
        sync(replace(fresh_settings, corpus_dir=stray), embedder)
    assert len(Retriever.open(fresh_settings.index_dir, embedder, fresh_settings).documents()) == 42
    for n in range(15):
        (fresh_settings.corpus_dir / f"note-{n}.txt").unlink()
    assert len(sync(fresh_settings, embedder).removed) == 15, "removing under half goes through"
    for n in range(15, 40):
        (fresh_settings.corpus_dir / f"note-{n}.txt").unlink()
    with pytest.raises(QAError, match="would remove 25 of the index's 27 documents"):
        sync(fresh_settings, embedder)
    assert len(sync(fresh_settings, embedder, prune=True).removed) == 25


# The fields of the sync report the previous release (432d2cd) reads: a report it cannot read crashed its `info`
# and its page on a Postgres store a newer build had synced ("unexpected keyword argument 'warned'").
PREVIOUS_REPORT_FIELDS = {"added", "updated", "removed", "unchanged", "failed", "duplicates", "chunks_embedded",
                          "rebuilt", "generation"}


def test_the_stored_report_is_one_the_previous_release_reads_and_a_later_ones_is_read(
    fresh_settings: Settings, embedder: Embedder
) -> None:
    (fresh_settings.corpus_dir / "note.txt").write_bytes("Le ministre a été visé, a déclaré l'armée.".encode("cp1252"))
    report = sync(fresh_settings, embedder)
    assert report.warned, "a report with a field the previous release lacks"
    stored = json.loads((fresh_settings.index_dir / "last-sync.json").read_text())
    assert set(stored) == PREVIOUS_REPORT_FIELDS
    later = SyncReport.from_dict({**stored, "a_later_field": [1, 2]})
    assert later.added == report.added and later.failed == report.failed
