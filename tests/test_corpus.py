"""qa.corpus: files removed are kept and can be put back; documents are found by title, file name or publisher."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.corpus import REMOVED_DIR, add_bytes, corpus_files, find_documents, remove_file, restore_file
from qa.errors import QAError
from qa.storage import DocumentRow


def row(doc_id: str, title: str, publisher: str) -> DocumentRow:
    return DocumentRow(doc_id, doc_id, title, publisher, "", "", "", 1)


def test_a_removed_file_is_kept_and_restored_where_it_was(tmp_path: Path) -> None:
    (tmp_path / "news").mkdir()
    (tmp_path / "news" / "drones.txt").write_text("Three drones.")
    kept = remove_file("news/drones.txt", tmp_path)
    assert kept.parent == tmp_path / REMOVED_DIR and not (tmp_path / "news" / "drones.txt").exists()
    assert restore_file(kept, "news/drones.txt", tmp_path) == (tmp_path / "news" / "drones.txt").resolve()
    assert (tmp_path / "news" / "drones.txt").read_text() == "Three drones." and not kept.exists()


def test_a_restored_file_never_overwrites_one_that_took_its_name(tmp_path: Path) -> None:
    (tmp_path / "drones.txt").write_text("old")
    kept = remove_file("drones.txt", tmp_path)
    (tmp_path / "drones.txt").write_text("new")
    assert restore_file(kept, "drones.txt", tmp_path).name == "drones-2.txt"
    assert (tmp_path / "drones.txt").read_text() == "new"


def test_removing_files_of_the_same_name_keeps_each_of_them(tmp_path: Path) -> None:
    # Two folders' report.txt removed within the same second once shared a kept name: the second overwrote the first.
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "report.txt").write_text(f"report of {folder}")
    kept = [remove_file(f"{folder}/report.txt", tmp_path) for folder in ("a", "b")]
    assert kept[0] != kept[1]
    assert [path.read_text() for path in kept] == ["report of a", "report of b"]


def test_only_a_kept_file_can_be_restored_and_only_inside_the_corpus(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with pytest.raises(QAError, match="no such removed file"):
        restore_file(outside, "secret.txt", corpus)
    (corpus / "a.txt").write_text("a")
    with pytest.raises(QAError, match="not a place inside"):
        restore_file(remove_file("a.txt", corpus), "../escaped.txt", corpus)


def test_an_unsupported_upload_names_the_file_and_the_supported_types(tmp_path: Path) -> None:
    with pytest.raises(QAError, match=r"budget\.xlsx was not added.*\.txt, \.md") as refused:
        add_bytes("budget.xlsx", b"PK", tmp_path)
    assert ".pdf" in str(refused.value) and not list(tmp_path.iterdir())


def test_documents_are_found_by_every_word_in_title_file_name_or_publisher() -> None:
    documents = [row("bbc/business-224.txt", "Man Utd to open books to Glazer", "BBC News"),
                 row("mee-kadhimi.txt", "Betrayed by Iran?", "Middle East Eye")]
    assert find_documents(documents, "") == documents
    assert find_documents(documents, "glazer BBC") == documents[:1]
    assert find_documents(documents, "business-224") == documents[:1]
    assert find_documents(documents, "EYE iran") == documents[1:]
    assert find_documents(documents, "glazer iran") == []


def test_a_linked_folder_in_the_corpus_is_read_and_a_link_back_up_is_read_once(tmp_path: Path) -> None:
    """A folder of 200 articles linked into the corpus was skipped without a word ("0 added")."""
    corpus, shared = tmp_path / "corpus", tmp_path / "shared"
    (corpus / "own").mkdir(parents=True)
    shared.mkdir()
    (corpus / "own" / "a.txt").write_text("A.")
    (shared / "b.md").write_text("B.")
    (shared / ".draft.txt").write_text("hidden")
    (corpus / "linked").symlink_to(shared, target_is_directory=True)
    (corpus / "own" / "up").symlink_to(corpus, target_is_directory=True)  # a loop
    assert list(corpus_files(corpus)) == ["linked/b.md", "own/a.txt"]


def test_a_long_name_in_a_two_byte_script_can_be_added_and_removed(tmp_path: Path) -> None:
    """120 Arabic letters are 240 bytes: removal's time-stamp prefix went past the 255 bytes a name may have
    ("File name too long"), so the document could not be removed, and a page upload of it crashed."""
    name = "تقرير-" * 24 + ".txt"
    added = add_bytes(name, b"Report on the drone attack.", tmp_path)
    assert len(added.name.encode()) <= 200 and added.name.startswith("تقرير-")
    by_hand = tmp_path / ("ت" * 125 + ".txt")  # 254 bytes, copied into the folder by hand
    by_hand.write_text("Another report.")
    for path in (added, by_hand):
        kept = remove_file(path.name, tmp_path)
        assert kept.exists() and not path.exists()
        assert restore_file(kept, path.name, tmp_path) == path.resolve()
