"""Bad input never crashes a build or loses the index: each case gets a clear message and the old index answers."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from qa import Embedder, Retriever, Settings, loading, sync
from qa.errors import IndexCorruptError, IndexMismatchError, QuestionError
from qa.store import current_generation
from tests.conftest import REPO, SEED_QUESTION
from tests.test_loading import make_pdf


def encrypted_pdf(path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(0, 10, "Secret text about the attack.")
    pdf.set_encryption(owner_password="owner", user_password="secret")
    pdf.output(str(path))


def scanned_pdf(path: Path) -> None:
    """A PDF whose pages only hold drawings, like a scan without OCR."""
    pdf = FPDF()
    for _ in range(2):
        pdf.add_page()
        pdf.rect(20, 20, 100, 60, style="F")
    pdf.output(str(path))


BAD_FILES = {
    "corrupt.pdf": (lambda p: p.write_bytes(b"%PDF-1.7\n1 0 obj <<>> garbage"), "not a readable PDF"),
    "truncated.pdf": (lambda p: p.write_bytes(make_pdf(p, ["Some text."]).read_bytes()[:200]), "not a readable PDF"),
    "encrypted.pdf": (encrypted_pdf, "encrypted PDF"),
    "scanned.pdf": (scanned_pdf, "no text layer"),
    "corrupt.docx": (lambda p: p.write_bytes(b"PK\x03\x04 a Word file cut short"), "not a readable Word document"),
    "empty.txt": (lambda p: p.write_bytes(b""), "file is empty"),
    "binary.txt": (lambda p: p.write_bytes(bytes(range(256)) * 64), "binary data"),
}


@pytest.fixture
def indexed(fresh_settings: Settings, embedder: Embedder) -> Settings:
    sync(fresh_settings, embedder)
    return fresh_settings


def assert_old_index_answers(settings: Settings, embedder: Embedder) -> None:
    hits = Retriever.open(settings.index_dir, embedder, settings).search(SEED_QUESTION, k=3)
    assert any("Kataeb Sayyid al-Shuhada" in hit.text for hit in hits)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_is_reported_by_name_and_the_rest_goes_on(indexed: Settings, embedder: Embedder,
                                                             name: str) -> None:
    make, reason = BAD_FILES[name]
    make(indexed.corpus_dir / name)
    (indexed.corpus_dir / "good.md").write_text("The falcon count at Duhok reached forty pairs.")
    report = sync(indexed, embedder)
    assert [doc_id for doc_id, _ in report.failed] == [name]
    assert reason in report.failed[0][1]
    assert report.added == ["good.md"] and len(report.unchanged) == 2
    assert_old_index_answers(indexed, embedder)


def test_a_file_whose_name_is_not_utf8_is_reported_and_the_rest_goes_on(indexed: Settings, embedder: Embedder) -> None:
    # A Latin-1 name from an old archive once stopped the whole build with a UnicodeEncodeError.
    Path(os.fsdecode(os.fsencode(indexed.corpus_dir) + b"/caf\xe9.txt")).write_text("The cafe in Basra closed.")
    (indexed.corpus_dir / "good.md").write_text("The falcon count at Duhok reached forty pairs.")
    report = sync(indexed, embedder)
    assert report.failed == [("caf\ufffd.txt", "its file name is not valid UTF-8; rename the file to index it")]
    assert report.added == ["good.md"]
    assert_old_index_answers(indexed, embedder)


def test_broken_and_looping_links_are_reported_by_name(indexed: Settings, embedder: Embedder) -> None:
    (indexed.corpus_dir / "moved.txt").symlink_to(indexed.corpus_dir / "nowhere.txt")
    (indexed.corpus_dir / "loop.txt").symlink_to(indexed.corpus_dir / "loop.txt")
    (indexed.corpus_dir / "good.md").write_text("The falcon count at Duhok reached forty pairs.")
    report = sync(indexed, embedder)
    assert sorted(doc_id for doc_id, _ in report.failed) == ["loop.txt", "moved.txt"]
    assert all("cannot read file" in reason for _, reason in report.failed)
    assert report.added == ["good.md"]
    assert_old_index_answers(indexed, embedder)


def test_a_file_name_with_a_line_break_is_reported_on_one_line_and_not_indexed(indexed: Settings,
                                                                               embedder: Embedder) -> None:
    """Printed, "new\nline.txt" split the build's report into a line "added: new" and a forged "line.txt"."""
    (indexed.corpus_dir / "added: forged\nline.txt").write_text("The harbour bridge opened in spring.")
    report = sync(indexed, embedder)
    assert report.failed == [("added: forged\\nline.txt", "its file name holds a line break; rename the file to "
                                                         "index it")]
    assert report.added == [] and all("\n" not in name for name in report.unchanged)
    assert_old_index_answers(indexed, embedder)


def test_a_50_mb_file_is_refused_without_reading_it(indexed: Settings, embedder: Embedder) -> None:
    path = indexed.corpus_dir / "enormous.txt"
    with open(path, "wb") as handle:
        handle.truncate(50_000_000)
    report = sync(indexed, embedder)
    assert report.failed == [("enormous.txt", "file is 50.0 MB, over the 20 MB limit; split it")]
    assert_old_index_answers(indexed, embedder)


@pytest.mark.parametrize(("encoding", "bom"), [("latin-1", b""), ("utf-16-le", codecs.BOM_UTF16_LE),
                                               ("utf-16-be", codecs.BOM_UTF16_BE)])
def test_text_in_latin1_or_utf16_is_indexed_and_searchable(indexed: Settings, embedder: Embedder,
                                                           encoding: str, bom: bytes) -> None:
    text = "Le café de Mossoul a rouvert après la libération de la ville."
    (indexed.corpus_dir / "mossoul.txt").write_bytes(bom + text.encode(encoding))
    assert sync(indexed, embedder).added == ["mossoul.txt"]
    hit = Retriever.open(indexed.index_dir, embedder, indexed).search("café Mossoul rouvert", k=1)[0]
    assert hit.text == text


def test_a_file_removed_during_the_build_is_reported_and_the_build_completes(indexed: Settings,
                                                                             embedder: Embedder) -> None:
    vanishing = indexed.corpus_dir / "vanishing.md"
    vanishing.write_text("This note will disappear before it is read.")
    (indexed.corpus_dir / "stays.md").write_text("This note stays in the corpus.")

    def remove_when_reading(message: str) -> None:
        if message.startswith("Reading"):
            vanishing.unlink()

    report = sync(indexed, embedder, stage=remove_when_reading)
    assert report.failed == [("vanishing.md", "file disappeared before it could be read")]
    assert report.added == ["stays.md"]
    assert_old_index_answers(indexed, embedder)


def test_html_with_scripts_and_inline_markup_is_stored_as_plain_text(indexed: Settings, embedder: Embedder) -> None:
    (indexed.corpus_dir / "page.html").write_text(
        "<html><head><title>Markup test</title><script>alert('x')</script></head><body>"
        "<p>The <b>ministry</b> said &lt;script&gt; tags are harmless here.</p>"
        "<style>p {color: red}</style><p>Second paragraph.</p></body></html>"
    )
    (indexed.corpus_dir / "inline.txt").write_text("Plain text with <img src=x onerror=alert(1)> inside it.")
    sync(indexed, embedder)
    retriever = Retriever.open(indexed.index_dir, embedder, indexed)
    page = retriever.document("page.html")
    assert "alert" not in page.text and "color: red" not in page.text
    assert "The ministry said <script> tags are harmless here." in page.text
    assert "<img src=x onerror=alert(1)>" in retriever.document("inline.txt").text


@pytest.mark.parametrize("question", ["", "x" * 10_000])
def test_bad_questions_get_a_clear_message_and_the_index_still_answers(indexed: Settings, embedder: Embedder,
                                                                       question: str) -> None:
    retriever = Retriever.open(indexed.index_dir, embedder, indexed)
    with pytest.raises(QuestionError, match="question is empty|10,000 characters"):
        retriever.ask(question)
    assert_old_index_answers(indexed, embedder)


def test_an_index_from_another_model_is_refused_then_rebuilt(indexed: Settings, embedder: Embedder) -> None:
    manifest = current_generation(indexed.index_dir) / "manifest.json"
    manifest.write_text(manifest.read_text().replace("sentence-transformers/all-MiniLM-L6-v2", "other/model"))
    with pytest.raises(IndexMismatchError, match="other/model"):
        Retriever.open(indexed.index_dir, embedder, indexed)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        sync(indexed, embedder)
    assert sync(indexed, embedder, rebuild=True).rebuilt
    assert_old_index_answers(indexed, embedder)


def test_a_damaged_manifest_is_refused_then_rebuilt(indexed: Settings, embedder: Embedder) -> None:
    (current_generation(indexed.index_dir) / "manifest.json").write_text("{\"model\": ")
    with pytest.raises(IndexCorruptError, match="manifest"):
        Retriever.open(indexed.index_dir, embedder, indexed)
    assert sync(indexed, embedder).rebuilt
    assert_old_index_answers(indexed, embedder)


def test_a_pipe_or_a_device_in_the_corpus_is_reported_not_read_for_ever(indexed: Settings, tmp_path: Path) -> None:
    """A named pipe blocked the build at open(), /dev/zero was read for ever, and the build lock stayed held; `add`
    of a folder holding a pipe hung after copying the files before it."""
    os.mkfifo(indexed.corpus_dir / "pipe.txt")
    (indexed.corpus_dir / "zero.txt").symlink_to("/dev/zero")
    args = ["--corpus", str(indexed.corpus_dir), "--index", str(indexed.index_dir)]
    build = subprocess.run([sys.executable, "-m", "qa", "build", *args], capture_output=True, text=True, timeout=300,
                           cwd=REPO)
    assert build.returncode == 0, build.stderr
    for name in ("pipe.txt", "zero.txt"):
        assert f"failed: {name}: not a regular file" in build.stderr
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "good.txt").write_text("The falcons of Duhok returned in spring.")
    os.mkfifo(inbox / "pipe.md")
    add = subprocess.run([sys.executable, "-m", "qa", "add", str(inbox), *args], capture_output=True, text=True,
                         timeout=300, cwd=REPO)
    assert add.returncode == 1 and "pipe.md is not a regular file" in add.stderr
    assert not (indexed.corpus_dir / "good.txt").exists(), "nothing is copied when one path is refused"


def test_a_word_file_that_unpacks_past_the_limit_is_refused_before_it_is_parsed(
    indexed: Settings, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1.5 MB .docx unpacking to 1.5 GB took 2.3 GB of memory (twice that without the probe's cap) to refuse."""
    monkeypatch.setattr(loading, "MAX_UNPACKED_BYTES", 5_000_000)  # the real limit is 200 MB: the same check
    document = docx.Document()
    document.add_paragraph("The harbour reopened. " + "padding " * 1_000_000)  # 9 MB unpacked, a small zip
    document.save(indexed.corpus_dir / "bomb.docx")
    assert (indexed.corpus_dir / "bomb.docx").stat().st_size < 1_000_000
    report = sync(indexed, embedder)
    assert "unpacks to 9 MB, over the 5 MB limit" in dict(report.failed)["bomb.docx"]
    assert_old_index_answers(indexed, embedder)


def test_a_run_without_spaces_is_cut_into_passages_of_bounded_length(indexed: Settings, embedder: Embedder) -> None:
    """The tokenizer reads a word over 100 characters as one word piece, so a 19 MB run without spaces (a base64
    attachment saved as text) became one passage: 95 MB of JSON per answer, a page that took 50 s to draw."""
    (indexed.corpus_dir / "attachment.txt").write_text("Report attached. " + "QUJDRA" * 50_000)
    sync(indexed, embedder)
    retriever = Retriever.open(indexed.index_dir, embedder, indexed)
    rows = [row for row in retriever.documents() if row.doc_id == "attachment.txt"]
    assert rows and rows[0].chunks >= 100
    hits = [hit for hit in retriever.search("Report attached", k=100) if hit.doc_id == "attachment.txt"]
    assert len(hits) >= 50 and max(len(hit.text) for hit in hits) <= 3000
