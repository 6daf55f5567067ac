"""Damage to every file of the live generation, one at a time: never a traceback; the seed question answered
from an intact generation or a one-line message naming the problem; then a plain `python -m qa build` leaves a
verified index that answers it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from qa import Embedder, Settings, sync
from qa.cli import main
from qa.store import CURRENT, current_generation
from tests.conftest import SEED_QUESTION, copy_seed_corpus

SUSPECT = "Kataeb Sayyid al-Shuhada is the key suspect"


def _random_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes((i * 97 + 13) % 256 for i in range(64))[: len(data) - middle]
    path.write_bytes(bytes(data))


def _folder_in_place(path: Path) -> None:
    path.unlink()
    path.mkdir()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "emptied": lambda path: path.write_bytes(b""),
    "cut in half": lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
    "random bytes in the middle": _random_middle,
    "missing": Path.unlink,
    "a folder in its place": _folder_in_place,
}
POINTER_DAMAGE: dict[str, Callable[[Path], None]] = {
    "emptied": lambda path: path.write_bytes(b""),
    "garbage": lambda path: path.write_bytes(b"not a generation\n"),
    "not UTF-8": lambda path: path.write_bytes(b"\xff\xfe\x80gen"),
    "pointing outside the index": lambda path: path.write_bytes(b"../../etc\n"),
    "missing": Path.unlink,
    "a folder in its place": _folder_in_place,
}
GENERATION_FILES = ["manifest.json", "store.sqlite", "ids.npy", "vectors.npy", "dense.faiss", "bm25/params.index.json",
                    "bm25/vocab.index.json", "bm25/data.csc.index.npy", "bm25/indices.csc.index.npy",
                    "bm25/indptr.csc.index.npy", "bm25/terms.npy", "bm25/term_offsets.npy"]


@pytest.fixture(scope="module")
def two_generations(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """The seed corpus built, then a third article added and synced: the live generation and the one before it."""
    root = tmp_path_factory.mktemp("intact")
    settings = Settings(corpus_dir=copy_seed_corpus(root / "corpus"), index_dir=root / "index")
    sync(settings, embedder)
    (settings.corpus_dir / "mosul.txt").write_text("Crews in Mosul rebuilt the al-Nuri mosque after the war.")
    sync(settings, embedder)
    assert len(list(settings.index_dir.glob("gen-*"))) == 2
    return settings


def damaged_copy(settings: Settings, where: Path) -> Settings:
    shutil.copytree(settings.corpus_dir, where / "corpus")
    shutil.copytree(settings.index_dir, where / "index")
    return Settings(corpus_dir=where / "corpus", index_dir=where / "index")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`python -m qa ARGV` in this process; an exception escaping it (a traceback) fails the test."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_answers_or_says_why(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "ask", SEED_QUESTION, "--index", str(settings.index_dir))
    if code == 0:
        assert SUSPECT in out
    else:
        assert code == 1 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err


def assert_a_plain_build_repairs(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--index", str(settings.index_dir), "--corpus", str(settings.corpus_dir)]
    assert run(capsys, "build", *args)[0] == 0
    code, out, _ = run(capsys, "check", *args)
    assert code == 0 and "(serving)" in out and out.splitlines()[0].endswith("verified (serving)"), out
    code, out, _ = run(capsys, "ask", SEED_QUESTION, *args)
    assert code == 0 and SUSPECT in out


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("name", GENERATION_FILES)
def test_damage_to_a_file_of_the_live_generation(two_generations: Settings, tmp_path: Path, name: str, damage: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    settings = damaged_copy(two_generations, tmp_path)
    DAMAGE[damage](current_generation(settings.index_dir) / name)
    assert_answers_or_says_why(settings, capsys)
    assert_a_plain_build_repairs(settings, capsys)


@pytest.mark.parametrize("damage", POINTER_DAMAGE)
def test_damage_to_the_current_pointer(two_generations: Settings, tmp_path: Path, damage: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    settings = damaged_copy(two_generations, tmp_path)
    POINTER_DAMAGE[damage](settings.index_dir / CURRENT)
    assert_answers_or_says_why(settings, capsys)
    assert_a_plain_build_repairs(settings, capsys)


def test_an_earlier_generation_is_served_and_said_so(two_generations: Settings, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    settings = damaged_copy(two_generations, tmp_path)
    (current_generation(settings.index_dir) / "ids.npy").write_bytes(b"")
    code, out, _ = run(capsys, "info", "--index", str(settings.index_dir))
    assert code == 0 and "serving an earlier generation because" in out and "ids.npy" in out
    code, out, _ = run(capsys, "check", "--index", str(settings.index_dir))
    assert code == 1 and "ids.npy" in out and "verified (serving)" in out


def test_check_lists_every_generation_when_none_is_intact(two_generations: Settings, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    settings = damaged_copy(two_generations, tmp_path)
    for generation in settings.index_dir.glob("gen-*"):
        (generation / "ids.npy").write_bytes(b"")
    code, out, err = run(capsys, "check", "--index", str(settings.index_dir))
    assert code == 1 and out.count("ids.npy") == 2 and "no generation is intact" in err


def test_check_names_the_file_whose_content_changed(two_generations: Settings, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    settings = damaged_copy(two_generations, tmp_path)
    _random_middle(current_generation(settings.index_dir) / "vectors.npy")
    code, out, _ = run(capsys, "check", "--index", str(settings.index_dir))
    assert code == 1 and "vectors.npy has changed since it was written" in out


def test_check_on_an_intact_index_of_another_model_says_so(two_generations: Settings, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """It printed "verified" for each generation, then "no generation is intact; run `python -m qa build`", a build
    that is refused for another model."""
    settings = damaged_copy(two_generations, tmp_path)
    for folder in settings.index_dir.glob("gen-*"):
        manifest = folder / "manifest.json"
        manifest.write_text(manifest.read_text().replace("sentence-transformers/all-MiniLM-L6-v2", "other/model"))
    code, out, err = run(capsys, "check", "--index", str(settings.index_dir), "--corpus", str(settings.corpus_dir))
    assert code == 1 and "no generation is intact" not in err
    assert "was built with model 'other/model" in err and "`python -m qa build --rebuild`" in err
