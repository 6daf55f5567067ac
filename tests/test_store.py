"""The on-disk index: round trip, atomic generations, and refusing an index made with another model or format."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa import Embedder, Retriever, Settings, sync
from qa.chunking import embedding_text
from qa.errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError
from qa.store import CURRENT, GENERATION_NAME, Generation, current_generation, generation_name, open_generation
from tests.conftest import SEED_QUESTION


def test_index_round_trips_through_disk(seed_settings: Settings, seed_retriever: Retriever, embedder: Embedder) -> None:
    reopened = Retriever.open(seed_settings.index_dir, embedder, seed_settings)
    first = seed_retriever.search(SEED_QUESTION, k=5)
    again = reopened.search(SEED_QUESTION, k=5)
    assert [(h.chunk_id, h.text, h.title) for h in first] == [(h.chunk_id, h.text, h.title) for h in again]
    manifest = reopened.store.manifest
    assert (manifest.documents, manifest.model, manifest.dimension) == (2, embedder.model_id, 384)
    assert manifest.chunks == len(reopened.store.ids) == reopened.store.faiss.ntotal


def test_stored_vectors_are_the_models_embeddings_of_the_chunk_text_after_its_title(seed_retriever: Retriever,
                                                                                    embedder: Embedder) -> None:
    generation = seed_retriever.store
    rows = generation.chunk_rows(generation.ids[:3])
    expected = embedder.encode([embedding_text(rows[int(i)]["title"], rows[int(i)]["text"])
                                for i in generation.ids[:3]])
    np.testing.assert_allclose(np.asarray(generation.vectors()[:3]), expected, atol=1e-5)
    np.testing.assert_allclose(generation.faiss.reconstruct_batch(generation.ids[:3]), expected, atol=1e-5)


def test_stored_documents_keep_text_and_metadata(seed_retriever: Retriever) -> None:
    rows = {row.publisher: row for row in seed_retriever.documents()}
    assert set(rows) == {"Middle East Eye", "Track Persia"}
    doc = seed_retriever.document(rows["Middle East Eye"].doc_id)
    assert doc.author == "Suadad al-Salhy" and doc.date == "2021-11-28"
    for hit in seed_retriever.search(SEED_QUESTION, k=3):
        assert seed_retriever.document(hit.doc_id).text[hit.start : hit.end] == hit.text


def test_missing_index_says_how_to_build(tmp_path: Path, embedder: Embedder) -> None:
    with pytest.raises(IndexNotFoundError, match="python -m qa build"):
        Retriever.open(tmp_path / "nothing", embedder)


def test_index_from_another_model_is_refused(fresh_settings: Settings, embedder: Embedder) -> None:
    sync(fresh_settings, embedder)
    manifest_path = current_generation(fresh_settings.index_dir) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "model": "some-other-model"}))
    with pytest.raises(IndexMismatchError, match="some-other-model.*`python -m qa build --rebuild`"):
        Retriever.open(fresh_settings.index_dir, embedder, fresh_settings)


def test_index_of_another_format_is_refused(fresh_settings: Settings, embedder: Embedder) -> None:
    sync(fresh_settings, embedder)
    manifest_path = current_generation(fresh_settings.index_dir) / "manifest.json"
    manifest_path.write_text(json.dumps({**json.loads(manifest_path.read_text()), "format_version": 999}))
    with pytest.raises(IndexMismatchError, match="format 999"):
        Retriever.open(fresh_settings.index_dir, embedder, fresh_settings)


def test_a_build_over_an_index_of_the_previous_format_rebuilds_it(fresh_settings: Settings, embedder: Embedder) -> None:
    """Format 1 stored no URLs: the next build makes a new index from the corpus instead of reading the old one."""
    sync(fresh_settings, embedder)
    manifest_path = current_generation(fresh_settings.index_dir) / "manifest.json"
    manifest_path.write_text(json.dumps({**json.loads(manifest_path.read_text()), "format_version": 1}))
    report = sync(fresh_settings, embedder)
    assert report.rebuilt and len(report.added) == 2
    assert Retriever.open(fresh_settings.index_dir, embedder, fresh_settings).search(SEED_QUESTION)


def test_damaged_manifest_is_a_clear_error(fresh_settings: Settings, embedder: Embedder) -> None:
    sync(fresh_settings, embedder)
    (current_generation(fresh_settings.index_dir) / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorruptError, match="manifest.*rebuild"):
        Retriever.open(fresh_settings.index_dir, embedder, fresh_settings)


def test_a_build_with_another_model_is_refused_unless_asked_to_rebuild(fresh_settings: Settings,
                                                                       embedder: Embedder) -> None:
    """A plain build with another --model re-embedded the whole archive unasked, and every reader on the old model
    was refused from then on (a Postgres store already refused)."""
    sync(fresh_settings, embedder)
    manifest_path = current_generation(fresh_settings.index_dir) / "manifest.json"
    manifest_path.write_text(json.dumps({**json.loads(manifest_path.read_text()), "model": "other"}))
    before = current_generation(fresh_settings.index_dir)
    with pytest.raises(IndexMismatchError, match="built with model 'other'.*`python -m qa build --rebuild`"):
        sync(fresh_settings, embedder)
    assert current_generation(fresh_settings.index_dir) == before
    report = sync(fresh_settings, embedder, rebuild=True)
    assert report.rebuilt and len(report.added) == 2
    assert Retriever.open(fresh_settings.index_dir, embedder, fresh_settings).search(SEED_QUESTION)


def test_a_build_from_scratch_keeps_the_generation_readers_may_be_opening(fresh_settings: Settings,
                                                                         embedder: Embedder,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader that read CURRENT just before a --rebuild switched it found that generation deleted, and was told
    the index was damaged with "no intact generation left", while the new one was current and whole."""
    sync(fresh_settings, embedder)
    first = current_generation(fresh_settings.index_dir)
    sync(fresh_settings, embedder, rebuild=True)
    assert first.is_dir(), "the generation current before the rebuild stays"

    sync(fresh_settings, embedder, rebuild=True)  # a second switch removes it, while a slow reader still opens it
    assert not first.is_dir()
    monkeypatch.setattr("qa.store.current_generation", lambda index_dir: first)
    generation = open_generation(fresh_settings.index_dir)
    assert generation.path == fresh_settings.index_dir / (fresh_settings.index_dir / CURRENT).read_text().strip()
    assert not generation.fallback


def test_new_generation_replaces_the_old_and_old_readers_keep_answering(fresh_settings: Settings,
                                                                        embedder: Embedder) -> None:
    sync(fresh_settings, embedder)
    old = Retriever.open(fresh_settings.index_dir, embedder, fresh_settings)
    (fresh_settings.corpus_dir / "extra.txt").write_text("The falcon migration reached Basra in spring.")
    sync(fresh_settings, embedder)
    assert not old.is_current()
    assert old.search(SEED_QUESTION, k=3), "a reader keeps the generation it opened"
    new = old.refreshed()
    assert new.is_current() and new.store.manifest.documents == 3
    generations = sorted(p.name for p in fresh_settings.index_dir.glob("gen-*"))
    assert (fresh_settings.index_dir / CURRENT).read_text().strip() in generations
    assert not any(name.endswith(".tmp") for name in generations)


def test_rebuild_with_another_faiss_type(fresh_settings: Settings, embedder: Embedder) -> None:
    settings = replace(fresh_settings, faiss_factory="HNSW16")
    sync(settings, embedder)
    retriever = Retriever.open(settings.index_dir, embedder, settings)
    assert retriever.store.manifest.faiss_factory == "HNSW16"
    assert any("Kataeb Sayyid al-Shuhada" in hit.text for hit in retriever.search(SEED_QUESTION, k=5))
    assert isinstance(Generation(current_generation(settings.index_dir)).faiss.ntotal, int)


def test_generation_names_sort_in_build_order_across_a_second_boundary() -> None:
    # Two builds 5 ms apart, either side of a whole second: the later one must sort last, or a repair build
    # would not be listed (and served as a fallback) first.
    just_before = 1_796_446_565_998_000_000
    names = [generation_name(just_before), generation_name(just_before + 5_000_000)]
    assert all(GENERATION_NAME.fullmatch(name) for name in names)
    assert names == sorted(names) and names[0] != names[1]
