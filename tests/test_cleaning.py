"""Boilerplate from scraped pages never reaches the index; the article's sentences do."""

from __future__ import annotations

from qa.cleaning import clean_text
from qa.loading import load_document
from tests.conftest import REPO

MEE = REPO / "corpus" / "middleeasteye-2021-11-28-betrayed-by-iran.txt"


def test_scraped_navigation_signups_teasers_and_captions_are_removed() -> None:
    text = load_document(MEE).text
    for boilerplate in ("Skip to main content", "Stay informed with MEE's newsletters", "Sign up to get the latest",
                        "Read More", "Attack of the drones: The true power", "(Reuters)", "(AFP)",
                        "By Suadad al-Salhy", "delivers independent and unrivalled coverage"):
        assert boilerplate not in text, boilerplate


def test_pull_quote_is_dropped_but_the_sentence_stays_once() -> None:
    text = load_document(MEE).text
    assert text.count("Kataeb Sayyid al-Shuhada is the key suspect in the attempt to assassinate Kadhimi") == 1
    assert "- Senior Iraqi official" not in text


def test_ordinary_paragraphs_are_kept_as_they_are() -> None:
    text = "First paragraph, with a comma.\n\n\nSecond one (with brackets) ends here."
    assert clean_text(text) == "First paragraph, with a comma.\n\nSecond one (with brackets) ends here."


def test_caption_repeated_twice_is_removed_entirely() -> None:
    caption = "A destroyed vehicle is parked in front of the residence in Baghdad (Reuters)"
    cleaned = clean_text(f"Body text of the article.\n{caption}\n{caption}\nMore body text.")
    assert "destroyed vehicle" not in cleaned
    assert cleaned == "Body text of the article.\n\nMore body text."


def test_headings_that_look_like_dates_or_bylines_are_kept() -> None:
    """"Appendix 1", "Chapter 3" or "Table 4" alone on a line were taken for a date, and "By country" for a by-line,
    and dropped; dates and by-lines still go."""
    kept = ["Appendix 1", "Chapter 3", "Table 4", "Goal 16", "By country", "By the time the convoy arrived, it was dark."]
    dropped = ["November 7, 2021", "Nov. 7, 2021", "By Suadad al-Salhy", "By Lizzie Dearden and Tom Smith",
               "BY JOHN SMITH"]
    assert clean_text("\n".join(kept + dropped)).split("\n\n") == kept
