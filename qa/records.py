"""The records that flow between stages: Document -> Chunk -> Hit -> Answer (frozen dataclasses)."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass, field, fields

from qa.text import balance_quotes, refers_back, split_sentences


@dataclass(frozen=True)
class PageSpan:
    """Where one page of a PDF lies in its document's text (character offsets, end exclusive)."""

    page: int
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """A loaded source file: its cleaned text and what is known about it."""

    doc_id: str
    path: str
    text: str
    title: str = ""
    publisher: str = ""
    author: str = ""
    date: str = ""
    pages: tuple[PageSpan, ...] = ()
    content_hash: str = ""  # the file's sha256 and the reading version it was read with (`qa.loading.content_key`)
    url: str = ""  # the original address (a saved page's canonical URL, or `url:` in front matter), "" if unknown

    def page_at(self, offset: int) -> int | None:
        """The page number holding character `offset` (between two pages, the one before), or None for documents
        without pages."""
        if not self.pages:
            return None
        return self.pages[max(bisect_right(self.pages, offset, key=lambda span: span.start) - 1, 0)].page


@dataclass(frozen=True)
class Chunk:
    """A passage of a document: `text == document.text[start:end]`, short enough for the model."""

    doc_id: str
    ordinal: int
    start: int
    end: int
    text: str
    page: int | None = None
    tokens: int = 0


@dataclass(frozen=True)
class Sentence:
    """A sentence inside a passage, by character offsets relative to the passage text."""

    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with its source and, after answering, its best sentence."""

    rank: int
    score: float
    text: str
    chunk_id: int
    doc_id: str
    title: str
    publisher: str
    author: str
    date: str
    path: str
    page: int | None
    start: int
    end: int
    answer: Sentence | None = None
    url: str = ""
    copies: tuple[Hit, ...] = ()  # passages of other documents stating this one's text word for word (wire copy)

    @property
    def documents(self) -> tuple[str, ...]:
        """The ids of the documents that state this passage: its own, then its copies'."""
        return (self.doc_id, *(copy.doc_id for copy in self.copies))

    @property
    def answer_text(self) -> str:
        """The marked sentence's text, or "" when none is marked."""
        return self.text[self.answer.start : self.answer.end] if self.answer else ""

    def to_dict(self) -> dict:
        """A JSON-ready dict, with the answer sentence's text included (a copy's too)."""
        return {**asdict(self), "copies": [copy.to_dict() for copy in self.copies], "answer_text": self.answer_text}

    @classmethod
    def from_dict(cls, data: dict) -> Hit:
        """The hit `to_dict` made, read back (a saved question history keeps its hits this way)."""
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["answer"] = Sentence(**values["answer"]) if values.get("answer") else None
        values["copies"] = tuple(cls.from_dict(copy) for copy in values.get("copies", ()))
        return cls(**values)


@dataclass(frozen=True)
class Answer:
    """The reply to a question: the hits, and `best`, the hit holding the sentence chosen as the answer; that
    sentence answers only when `confident` (else it is the closest the passages come, and the archive does not
    seem to answer)."""

    question: str
    hits: tuple[Hit, ...] = field(default_factory=tuple)
    best: Hit | None = None
    confident: bool = False
    confidence: float = 0.0  # the highest of any candidate sentence: whether the archive answers (`qa.answer`)
    phrase: tuple[int, int] | None = None  # the answer phrase in `best.text` (character offsets), when one is marked

    @property
    def phrase_text(self) -> str:
        """The words of the answer sentence that state the asked-for fact ("three drones"), or "" when none are
        marked (the answer is not confident, or the answer model is not sure where in its sentence it stands)."""
        return self.best.text[slice(*self.phrase)] if self.best and self.phrase else ""

    @property
    def phrase_in_text(self) -> tuple[int, int] | None:
        """Where `phrase_text` stands in `text` (which may add a quotation mark at the start), or None."""
        if not self.phrase_text or not self.best or not self.best.answer:
            return None
        start = self.text.find(self.best.answer_text) + self.phrase[0] - self.best.answer.start
        return start, start + len(self.phrase_text)

    @property
    def text(self) -> str:
        """The chosen sentence (a quote it opens or closes balanced, see `balance_quotes`), or "" when no passage
        was found; check `confident` before presenting it as the answer."""
        return balance_quotes(self.best.answer_text) if self.best else ""

    @property
    def context(self) -> str:
        """The sentence before the answer in its passage when the answer opens by pointing back to it ("He
        said...", "This allowed..."): who "he" is, what "this" is, which the answer shown alone does not say;
        "" otherwise (or when the answer opens its passage)."""
        if not self.best or not self.best.answer or not refers_back(self.best.answer_text):
            return ""
        before = [span for span in split_sentences(self.best.text) if span[1] <= self.best.answer.start]
        return self.best.text[slice(*before[-1])] if before else ""

    def to_dict(self) -> dict:
        """A JSON-ready dict."""
        return {
            "question": self.question,
            "answer": self.text,
            "phrase": self.phrase_text,
            "phrase_span": list(self.phrase) if self.phrase else None,
            "context": self.context,
            "confident": self.confident,
            "confidence": self.confidence,
            "source": self.best.to_dict() if self.best else None,
            "hits": [hit.to_dict() for hit in self.hits],
        }

    @classmethod
    def from_dict(cls, data: dict) -> Answer:
        """The answer `to_dict` made, read back; its best hit is the one of its hits of the same rank."""
        hits = tuple(Hit.from_dict(hit) for hit in data["hits"])
        source = data.get("source")
        best = next((hit for hit in hits if source and hit.rank == source["rank"]), None)
        # saved before `confidence`: the answer's sentence then carried it
        confidence = data.get("confidence", best.answer.score if best and best.answer else 0.0)
        phrase = tuple(data["phrase_span"]) if data.get("phrase_span") and best else None
        return cls(question=data["question"], hits=hits, best=best, confident=bool(data["confident"]),
                   confidence=float(confidence), phrase=phrase)


NOT_READ = "not read: "  # opens the reason of a document of a type not read, kept among `failed` (`SyncReport.not_read`)


@dataclass
class SyncReport:
    """What a sync did, file by file (doc ids are paths relative to the corpus folder)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warned: list[tuple[str, str]] = field(default_factory=list)  # read, with a warning (an encoding guessed)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    reread: list[str] = field(default_factory=list)  # unchanged, read again by newer readers (`READING_VERSION`)
    chunks_embedded: int = 0
    rebuilt: bool = False
    generation: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    @property
    def not_read(self) -> list[tuple[str, str]]:
        """The documents of types not read (an e-mail, an RTF file): said apart from failures, which a monitor
        alerts on. Kept among `failed`, the shape every release's `info` and page read."""
        return [(doc_id, why) for doc_id, why in self.failed if why.startswith(NOT_READ)]

    @property
    def failures(self) -> list[tuple[str, str]]:
        """The files that could not be read (`failed` without `not_read`)."""
        return [(doc_id, why) for doc_id, why in self.failed if not why.startswith(NOT_READ)]

    def summary(self) -> str:
        """One line: counts of each outcome."""
        again = f" ({len(self.reread)} of them only read again by newer readers)" if self.reread else ""
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated{again}", f"{len(self.removed)} removed",
                 f"{len(self.unchanged)} unchanged", f"{len(self.failures)} failed"]
        if self.not_read:
            parts.append(f"{len(self.not_read)} not read")
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} duplicate")
        return ", ".join(parts) + f"; {self.chunks_embedded} chunks embedded"

    def stored(self) -> dict:
        """The report as an index keeps it for `info` and the page: the fields the previous release reads, so its
        readers (a page still running it against a shared database) can read a report this one wrote."""
        return {name: value for name, value in asdict(self).items() if name not in ("warned", "reread")}

    @classmethod
    def from_dict(cls, data: dict) -> SyncReport:
        """The report `stored` made, read back (pairs come back from JSON as lists); fields a later release added
        are left out."""
        known = {f.name for f in fields(cls)}
        pairs = {name: [tuple(pair) for pair in data.get(name, [])] for name in ("failed", "warned", "duplicates")}
        return cls(**{**{name: value for name, value in data.items() if name in known}, **pairs})

