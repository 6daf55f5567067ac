"""Text as a foreign desk gets it: accents stored decomposed, invisible break characters, full-width digits,
Arabic in a legacy encoding, sentences opening with É or in Arabic, German quotes, publishers typed loosely."""

from __future__ import annotations

import unicodedata
from pathlib import Path

from qa import Embedder, Hit, Retriever, Settings, sync
from qa.corpus import matches, safe_name
from qa.export import byline_html, highlight_html, source_details_html
from qa.loading import load_document
from qa.notices import sync_notices
from qa.storage import Filters
from qa.text import balance_quotes, split_sentences

MEETING = ("---\ntitle: Négociations à Bagdad\npublisher: L’Orient-Le Jour\ndate: 2021-11-10\n---\n"
           "Le chef de l'Organisation Badr, Hādī al-ʿĀmirī, a rencontré le Premier ministre mardi soir. "
           "Hādī al-ʿĀmirī a rencontré Mustafa al-Kadhimi pour apaiser la crise après l'attaque de drone.\n")
ARABIC = "قال مسؤول عراقي إن الهجوم بطائرة مسيرة على منزل رئيس الوزراء مصطفى الكاظمي نفذته جماعة مسلحة موالية لإيران."


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def test_a_name_typed_composed_finds_text_stored_decomposed(tmp_path: Path, embedder: Embedder) -> None:
    """A Mac file keeps "ā" as "a" + a combining macron; the question typed on a keyboard was declined (every
    sentence scored 0: the question's names were not found in the passage) and BM25 found nothing."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "olj.md").write_text(nfd(MEETING), encoding="utf-8")
    (corpus / "shy.txt").write_text("Officials said the drone attack on Kad\u00adhimi's house was condemned by "
                                    "the Arab League. The vote won only １７ seats.\n", encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=index)
    sync(settings, embedder)
    retriever = Retriever.open(index, embedder, settings)

    for typed in ("Whom did Hādī al-ʿĀmirī meet?", "Whom did Hadi al-Amiri meet?"):  # the plain one scored 0
        answer = retriever.ask(typed)
        assert answer.confident and "Kadhimi" in answer.text, typed
    assert retriever.search("rencontré mardi", k=1, mode="bm25")[0].doc_id == "olj.md"
    assert retriever.search("Kadhimi Arab League", k=1, mode="bm25")[0].doc_id == "shy.txt"
    assert "17 seats" in retriever.document("shy.txt").text
    assert retriever.document("olj.md").title == "Négociations à Bagdad"
    assert matches("négociations", retriever.document("olj.md").title)


def test_a_source_filter_takes_the_name_as_typed(tmp_path: Path, embedder: Embedder) -> None:
    """`--source "L'Orient-Le Jour"` (a straight apostrophe) and `--source reuters` matched nothing."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "olj.md").write_text(MEETING, encoding="utf-8")
    (corpus / "reuters.md").write_text("---\ntitle: Drone attack\npublisher: Reuters\n---\nA drone struck the "
                                       "house of Mustafa al-Kadhimi in Baghdad, officials said.\n", encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=index)
    sync(settings, embedder)
    retriever = Retriever.open(index, embedder, settings)
    for typed, doc_id in (("L'Orient-Le Jour", "olj.md"), ("reuters", "reuters.md"), ("REUTERS ", "reuters.md")):
        hits = retriever.search("Kadhimi", k=5, filters=Filters(sources=(typed,)))
        assert hits and {hit.doc_id for hit in hits} == {doc_id}


def test_arabic_in_windows_1256_is_read_as_arabic_and_said_to_be_a_guess(tmp_path: Path, embedder: Embedder) -> None:
    """It was read as Windows-1252 ("ÇáßÇÙãí"), indexed, and never found; the page said only "1 added"."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "alsumaria.txt").write_bytes(ARABIC.encode("cp1256"))
    (corpus / "lemonde.txt").write_bytes("Le Premier ministre a été visé par une attaque, a déclaré l'armée. "
                                         "Ça n'a pas fait de victimes.".encode("cp1252"))
    assert load_document(corpus / "alsumaria.txt").text == ARABIC
    assert load_document(corpus / "lemonde.txt").text.startswith("Le Premier ministre a été visé")

    report = sync(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder)

    assert dict(report.warned)["alsumaria.txt"].startswith("not UTF-8; read as cp1256")
    warnings = [notice.message for notice in sync_notices(report, uploaded=["alsumaria.txt"])
                if notice.kind == "warning"]
    assert any("alsumaria.txt" in message and "cp1256" in message for message in warnings)


def test_a_date_the_reader_cannot_read_is_told_to_whoever_added_the_file(tmp_path: Path, embedder: Embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "lefigaro.md").write_text("---\ntitle: Attaque\ndate: le lendemain\n---\nUn drone a frappé.\n")
    report = sync(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"), embedder)
    assert report.added == ["lefigaro.md"] and "left undated" in dict(report.warned)["lefigaro.md"]


def test_sentences_open_with_any_capital_or_in_a_script_without_case() -> None:
    german = "Kasimi schrieb auf Twitter. Öffentlich bekannte sich niemand. Égal, sagte er."
    assert [german[s:e] for s, e in split_sentences(german)] == [
        "Kasimi schrieb auf Twitter.", "Öffentlich bekannte sich niemand.", "Égal, sagte er."]
    arabic = f"{ARABIC} وقال المتحدث إن التحقيق مستمر. هل كان الهجوم تحذيرا؟ لا أحد يعرف."
    assert len(split_sentences(arabic)) == 4
    assert len(split_sentences("He met Gen. Smith at the U.S. embassy in Baghdad. then left.")) == 1


def test_german_and_french_quotes_are_balanced_with_their_own_marks() -> None:
    assert balance_quotes("„Mir geht es gut“, schrieb Kasimi.") == "„Mir geht es gut“, schrieb Kasimi."
    assert balance_quotes("„Mir geht es gut, schrieb Kasimi.") == "„Mir geht es gut, schrieb Kasimi.“"
    assert balance_quotes("« Nous sommes prêts, a-t-il dit.") == "« Nous sommes prêts, a-t-il dit.»"
    assert balance_quotes("“Both possibilities exist.") == "“Both possibilities exist.”"


def test_a_file_name_in_decomposed_form_keeps_its_letters() -> None:
    """`qa add` copied "Télérama.md" saved decomposed as "Te-le-rama.md", the name citations then showed."""
    assert safe_name(nfd("Télérama — revue de presse.md")) == "Télérama-revue-de-presse.md"


def test_arabic_fields_keep_their_own_direction_beside_a_date() -> None:
    """The byline of an Arabic source read "— 10-11-2021 ,شفق نيوز ,title": the bidirectional algorithm ran the
    date into the Arabic publisher. Each field is isolated, and text blocks take the direction of their text."""
    hit = Hit(rank=1, score=1.0, text=ARABIC, chunk_id=1, doc_id="shafaq.html", title="الكاظمي ينجو",
              publisher="شفق نيوز", author="", date="2021-11-10", path="", page=None, start=0, end=len(ARABIC))
    assert byline_html(hit) == "<b><bdi>الكاظمي ينجو</bdi></b>, <bdi>شفق نيوز</bdi>, <bdi>2021-11-10</bdi>"
    assert source_details_html(hit) == "<bdi>شفق نيوز</bdi>, <bdi>2021-11-10</bdi>"
    assert highlight_html(ARABIC, 0, 5).startswith('<div class="qa-text" dir="auto">')


def test_dates_typed_in_full_width_digits_filter_as_front_matter_reads_them(tmp_path: Path, embedder: Embedder) -> None:
    """Front matter read "２０２１-１１-１０", while --since and since= refused it."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "olj.md").write_text(MEETING, encoding="utf-8")
    settings = Settings(corpus_dir=corpus, index_dir=index)
    sync(settings, embedder)
    retriever = Retriever.open(index, embedder, settings)
    assert retriever.search("Kadhimi", k=1, filters=Filters(since="２０２１-１１-１０"))[0].doc_id == "olj.md"
    assert retriever.search("Kadhimi", k=1, filters=Filters(since="２０２１-１１-１１")) == []
