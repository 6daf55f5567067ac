"""A build into a nearly full filesystem (a 4 MB tmpfs mounted by the test) fails with a clear message and
leaves the last good generation answering; with space freed, a plain build completes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa import Embedder, Settings
from qa.cli import main
from qa.store import CURRENT
from tests.conftest import SEED_QUESTION, copy_seed_corpus

SUSPECT = "Kataeb Sayyid al-Shuhada is the key suspect"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs; the test is skipped (with the reason) where this machine does not allow mounting one."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.strip() or 'mount failed'}); needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_build_into_a_full_disk_says_so_and_the_last_index_still_answers(
        small_disk: Path, tmp_path: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(corpus_dir=copy_seed_corpus(tmp_path / "corpus"), index_dir=small_disk / "index")
    args = ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]
    assert main(["build", *args]) == 0
    (settings.corpus_dir / "long.txt").write_text("The reconstruction of Mosul went on for years. " * 4000)
    filler = small_disk / "filler"
    with open(filler, "wb") as handle:  # fill the disk, leaving less than a generation's worth of space
        while True:
            try:
                handle.write(b"\0" * 65536)
                handle.flush()
            except OSError:
                break
    filler.write_bytes(filler.read_bytes()[: filler.stat().st_size - 200_000])
    capsys.readouterr()
    assert main(["build", *args]) == 1
    err = capsys.readouterr().err
    assert "is full" in err and "still answers" in err and len(err.strip().splitlines()) == 1, err
    assert not list(settings.index_dir.glob("*.tmp")), "the half-written generation was left taking space"
    assert main(["ask", SEED_QUESTION, *args]) == 0 and SUSPECT in capsys.readouterr().out
    filler.unlink()
    assert main(["build", *args]) == 0
    assert "long.txt" in capsys.readouterr().out


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def test_a_disk_that_fills_at_any_step_of_a_build_gives_the_message_or_a_finished_build(
        small_disk: Path, tmp_path: Path, embedder: Embedder, capsys: pytest.CaptureFixture[str]) -> None:
    """Space running out at each step of a build, 4 KB apart: writing the generation (numpy's short write was not
    recognised, a raw "OSError: 1713 requested and 496 written"), making it current (a raw "[Errno 28]", a whole
    generation left unpublished beside CURRENT.tmp), or recording the report (the build said it failed while
    CURRENT already named the new generation). Each build either finishes or says the disk is full and changes
    nothing, and nothing half-written stays."""
    settings = Settings(corpus_dir=copy_seed_corpus(tmp_path / "corpus"), index_dir=small_disk / "index")
    args = ["--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir)]
    assert main(["build", *args]) == 0
    generation = settings.index_dir / (settings.index_dir / CURRENT).read_text().strip()
    size = sum(path.stat().st_size for path in generation.rglob("*") if path.is_file())
    filler = small_disk / "filler"
    outcomes = set()
    for step, spare in enumerate(range(-48 * 1024, 48 * 1024, 4096)):
        (settings.corpus_dir / "note.txt").write_text(f"Note {step}: the Mosul bridge reopened in spring.")
        before = (settings.index_dir / CURRENT).read_text()
        filler.write_bytes(b"")
        filler.write_bytes(b"\0" * max(0, free_bytes(small_disk) - size - spare))
        capsys.readouterr()
        code = main(["build", *args])
        out, err = capsys.readouterr()
        if code == 0:
            assert "1 updated" in out or "1 added" in out, out
            assert (settings.index_dir / CURRENT).read_text() != before
        else:
            assert "is full" in err and "still answers" in err and len(err.strip().splitlines()) == 1, err
            assert (settings.index_dir / CURRENT).read_text() == before
        outcomes.add(code)
        assert not list(settings.index_dir.glob("*.tmp")), "something half-written was left"
        assert len(list(settings.index_dir.glob("gen-*"))) <= 2
        assert main(["ask", SEED_QUESTION, *args]) == 0 and SUSPECT in capsys.readouterr().out
    assert outcomes == {0, 1}, "the sweep must cross from a full disk to one with room"
