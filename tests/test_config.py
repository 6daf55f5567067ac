"""Settings: defaults, then environment variables, then explicit overrides (an unset flag is not an override)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import Settings


def test_environment_is_used_when_a_flag_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_INDEX_DIR", "/tmp/elsewhere")
    settings = Settings.from_env(index_dir=None, corpus_dir=None, model=None)
    assert settings.index_dir == Path("/tmp/elsewhere") and settings.corpus_dir == Path("corpus")


def test_a_given_flag_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_CORPUS_DIR", "/tmp/env-corpus")
    assert Settings.from_env(corpus_dir="mine").corpus_dir == Path("mine")


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QA_CORPUS_DIR", "QA_INDEX_DIR", "QA_MODEL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_env()
    assert (settings.corpus_dir, settings.index_dir, settings.model) == (Path("corpus"), Path("index"), "")
