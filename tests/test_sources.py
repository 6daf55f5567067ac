"""qa.sources: one line per document, its best answering sentence, from the ratings the answer was chosen from."""

from __future__ import annotations

from pathlib import Path

from qa import Answer, Embedder, Hit, Retriever, Settings, sync
from qa.answer import NO_ANSWER_THRESHOLD, Candidate, logit
from qa.export import answers_markdown, escape_markdown, source_line_html
from qa.sources import SourceLine, compare_sources
from tests.conftest import add_syndicated_copy

SEED_QUESTION = "who was suspected of the Kadhimi attack"


def make_hit(rank: int, doc_id: str, text: str) -> Hit:
    return Hit(rank=rank, score=1.0 / rank, text=text, chunk_id=rank, doc_id=doc_id, title=doc_id.title(),
               publisher=f"{doc_id} news", author="", date="2021-11-20", path=doc_id, page=None, start=0,
               end=len(text))


def rated(hit: int, span: tuple[int, int], probability: float) -> Candidate:
    """A candidate chosen by its probability alone (no lead, no passage gap, no kind asked for)."""
    return Candidate(hit, span, probability, (logit(probability), 0.0, 0.0, 0.0, 0.0))


def test_each_document_gets_its_best_sentence_in_rank_order() -> None:
    hits = [make_hit(1, "eye", "Drones struck. \"Kataeb is the key suspect."),
            make_hit(2, "persia", "Iran denied it. Militias were blamed."),
            make_hit(3, "eye", "Another passage of the same report names Kataeb.")]
    candidates = [rated(0, (0, 14), 0.2), rated(0, (15, 43), 0.9), rated(1, (0, 15), 0.05),
                  rated(1, (16, 37), 0.6), rated(2, (0, 49), 0.95)]
    lines = compare_sources("who was blamed", hits, candidates)
    assert [line.hit.doc_id for line in lines] == ["eye", "persia"]
    assert lines[0].hit.rank == 3 and lines[0].sentence.startswith("Another passage")  # best of the document
    assert lines[1].sentence == "Militias were blamed." and lines[1].hit.answer.score == 0.6
    assert not any(line.weak for line in lines)


def test_a_document_below_the_no_answer_threshold_is_weak_and_quotes_are_balanced() -> None:
    hits = [make_hit(1, "eye", '"Kataeb is the key suspect.')]
    weak, = compare_sources("who is the suspect", hits, [rated(0, (0, 27), NO_ANSWER_THRESHOLD / 2)])
    assert weak.weak and weak.sentence == '"Kataeb is the key suspect."'


def test_the_answers_own_document_is_never_said_to_state_no_answer() -> None:
    """The choice can present a sentence whose own rating is low while another document's sentence is what makes
    the answer confident; its line then carries the answer's confidence, as the answer box does, instead of
    calling the answer "comes close, states no answer" right under it."""
    hits = [make_hit(1, "eye", "He blamed the Kataeb militia."), make_hit(2, "persia", "Militias were blamed.")]
    chosen = Candidate(0, (0, 29), 0.05, (logit(0.05), 0.0, 0.0, 1.0, 1.0))  # the kind asked for, points back
    other = Candidate(1, (0, 21), 0.2, (logit(0.2), 0.0, -2.0, 0.0, 0.0))  # a passage ranked far lower
    lines = compare_sources("who was blamed", hits, [chosen, other])
    assert lines[0].hit.doc_id == "eye" and lines[0].hit.answer.score == 0.2 and not lines[0].weak
    assert lines[1].hit.answer.score == 0.2


def test_a_sentence_without_the_figure_asked_for_does_not_answer() -> None:
    hits = [make_hit(1, "eye", "Drones attacked the house. Three drones were launched.")]
    line, = compare_sources("how many drones were launched", hits, [rated(0, (0, 26), 0.99), rated(0, (27, 54), 0.5)])
    assert line.sentence == "Three drones were launched." and not line.weak


def test_a_line_survives_a_round_trip_through_json() -> None:
    line, = compare_sources("who", [make_hit(1, "eye", "Kataeb did.")], [rated(0, (0, 11), 0.7)])
    assert SourceLine.from_dict(line.to_dict()) == line
    saved_before_also = {key: value for key, value in line.to_dict().items() if key != "also"}
    assert SourceLine.from_dict(saved_before_also) == line


def test_one_sentence_in_two_documents_is_one_source_repeated_not_two_that_agree() -> None:
    """Wire copy, or one story filed under two headlines, states the same sentence word for word: shown as one
    line naming both, it is not mistaken for corroboration."""
    hits = [make_hit(1, "wire", "Sales rose 5% in March."), make_hit(2, "copy", "Sales  rose 5% in March."),
            make_hit(3, "rival", "Sales rose 3% in March.")]
    candidates = [rated(0, (0, 23), 0.9), rated(1, (0, 24), 0.8), rated(2, (0, 23), 0.7)]
    lines = compare_sources("how much did sales rise", hits, candidates)
    assert [(line.hit.doc_id, [hit.doc_id for hit in line.also]) for line in lines] == [("wire", ["copy"]),
                                                                                       ("rival", [])]
    assert "also in <b><bdi>Copy</bdi></b>, <bdi>copy news</bdi>" in source_line_html(lines[0])


def test_the_real_answer_and_its_sources_come_from_one_rating(seed_retriever: Retriever) -> None:
    answer, candidates = seed_retriever.ask_rated(SEED_QUESTION, k=10)
    lines = compare_sources(SEED_QUESTION, answer.hits, candidates)
    assert len(lines) == len({hit.doc_id for hit in answer.hits}) == 2
    assert {line.hit.publisher for line in lines} == {"Middle East Eye", "Track Persia"}
    best = next(line for line in lines if line.hit.doc_id == answer.best.doc_id)
    assert best.sentence == answer.text and not best.weak


def test_a_story_two_outlets_filed_is_one_passage_naming_both(fresh_settings: Settings, embedder: Embedder) -> None:
    """The Middle East Eye report saved again as another outlet's copy (other header, same body): the answer's
    passages show its text once, naming the copy's document, and what each source says names both."""
    original = add_syndicated_copy(Path(fresh_settings.corpus_dir))
    sync(fresh_settings, embedder)
    retriever = Retriever.open(fresh_settings.index_dir, embedder, fresh_settings)
    answer, candidates = retriever.ask_rated(SEED_QUESTION, k=5)
    assert len({hit.text for hit in answer.hits}) == len(answer.hits) == 5
    copied = [hit for hit in answer.hits if hit.copies]
    assert copied and all({hit.doc_id, *(c.doc_id for c in hit.copies)} == {original.name, "syndicated.txt"}
                          for hit in copied)
    exported = answers_markdown([answer])
    assert all(f"The same text also in *{escape_markdown(copy.title)}*" in exported
               for hit in copied for copy in hit.copies)
    assert Answer.from_dict(answer.to_dict()) == answer
    shown = [copy for hit in answer.to_dict()["hits"] for copy in hit["copies"]]
    assert shown and all("answer_text" in copy and copy["rank"] in {h.rank for h in copied} for copy in shown)
    lines = compare_sources(SEED_QUESTION, answer.hits, candidates)
    assert {line.hit.doc_id for line in lines}.isdisjoint({c.doc_id for line in lines for c in line.also})
    named = {line.hit.doc_id for line in lines} | {c.doc_id for line in lines for c in line.also}
    assert {original.name, "syndicated.txt"} <= named
