"""Text analysis shared by chunking, BM25 and answer scoring: sentences, terms, and what a question asks for.

One place, so a sentence the chunker keeps whole is the sentence the answer scoring marks, and a term BM25
matches is the term the answer scoring counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import bm25s
import Stemmer

_STEMMER = Stemmer.Stemmer("english")


# Characters that change how text matches but not how it reads: a soft hyphen or zero-width space inside a word
# ("Kad\u00adhimi"), a stray byte-order mark, the full-width forms of ASCII letters and digits ("１７ seats").
_PLAIN = (dict.fromkeys(map(ord, "\u00ad\u200b\u2060\ufeff"))
          | {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: " "})


def normal_form(text: str) -> str:
    """`text` as documents are indexed and questions asked: composed Unicode (NFC: an accent typed on a keyboard
    and one stored decomposed, as Mac files often are, are one letter), no invisible break characters, and
    full-width letters and digits as ASCII."""
    return unicodedata.normalize("NFC", text).translate(_PLAIN)


def source_key(name: str) -> str:
    """A source's name as a filter compares it: in any case, apostrophe style and spacing."""
    return " ".join(normal_form(name).casefold().replace("’", "'").replace("‘", "'").split())


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Lower-cased, stop-word-free, stemmed terms of each text."""
    return bm25s.tokenize(list(texts), stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)


# Words that say what kind of answer is wanted, not what it is about; bm25s's English stop words keep them.
# Left out of queries (SQuAD, BM25 alone, held-out questions: R@1 0.749 -> 0.770) and of the terms an answer
# sentence must contain (qa.answer). Documents are indexed with them, as written.
_WH_WORDS = "who whom whose what when where which why how"
QUESTION_WORDS = frozenset(tokenize([_WH_WORDS])[0])


def query_terms(query: str) -> list[str]:
    """The query's terms as `tokenize` makes them, without question words."""
    return [term for term in tokenize([query])[0] if term not in QUESTION_WORDS]


_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "gen", "lt", "col", "sgt", "capt", "maj", "st", "sr", "jr", "no", "mt",
    "vs", "etc", "e.g", "i.e", "u.s", "u.k", "u.n", "al", "fig", "approx", "inc", "ltd", "co", "corp",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "rev", "gov",
}
# A sentence ends at . ! ? or Arabic ؟ (plus closing quotes/brackets) followed by space and a likely sentence
# start: a character that is not lower case (a capital of any alphabet, a digit, a letter of Arabic or another
# script without case), checked in `split_sentences`.
_SENTENCE_END = re.compile(r"[.!?؟]+[\"'”’“»)\]]*(?=\s+[\"'“‘„«(\[]?(\w))")
_WORD_BEFORE = re.compile(r"([\w.]+)\.$")
_PARAGRAPH_NUMBER = re.compile(r"\d{1,3}\.")  # "11. The court finds...": the number opens the sentence after it


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Character spans of the sentences in `text[start:end]`; line breaks always end a sentence."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text[start:end]):
        line_start = start + line.start()
        sentence_start = line_start
        for match in _SENTENCE_END.finditer(line.group()):
            boundary = line_start + match.end()
            said = text[sentence_start:boundary]
            if match.group(1).islower() or _is_abbreviation(said) or _PARAGRAPH_NUMBER.fullmatch(said.strip()):
                continue
            spans.append((sentence_start, boundary))
            sentence_start = boundary
        spans.append((sentence_start, line_start + len(line.group())))
    return [trimmed for span in spans if (trimmed := _trim(text, *span))]


def _is_abbreviation(sentence: str) -> bool:
    """True when the final period belongs to an abbreviation or an initial ("Gen.", "U.S.", "J.")."""
    match = _WORD_BEFORE.search(sentence.rstrip("\"'”’)]"))
    if not match:
        return False
    word = match.group(1).lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None


_YEAR_DIGITS = r"(?:1[0-9]{3}|20[0-9]{2})"
_DATE = re.compile(
    rf"\b{_YEAR_DIGITS}s?\b|\b(january|february|march|april|may|june|july|august|september|october|"
    r"november|december|century|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)
_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|(?:thir|four|fif|six|seven|eigh|"
                 r"nine)teen|(?:twen|thir|for|fif|six|seven|eigh|nine)ty|hundreds?|thousands?|millions?|billions?|"
                 r"dozens?|several|twice|half|double|triple")
_NUMBER = re.compile(rf"\b\d[\d,.½¼¾]*(?:bn|m|k|st|nd|rd|th|s)?\b|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE)
_UNITS = (r"years?|months?|weeks?|days?|hours?|minutes?|seconds?|decades?|seasons?|centuries|century|"
          r"feet|foot|ft|miles?|metres?|meters?|m|km|kilometres?|kilometers?|inches|yards?")
_DURATION = re.compile(  # "two-year", "16 days", "since 1951", "1961 to 1972", "until the age of 16"
    rf"\b(?:\d[\d,.]*|a|an|{_NUMBER_WORDS}|few)[- ](?:{_UNITS})\b|\b(?:decades|centuries)\b"
    rf"|\b(?:since|from|until|till|between)\s+(?:\w+\s+){{0,2}}?{_YEAR_DIGITS}\b"
    rf"|\b{_YEAR_DIGITS}\s*(?:to|-|–|until)\s*{_YEAR_DIGITS}\b"
    r"|\b(?:age|aged) (?:of )?\d+|\b(?:for|after|within) (?:several |many |a few )?(?:years|months|weeks|days|hours)\b",
    re.IGNORECASE,
)
# "45%", "24 per cent": a share of something, which does not say how many there are
_SHARE = re.compile(r"\s?(?:%|per ?cent\b|percent\b|percentage points?\b)", re.IGNORECASE)
_ABOUT_SHARE = re.compile(r"%|\bper ?cent|\bpercent|\bproportion\b|\bshare\b|\brate\b", re.IGNORECASE)
# "how many people did YouGov survey" asks for a count; "how many of the respondents..." may be answered by a share
_HOW_MANY = re.compile(r"\bhow many\b(?! of\b)", re.IGNORECASE)
_MONEY = re.compile(r"[£$€¥]\s?\d|\b\d[\d,.]*\s?(?:pounds|dollars|euros|yen|pence|cents|francs|rupees|yuan|p)\b"
                    r"|\b(?:pounds|dollars|euros)\b", re.IGNORECASE)
_ABOUT_MONEY = re.compile(r"\b(pay|paid|pays|cost|costs|worth|price|spend|spent|spending|raise|raised|earn|earned|"
                          r"earns|fee|fees|budget|compensation|money|damages|fine|fined|salary|fund|funding|donate|"
                          r"donated|sell for|sold for|bid|prize)\b", re.IGNORECASE)
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+")  # a name's word, for "who" answers (holds_type)
_RELATIVE_TIME = re.compile(  # "within four weeks", "in two years", "next month", "later this year", "by 2007";
    # and a match's time, "after 31 minutes", "in the 89th minute", "in injury time"
    rf"\b(?:within|in|after) (?:the next |the coming |the first |the last )?(?:\d+|a|an|a few|several|{_NUMBER_WORDS}) "
    r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?)\b|\b\d{1,3}(?:st|nd|rd|th) minute\b|"
    r"\b(?:half-time|half time|injury time|stoppage time|extra time)\b|\b(?:next|last|this|later this|earlier this) "
    r"(?:week|month|year|spring|summer|autumn|winter|season)\b|\b(?:yesterday|tomorrow|tonight)\b",
    re.IGNORECASE)
_AGE = re.compile(  # "at age 39", "at the age of 35", "turned 39", "26 years old", "Joseph Mwangi, 52,", "was 26",
    # "a 1.6-million-year-old fossil", "4.6 billion years", "built in 1985"
    r"\b(?:aged?|age of|turned|turns|turning)\s+\d|\b\d[\d.,]*(?:[- ](?:million|billion))?[- ]years?(?:[- ]old\b|\b)"
    r"|\b(?:was|is|were|are|be|been)\s+\d{1,3}\b(?![\d,.%]|\s?(?:per|million|bn|m\b))|,\s*\d{1,3}\s*,|\(\d{1,3}\)"
    r"|\b(?:built|founded|established|launched|made) in \d{4}\b|\bin (?:his|her|their) (?:teens|\w+ties)\b",
    re.IGNORECASE)
# "which year" asks for a year, which a month or a weekday ("In November, ...") does not give; a story's "last year" does
_ASKS_YEAR = re.compile(r"\b(?:what|which) (?:year|decade|century)\b", re.IGNORECASE)
_YEARS = re.compile(rf"\b{_YEAR_DIGITS}s?\b|\bcentury\b|\b(?:next|last|this|later this|earlier this) year\b",
                    re.IGNORECASE)
_TIME_TAKEN = re.compile(r"\b\d[\d.,]*\s?(?:hours?|hrs?|minutes?|mins?|seconds?|secs?)\b", re.IGNORECASE)
# "LONDON, 3 March (Reuters) -": a story's dateline dates the report, not what a "when" question asks about
_DATELINE = re.compile(r"^[A-Z][A-Z .'’-]+,\s+(?:[A-Z][a-z]+\.? \d{1,2}|\d{1,2} [A-Z][a-z]+)(?:,? \d{4})?\s*"
                       r"(?:\([^)]*\)\s*)?[-–—]+\s*")
_CLOCK = re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s?(?:am|pm|a\.m\.|p\.m\.)|\b(?:noon|midnight|GMT|BST|UTC)\b",
                    re.IGNORECASE)  # "10:42 GMT", "2am", "at noon"
# The kinds of answer a sentence cannot give without stating one: a figure, a sum of money, a length of time, a date,
# a time (of day, or a race's), an age.
MEASURES = ("date", "duration", "money", "amount", "count", "time", "age")


def answer_type(question: str) -> str:
    """The kind of answer the question's wording asks for: one of MEASURES, "name", or "" (anything else).

    "what time" asks for a time of day or a time taken (a race's), "how long" for a duration, "how much" for money
    when it is about paying or costs (else, and for "how much more", any amount),
    "how old" for an age, "how many" and "how big" for a count; "when" asks for a date only where it opens the question ("When did...",
    not "...say when he announced...").
    """
    text = question.lower()
    if re.search(r"\bwhat time\b(?! ?(?:frame|period|span|scale))", text):
        return "time"
    if re.search(r"\bhow long\b|\bhow many (years|months|weeks|days|hours|minutes|seconds|decades|seasons)\b", text):
        return "duration"
    if re.match(r"\s*(?:(?:since|until|till|from) )?when\b", text) or re.search(
            r"\b(what|which) (year|century|date|day|month|decade)\b", text):
        return "date"
    if re.search(r"\bhow much (?:more|less|higher|lower|bigger|smaller|larger|cheaper|dearer|pricier)\b", text):
        return "amount"  # "how much more than France does the UK pay": "two and a half times more" answers it
    if re.search(r"\bhow much\b", text):
        return "money" if _ABOUT_MONEY.search(text) else "amount"
    if re.search(r"\bhow old\b", text):
        return "age"
    if re.search(r"\bhow (many|large|big|tall|high)\b|\bwhat (percentage|percent|number|amount)\b", text):
        return "count"
    if re.search(r"\bwho(m|se)?\b", text):
        return "name"
    return ""


def holds_type(kind: str, question: str, sentence: str) -> bool:
    """Does the sentence hold something of `kind` (`answer_type`) that the question does not already say? For a
    date asked as "which year", "what decade" or "what century", a year or century (`_YEARS`).

    A share ("45% of people") does not say how many: it counts for "how many of the respondents..." and for a
    question about a percentage or a rate, not for "how many people did the poll survey".
    """
    if kind == "date":
        said = _DATELINE.sub("", sentence)
        if _ASKS_YEAR.search(question):
            return bool(_YEARS.search(said))
        return bool(_DATE.search(said) or _CLOCK.search(said) or _RELATIVE_TIME.search(said))
    if kind == "time":
        return bool(_CLOCK.search(sentence) or _TIME_TAKEN.search(sentence))
    if kind == "name":
        asked = set(question.split())
        return any(match.group(0) not in asked for match in _CAPITALISED.finditer(sentence[1:]))
    pattern = {"duration": _DURATION, "money": _MONEY, "amount": _NUMBER, "count": _NUMBER, "age": _AGE}.get(kind)
    if pattern is None:
        return False
    asked = {match.group(0).lower() for match in pattern.finditer(question)}
    counting = kind == "count" and _HOW_MANY.search(question) and not _ABOUT_SHARE.search(question)
    return any(match.group(0).lower() not in asked and not (counting and _SHARE.match(sentence, match.end()))
               for match in pattern.finditer(sentence))


_EARLIER_VERSION = re.compile(r"\b(?:an?|the) (?:earlier|previous|original) version of this (?:article|story|report|"
                              r"page|piece)\b|\bour (?:earlier |previous )?(?:report|article|story) (?:of|on|from|dated) "
                              r"[^.;:]{0,20}?\d[^.;:]{0,20}? (?:said|stated|reported|gave|named|attributed)\b",
                              re.IGNORECASE)  # "our report of 2 June said": a dated report, not "our report on..."
_ABOUT_CORRECTIONS = re.compile(r"\b(?:correct(?:ion|ions|ed)?|earlier version|previous version|amended|retract\w*|"
                                r"originally)\b", re.IGNORECASE)


def withdrawn(sentence: str, question: str) -> bool:
    """Does the sentence tell what an earlier version of its article said ("An earlier version of this article
    said the train left Bristol", "Our report of 2 June said..."), a claim its publisher withdrew, for a question
    not asking about corrections?"""
    return bool(_EARLIER_VERSION.search(sentence)) and not _ABOUT_CORRECTIONS.search(question)


_REFERRING = re.compile(r"(?:He|She|It|They|This|These|That|Its|His|Her|Their)\b")


def refers_back(sentence: str) -> bool:
    """Does the sentence open with a word that points to what the sentence before said ("He said...", "This
    allowed...")? Such a sentence often answers a question restated by the one before it."""
    return bool(_REFERRING.match(sentence))


_NAME = re.compile(r"(?P<acronym>\b[A-Z](?:[&.]?[A-Z])+\b\.?)|\b[^\W\d_][\w-]*")
_YEAR = re.compile(r"\b(?:1[89]|20)\d\d\b")
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|«[^»]*»|„[^“”]*[“”]")
_NOT_NAMES = frozenset(_WH_WORDS.split()) | {"i", "a", "an", "the"}
# the small words an acronym's letters skip: "V&A" is the Victoria and Albert Museum
_ACRONYM_GAP = r"(?:[\s-]+(?:and|of|the|for|on|in|&)(?=[\s-]))*[\s-]+"


def question_names(question: str) -> list[str]:
    """What the question is about by name: its capitalised words after the first, lower-cased, without a
    possessive 's or question words ("How rich is Yoshiaki Tsutsumi's Seibu?" -> yoshiaki, tsutsumi, seibu),
    its acronyms wherever they stand, kept in capitals ("What does the UMC prohibit?" -> UMC; `named_share`
    reads them), and its years, which pin an event as a name does ("who won the 1998 world cup" -> 1998). A
    question typed in capitals throughout names no words: its capitals say nothing; nor do the words of a
    quotation it holds ("Who said \"This budget is dead\"?")."""
    unquoted = _QUOTED.sub(lambda quote: " " * len(quote.group(0)), question)  # a quote's capitals name no one
    words = [] if question.isupper() else [
        match.group(0) if match.group("acronym") else folded(re.sub(r"['’]s$", "", match.group(0)))
        for match in _NAME.finditer(unquoted)
        if match.group("acronym") or (match.start() > 0 and match.group(0)[0].isupper())]
    return list(dict.fromkeys([word for word in words if word not in _NOT_NAMES] + _YEAR.findall(question)))


def named_share(names: Sequence[str], text: str) -> float:
    """The share of `names` that `text` states: as whole words, ignoring case and accents; an acronym (a name
    in capitals) as itself, dotted or not, or spelt out by the capitals of the words that open it. 1 when there
    are none."""
    if not names:
        return 1.0
    said = folded(text)
    return sum(states_acronym(name, text) if name.isupper() else bool(re.search(rf"\b{re.escape(name)}\b", said))
               for name in names) / len(names)


def states_acronym(acronym: str, text: str) -> bool:
    """Does `text` state the acronym ("U.S.", "US"; one of three letters or more in any case, as a web address
    or a slug writes it: "bbc-news") or spell it out in capitals ("V&A": "Victoria and Albert", "UMC": "United
    Methodist Church", small words between them aside)? A two-letter one only in capitals: "us" is not the US."""
    letters = [letter for letter in acronym if letter.isalpha()]
    itself = r"(?<![\w&.])" + r"[&.]?".join(letters) + r"\.?(?![\w&])"
    spelt = r"\b" + _ACRONYM_GAP.join(rf"{letter}\w*" for letter in letters) + r"\b"
    return bool(re.search(itself, text, re.IGNORECASE if len(letters) > 2 else 0) or re.search(spelt, text))


def folded(text: str) -> str:
    """`text` lower-cased without accents or the ayn and hamza marks of transliterated Arabic, so a name typed
    plainly is the name written with them ("Hadi al-Amiri", "Hādī al-ʿĀmirī")."""
    return "".join(char for char in unicodedata.normalize("NFD", text)
                   if not unicodedata.combining(char) and char not in "ʿʾ").casefold()


COPY_SHARE = 0.9  # of the shorter passage's five-word runs: on bbc-news, passages of two documents share either
# 0.95 or more of them (the same story filed twice, lightly edited) or 0.4 and less (two stories of one event)


def word_runs(text: str) -> frozenset[tuple[str, ...]]:
    """The passage's runs of five consecutive words, case aside: what two copies of one text share."""
    words = re.findall(r"\w+", text.lower())
    return frozenset(tuple(words[i : i + 5]) for i in range(max(len(words) - 4, 1)))


def is_copy(runs: frozenset[tuple[str, ...]], other: frozenset[tuple[str, ...]]) -> bool:
    """Do two passages' `word_runs` say the same text (COPY_SHARE of the shorter one's runs are in the other)?"""
    shorter = min(len(runs), len(other))
    return shorter > 0 and len(runs & other) >= COPY_SHARE * shorter


def balance_quotes(sentence: str) -> str:
    """The sentence with a quotation it opens but does not close (or closes but did not open) completed.

    A quoted sentence is often part of a longer quote: `"The suspect is known.` reads as a broken quote when
    shown alone, so the missing mark is added at the end (or the start).

    Example:
        >>> balance_quotes('"Kataeb is the key suspect.')
        '"Kataeb is the key suspect."'
    """
    depth, unopened = 0, 0
    for match in re.finditer('"', sentence):
        opens = match.start() == 0 or sentence[match.start() - 1] in " \t([—-"
        if depth == 0 and opens:
            depth = 1
        elif depth == 1:
            depth = 0
        else:
            unopened = 1
    sentence = ('"' if unopened else "") + sentence + ('"' if depth else "")
    # German quotes open with „ and close with “, which English opens with
    for opening, closing in (("„", "“") if "„" in sentence else ("“", "”"), ("«", "»")):
        missing = sentence.count(opening) - sentence.count(closing)
        sentence = opening + sentence if missing < 0 else sentence + closing * min(missing, 1)
    return sentence
