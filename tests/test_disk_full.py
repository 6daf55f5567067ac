"""A build into a nearly full filesystem (a 4 MB tmpfs mounted by the test) fails with a clear message and
leaves the last good generation answering; with space freed, a plain build completes."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa import Embedder, Settings
from qa.cli import main
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
