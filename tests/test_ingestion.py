"""What a reporter's folder holds, built and searched for real: a saved news page, a Word document and a text
file with a `url:` keep their sources and original addresses through the index to the hits and the CLI; and the
script that writes the bbc-news articles as such files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import docx
import pytest

from qa import Embedder, Retriever, Settings, sync
from qa.cli import main
from qa.loading import load_document
from tests.conftest import REPO
from tests.test_loading import news_page

LINKED = "https://www.example.org/news/falcons-return-to-duhok"
CANONICAL = "https://news.example.com/world/drone-attack-baghdad"


@pytest.fixture
def reporter_folder(tmp_path: Path, embedder: Embedder) -> Settings:
    """A corpus of one file of each kind a reporter has, built into a real index."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "falcons.txt").write_text(f"---\ntitle: Falcons return\npublisher: Nature Desk\nurl: {LINKED}\n---\n"
                                        "Forty pairs of falcons nested on the cliffs of Duhok this spring.\n")
    (corpus / "drone-attack.html").write_text(news_page(canonical=CANONICAL))
    memo = docx.Document()
    memo.add_heading("Harbour works", level=1)
    memo.add_paragraph("The ferry crossing to Valmora closes for repairs in March.")
    memo.core_properties.title = "Harbour works memo"
    memo.save(corpus / "harbour.docx")
    settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "index")
    report = sync(settings, embedder)
    assert sorted(report.added) == ["drone-attack.html", "falcons.txt", "harbour.docx"] and not report.failed
    return settings


def test_each_hit_carries_its_documents_original_address(reporter_folder: Settings, embedder: Embedder) -> None:
    retriever = Retriever.open(reporter_folder.index_dir, embedder, reporter_folder)
    falcons = retriever.search("falcons nesting on the Duhok cliffs", k=1)[0]
    drone = retriever.search("drone attack on the prime minister's residence", k=1)[0]
    memo = retriever.search("ferry crossing closed for repairs", k=1)[0]
    assert (falcons.doc_id, falcons.url) == ("falcons.txt", LINKED)
    assert (drone.doc_id, drone.url, drone.publisher, drone.date) == (
        "drone-attack.html", CANONICAL, "Example News", "2021-11-08")
    assert (memo.doc_id, memo.title, memo.url) == ("harbour.docx", "Harbour works memo", "")
    assert falcons.to_dict()["url"] == LINKED
    assert {row.doc_id: row.url for row in retriever.documents()}["drone-attack.html"] == CANONICAL


def test_ask_on_the_command_line_shows_the_address(reporter_folder: Settings,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--corpus", str(reporter_folder.corpus_dir), "--index", str(reporter_folder.index_dir)]
    assert main(["ask", "how many falcons nested at Duhok", "-k", "1", *args]) == 0
    assert LINKED in capsys.readouterr().out


def test_bbc_articles_become_text_files_with_front_matter(tmp_path: Path) -> None:
    """scripts/bbc_to_files.py run as a user would, on a two-line corpus.jsonl written here."""
    records = [{"_id": "business-001", "title": "Economy 'stronger than forecast'", "text": "Growth was 0.7%.\n\nMore."},
               {"_id": "tech-002", "title": "'Strong dollar' call halts slide", "text": "The dollar rose.",
                "metadata": {"category": "tech", "publisher": "BBC News"}}]
    jsonl = tmp_path / "corpus.jsonl"
    jsonl.write_text("".join(json.dumps(record) + "\n" for record in records))
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "bbc_to_files.py"), str(jsonl), str(tmp_path / "out")],
                         capture_output=True, text=True, check=True)
    assert "wrote 2 articles" in run.stdout
    docs = {path.name: load_document(path) for path in sorted((tmp_path / "out").iterdir())}
    assert list(docs) == ["business-001.txt", "tech-002.txt"]
    assert [(doc.title, doc.publisher, doc.date) for doc in docs.values()] == [
        ("Economy 'stronger than forecast'", "BBC News", ""), ("'Strong dollar' call halts slide", "BBC News", "")]
    assert docs["business-001.txt"].text == "Growth was 0.7%.\n\nMore."
