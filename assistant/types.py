"""Plain data passed between pipeline stages: units, chunks, contexts, citations, replies, errors."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Unit:
    """One answerable piece of a section: a bullet, a sub-heading name or a prose sentence."""

    text: str
    line: int  # 1-based line in the source file (the page, for PDFs)
    kind: str = "bullet"  # bullet | label | item | heading | sentence | row
    label: str = ""  # the "Entry-Level (0-3 years):" item a nested item belongs to
    section: str = ""  # the unit's own section path (a packed chunk spans several)
    depth: int = 0  # list nesting: 0 for a top-level item, 1 under a label, ...
    links: tuple[str, ...] = ()  # targets of the links in the text (shown as their text)


@dataclass
class Section:
    """A run of lines under one section path, in document order."""

    source: str
    path: tuple[str, ...]
    units: list[Unit] = field(default_factory=list)
    kind: str = "section"  # section | overview | summary

    @property
    def path_str(self) -> str:
        return " > ".join(self.path)


@dataclass
class Chunk:
    """What is indexed: a section (or part of one) with its provenance."""

    id: str
    source: str
    section: str
    top_section: str
    kind: str
    text: str  # the passage as shown to people
    embed_text: str  # section path + text: what the embedding model sees
    line_start: int
    line_end: int
    units: list[Unit]
    order: int  # position of the chunk in its source
    title: str = ""  # the document's (role's) title, which also leads `section`
    locator: str = "line"  # what line_start/line_end count: "line" or "page"

    def metadata(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "title": self.title,
            "locator": self.locator,
            "section": self.section,
            "top_section": self.top_section,
            "kind": self.kind,
            "line_start": self.line_start,
            "line_end": self.line_end,
            "order": self.order,
            "chunk_id": self.id,
        }


@dataclass
class Context:
    """A retrieved passage, in rank order."""

    text: str
    source: str
    section: str
    score: float  # fused retrieval score: higher ranks first
    relevance: float = 0.0  # best cosine similarity between the question and the passage
    line_start: int = 0
    line_end: int = 0
    chunk_id: str = ""
    title: str = ""  # the document (role) it comes from
    locator: str = "line"  # what line_start/line_end count: "line" or "page"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Citation:
    """A numbered source that an answer's [n] marker points to."""

    n: int
    source: str
    section: str  # the full path, led by the document's title
    text: str
    line_start: int = 0
    line_end: int = 0
    title: str = ""  # the document (role) it comes from
    locator: str = "line"  # what line_start/line_end count: "line" or "page"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PassageUnit:
    """One unit of a retrieved passage with its similarity to the query (computed once)."""

    text: str
    meta: dict[str, Any]
    score: float


@dataclass
class Passage:
    """A retrieved passage as answerers see it: the document and its own units."""

    document: Any  # a LangChain Document (section path, text, provenance in metadata)
    units: list[PassageUnit] = field(default_factory=list)


def passage_chunks(document: Any) -> list[str]:
    """The chunks a retrieved passage (a LangChain Document) is made of: a whole section
    merged from its pieces lists them all."""
    return list(document.metadata.get("chunk_ids") or [document.metadata["chunk_id"]])


@dataclass
class Reply:
    """What `Assistant.ask` returns."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation]
    contexts: list[Context]
    reason: str = ""  # why it abstained (not_covered, no_figure, no_name, off_topic,
    # instructions, ambiguous_role, small_talk) or ""
    query: str = ""  # the standalone query used for retrieval after resolving follow-ups
    latency_ms: float = 0.0
    backend: str = "extractive"  # the answerer that wrote `answer`
    verified: bool = True  # every sentence was checked against the passages it cites
    removed: list[str] = field(default_factory=list)  # generated sentences the guard removed
    note: str = ""  # why a generated answer was replaced by the extractive one, or that the
    # question states a figure the documents do not give
    fallback: str = ""  # the same as a key: timeout | failed | unsupported | premise | off_point
    suggestions: list[str] = field(default_factory=list)  # follow-ups from nearby sections

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["latency_ms"] = round(self.latency_ms, 2)
        return data


class AssistantError(Exception):
    """Base error whose message is fit to show a user as is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidQuestion(AssistantError, ValueError):
    """The question is empty, too long or otherwise unusable."""


class IndexMissing(AssistantError):
    """There is no built index to answer from."""


class IndexOutdated(IndexMissing):
    """The build in service was stored in another layout (an older version made it)."""


class IndexBusy(AssistantError):
    """Another process is building the index."""


class CorpusError(AssistantError):
    """A corpus file could not be read or decoded."""
