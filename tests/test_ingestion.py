"""What a reporter's folder holds, built and searched for real: a saved news page, a Word document and a text
file with a `url:` keep their sources and original addresses through the index to the hits and the CLI."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from qa import Embedder, Retriever, Settings, sync
from qa.cli import main
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
