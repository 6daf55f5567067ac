"""The README keeps up with the code: every command-line verb is documented, and the two set-up commands exist."""

from __future__ import annotations

import pytest

from qa.cli import VERBS
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_every_verb_appears_in_the_readme(verb: str) -> None:
    assert f"python -m qa {verb}" in README


def test_first_screen_gives_the_two_setup_commands() -> None:
    first_screen = "\n".join(README.splitlines()[:30])
    assert "make run" in first_screen and "make test" in first_screen


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (REPO / ".ci" / "run").read_text()
