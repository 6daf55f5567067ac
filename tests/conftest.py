"""Shared fixtures: the real bundled model (loaded once) and a real index of a copy of the bundled corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa import Embedder, Retriever, Settings, sync
from qa.answer_model import AnswerModel

REPO = Path(__file__).resolve().parent.parent
SEED_QUESTION = "who was suspected of the Kadhimi attack"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="session")
def answer_model() -> AnswerModel:
    """The shipped answer scorer (qa/models), as `Retriever.ask` loads it."""
    return AnswerModel.shipped()


def copy_seed_corpus(target: Path) -> Path:
    """A copy of the repository's bundled corpus, so tests never touch the real one."""
    shutil.copytree(REPO / "corpus", target, ignore=shutil.ignore_patterns(".*"))
    return target


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """Settings of a real index built once from the bundled corpus (do not modify it in tests)."""
    root = tmp_path_factory.mktemp("seed")
    settings = Settings(corpus_dir=copy_seed_corpus(root / "corpus"), index_dir=root / "index")
    sync(settings, embedder)
    return settings


@pytest.fixture(scope="session")
def seed_retriever(seed_settings: Settings, embedder: Embedder) -> Retriever:
    return Retriever.open(seed_settings.index_dir, embedder, seed_settings)


@pytest.fixture
def fresh_settings(tmp_path: Path) -> Settings:
    """Settings for a new corpus copy and an unbuilt index, for tests that change things."""
    return Settings(corpus_dir=copy_seed_corpus(tmp_path / "corpus"), index_dir=tmp_path / "index")


def add_syndicated_copy(corpus: Path) -> Path:
    """The bundled Middle East Eye report saved again as another outlet's copy (its own header, the same body), as
    wire copy is; returns the original's path. The copy is `syndicated.txt`, published by Gulf Wire."""
    original = next(corpus.glob("middleeasteye-*"))
    body = original.read_text(encoding="utf-8").split("---\n", 2)[2]
    (corpus / "syndicated.txt").write_text(
        "---\ntitle: Iraqi factions given a slap\npublisher: Gulf Wire\ndate: 2021-11-29\n---\n" + body,
        encoding="utf-8")
    return original
