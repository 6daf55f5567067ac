"""Text analysis shared by chunking, BM25 and answers: quotation marks balanced in a quoted sentence, and the kind
of answer a question asks for, checked in a sentence."""

from __future__ import annotations

import pytest

from qa.text import (answer_type, balance_quotes, holds_type, named_share, question_names, refers_back,
                     split_sentences, withdrawn)


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


@pytest.mark.parametrize(("question", "kind"), [
    ("When did the attack happen?", "date"),
    ("On what date does the festival open?", "date"),
    ("What did Blair say he wanted when he announced the rise?", ""),  # "when" inside the question: no date asked
    ("How many drones were there?", "count"),
    ("How large was the trade deficit?", "count"),
    ("How long is the contract?", "duration"),
    ("How many years in prison could he face?", "duration"),
    ("How much did Universal pay for the label?", "money"),
    ("How much pricier are indoor parking spaces?", "amount"),
    ("How much more than France does the UK pay?", "amount"),  # a ratio answers it: "two and a half times more"
    ("How old was Tesla when he died?", "age"),
    ("Who leads the investigation?", "name"),
    ("What kind of drone was it?", ""),
    ("What time did police confirm the fifth death?", "time"),
    ("What time did Kathy Butler record in the race?", "time"),
    ("In what time frame did the weight stay the same?", ""),
])
def test_answer_type(question: str, kind: str) -> None:
    assert answer_type(question) == kind


@pytest.mark.parametrize(("question", "sentence", "holds"), [
    ("How long is the contract?", "He signed a three-year deal.", True),
    ("How long did the project run?", "Apollo ran from 1961 to 1972.", True),
    ("How long is the contract?", "He will be unveiled at 1500 GMT on Wednesday.", False),
    ("How many years in prison could he face?", "The 10 biggest shareholders were hidden.", False),
    ("How much did Universal pay?", "It bought the 50% it did not already own.", False),
    ("How much did Universal pay?", "It paid $20m for the half.", True),
    ("How much pricier can they be?", "Indoor spaces cost up to 250% more.", True),
    ("How large was the deficit?", "It was up 30.5% at $162bn.", True),
    ("How many of the fifteen points were agreed?", "Agreement came on fourteen points.", True),
    ("How many of the fifteen points were agreed?", "Agreement came on fifteen points.", False),  # the question's own
    ("How many people did the poll survey?", "It suggests 45% of people would vote no and 24 per cent yes.", False),
    ("How many people did the poll survey?", "The poll questioned 1,943 adults and found 25% undecided.", True),
    ("How many of the respondents found it unsuitable?", "Only 3% found it unsuitable.", True),  # a part of a group
    ("How many percent voted against?", "The poll suggests 45% would vote against.", True),
    ("How high is unemployment?", "Unemployment is 5 per cent.", True),  # not "how many": a rate answers it
    ("When did it open?", "It opened on 11 June.", True),
    ("When did the drones strike?", "At 2am the drones struck.", True),  # a time of day dates an event too
    ("When will the interim report be published?", "We aim to publish a statement within four weeks.", True),
    ("When will the line reopen?", "Engineers expect it to reopen later this year.", True),
    ("When will the line reopen?", "Engineers are working on the line.", False),
    ("In which year did Genghis Khan strike the Tanguts?", "In November, Genghis laid siege to Lingzhou.", False),
    ("In which year did Genghis Khan strike the Tanguts?", "In 1226 Genghis Khan attacked the Tanguts.", True),
    ("What year did the firm float?", "It floated on the stock market last year.", True),  # news dates by the story
    ("In what century was it built?", "It was built in the 12th century.", True),
    ("How old was Tesla when he died?", "On 7 January 1943, at the age of 86, Tesla died.", True),
    ("How old is the captain?", "The captain, Joseph Mwangi, 52, was detained.", True),
    ("How old was Luther?", "Katharina was 26 years old and Luther was 41 years old.", True),
    ("How old was the boy?", "Turkana Boy, a 1.6-million-year-old fossil, was found.", True),
    ("How old was Andrea Arnold?", "Arnold, who hosted Number 73 in the 1980s, won.", False),  # no age, a year
    ("How old was the ferry?", "The death toll has risen to 31.", False),
    ("When did Kluivert score?", "Kluivert put Newcastle ahead after 31 minutes.", True),  # a match's time
    ("When did Kluivert score?", "Kluivert equalised in the 89th minute.", True),
    ("When did Kluivert score?", "Kluivert has scored 31 goals.", False),
    ("How much more than France does the UK pay?", "The UK pays two and a half times more.", True),  # a ratio
    ("How much does the UK pay?", "The UK pays two and a half times more.", False),  # a sum is asked
    ("When did the ferry capsize?", "PORT SELIM, March 19 (Reuters) - Rescuers searched the lake.", False),  # dateline
    ("When did the ferry capsize?", "PORT SELIM, March 19 - The ferry capsized on Friday.", True),
    ("What time did the blast happen?", "Ten days later the plant reopened.", False),  # a time, not a period
    ("What time did police confirm the fifth death?", "Police confirmed a fifth death at 12:30 GMT.", True),
    ("What time did Butler record?", "Butler clocked a time of 22 minutes 45 seconds.", True),  # a race's time
    ("What time did Butler record?", "Johnson will race in Edinburgh on 15 January.", False),  # a date is no time
    ("Who leads the investigation?", "Judge Ali Hassan leads it.", True),
    ("Who leads the investigation?", "It is led by a senior judge.", False),  # no name in it
])
def test_holds_type_finds_what_the_question_asks_for_and_does_not_say(question: str, sentence: str,
                                                                      holds: bool) -> None:
    assert holds_type(answer_type(question), question, sentence) is holds


@pytest.mark.parametrize(("question", "names"), [
    ("How many years could Japanese tycoon Yoshiaki Tsutsumi's firm face?", ["japanese", "yoshiaki", "tsutsumi"]),
    ("who was suspected of the Kadhimi attack", ["kadhimi"]),
    ('Who said "This budget is dead on arrival" in Aldhaven?', ["aldhaven"]),  # a quotation names no one
    ("What did I say to the BBC about Jay-Z?", ["BBC", "jay-z"]),  # an acronym stays in capitals
    ("UMC rules prohibit what kind of unions in the U.S.?", ["UMC", "U.S."]),  # wherever it stands
    ("In which city did he die?", []),
    ("WHO WAS SUSPECTED OF THE KADHIMI ATTACK", []),
    ("who won the 1998 world cup", ["1998"]),
    ("How large was America's trade deficit with China in 2004?", ["america", "china", "2004"]),
])
def test_question_names_are_its_capitalised_words_after_the_first(question: str, names: list[str]) -> None:
    assert question_names(question) == names


def test_named_share_counts_whole_words_ignoring_case() -> None:
    assert named_share(["tsutsumi", "seibu"], "Mr Tsutsumi resigned from Seibu Railway.") == 1.0
    assert named_share(["tsutsumi", "seibu"], "Mr Ebbers could face 85 years; Seibus fell.") == 0.0
    assert named_share(["kadhimi", "iraq"], "Kadhimi was unhurt.") == 0.5
    assert named_share([], "anything") == 1.0


@pytest.mark.parametrize(("acronym", "text", "stated"), [
    ("V&A", "Victoria and Albert Museum\nIts chandelier is by Dale Chihuly.", True),  # spelt out, "and" aside
    ("UMC", "The United Methodist Church prohibits the celebration of same-sex unions.", True),
    ("LSE", "Deutsche Boerse's bid for the London Stock Exchange", True),
    ("U.S.", "US troops left", True),
    ("US", "the U.S. economy", True),
    ("BBC", "the BBC said", True),
    ("BBC", "bbc-news", True),  # three letters or more in any case: a web address, a slug
    ("US", "Let us go; the United Kingdom agreed.", False),  # "us" is not the US
    ("UMC", "The Methodist church", False),
    ("NFL", "National Hockey League", False),
])
def test_an_acronym_is_stated_by_itself_or_spelt_out(acronym: str, text: str, stated: bool) -> None:
    assert (named_share([acronym], text) == 1.0) is stated


@pytest.mark.parametrize(("sentence", "points_back"), [
    ('But he said: "We will find them."', False),  # "But" first: not read as pointing back
    ("He said the prime minister was unharmed.", True),
    ("This allowed the drones to avoid the defences.", True),
    ("Its net profit was $5bn.", True),
    ("Theirs is a long story.", False),  # a word starting like one, not one
    ("Three drones were launched.", False),
    ("the deal was signed.", False),
])
def test_a_sentence_opening_with_a_word_that_points_back_is_told_apart(sentence: str, points_back: bool) -> None:
    assert refers_back(sentence) is points_back


@pytest.mark.parametrize(("sentence", "question", "is_withdrawn"), [
    ("An earlier version of this article said the train was travelling from Bristol to London.",
     "Where was the train travelling from?", True),
    ("A previous version of this story gave the wrong number of deaths.", "How many people died?", True),
    ("Correction: Our report of 2 June said the explosion happened early on Friday 2 June.",
     "When did the explosion happen?", True),
    ("Our report on the budget said little about fuel.", "What did the budget say about fuel?", False),
    ("An earlier version of this article said the train was travelling from Bristol to London.",
     "What did the correction say?", False),  # asked about the correction: it is the answer
    ("It was the 07:12 service from Oxford to Reading.", "Where was the train travelling from?", False),
    ("The earlier version of the bill was rejected.", "What happened to the bill?", False),  # not the article's
])
def test_what_an_earlier_version_of_the_article_said_is_withdrawn(sentence: str, question: str,
                                                                  is_withdrawn: bool) -> None:
    assert withdrawn(sentence, question) is is_withdrawn


def test_a_paragraph_number_opens_its_sentence() -> None:
    """A ruling's "11. The court orders..." was split into the sentence "11." (shown as an answer) and the rest."""
    text = "10. The application is opposed. 11. The court orders early disclosure. The score was 3. Then it rained."
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "10. The application is opposed.", "11. The court orders early disclosure.", "The score was 3.",
        "Then it rained."]
