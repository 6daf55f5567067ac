"""A build killed with SIGKILL leaves a usable index, and the next build completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from qa import Embedder, Retriever, Settings, sync
from tests.conftest import REPO, SEED_QUESTION


def start_build(settings: Settings) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "qa", "build", "-v", "--corpus", str(settings.corpus_dir),
         "--index", str(settings.index_dir)],
        cwd=REPO, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def kill_after(build: subprocess.Popen[str], marker: str, delay: float) -> None:
    """SIGKILL the build `delay` seconds after it logs a line containing `marker`."""
    for line in build.stderr:
        if marker in line:
            break
    time.sleep(delay)
    build.send_signal(signal.SIGKILL)
    build.wait()


@pytest.fixture
def indexed_with_more_to_add(fresh_settings: Settings, embedder: Embedder) -> tuple[Settings, str]:
    """An indexed seed corpus, then 60 new files waiting for the next build; returns the live generation."""
    sync(fresh_settings, embedder)
    generation = Retriever.open(fresh_settings.index_dir, embedder, fresh_settings).store.path.name
    for i in range(60):
        (fresh_settings.corpus_dir / f"filler-{i:02d}.txt").write_text(
            f"Report {i} on reconstruction in Mosul. " + "Crews rebuilt bridges, schools and markets. " * 25
        )
    return fresh_settings, generation


def test_sigkill_during_embedding_keeps_the_old_index_and_the_next_build_succeeds(
    indexed_with_more_to_add: tuple[Settings, str], embedder: Embedder
) -> None:
    settings, old_generation = indexed_with_more_to_add
    build = start_build(settings)
    kill_after(build, "Embedding", delay=0.5)
    assert build.returncode == -signal.SIGKILL

    retriever = Retriever.open(settings.index_dir, embedder, settings)
    assert retriever.store.path.name == old_generation
    assert any("Kataeb Sayyid al-Shuhada" in hit.text for hit in retriever.search(SEED_QUESTION, k=3))

    report = sync(settings, embedder)
    assert len(report.added) == 60 and not report.failed
    assert retriever.refreshed().store.manifest.documents == 62


def test_sigkill_while_writing_leaves_a_whole_generation_and_leftovers_are_cleared(
    indexed_with_more_to_add: tuple[Settings, str], embedder: Embedder
) -> None:
    settings, _ = indexed_with_more_to_add
    kill_after(start_build(settings), "Writing the index", delay=0.05)

    retriever = Retriever.open(settings.index_dir, embedder, settings)
    assert retriever.store.manifest.documents in (2, 62), "the old generation or the whole new one"
    assert retriever.search(SEED_QUESTION, k=3)

    sync(settings, embedder)
    assert retriever.refreshed().store.manifest.documents == 62
    assert not list(settings.index_dir.glob("gen-*.tmp"))
