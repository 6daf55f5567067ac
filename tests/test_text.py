"""Text analysis shared by chunking, BM25 and answers: here, quotation marks balanced in a quoted sentence."""

from __future__ import annotations

import pytest

from qa.text import balance_quotes


@pytest.mark.parametrize(("sentence", "shown"), [
    ('"Kataeb Sayyid al-Shuhada is the key suspect.', '"Kataeb Sayyid al-Shuhada is the key suspect."'),
    ('It was a cowardly assault," he said.', '"It was a cowardly assault," he said.'),
    ('He called it "cowardly" and left.', 'He called it "cowardly" and left.'),
    ("“We will find them.", "“We will find them.”"),
    ("They will pay.”", "“They will pay.”"),
    ("No quotation at all.", "No quotation at all."),
])
def test_a_quote_opened_or_closed_in_another_sentence_is_completed(sentence: str, shown: str) -> None:
    assert balance_quotes(sentence) == shown
