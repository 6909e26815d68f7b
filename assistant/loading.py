"""Corpus files -> documents: a title, metadata and sections, whatever the file's format.

Each format has its reader in `assistant.formats` (plain text, Markdown, PDF, Word, HTML). A
document's title is its own (front matter `title`, the file's title property, a lone top-level
heading), else its file name. A file that cannot be read is reported by name and the others
still load; problems that do not stop a read (a PDF page without text) are warnings.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.formats import SUFFIXES, reader_for
from assistant.formats.types import Parsed, decode_text
from assistant.types import CorpusError, Section

log = logging.getLogger(__name__)

__all__ = ["SUFFIXES", "LoadResult", "SourceDocument", "corpus_files", "load_corpus",
           "load_document", "parse", "read_bytes", "read_text", "title_from_filename"]


@dataclass
class SourceDocument:
    """One loaded corpus file."""

    source: str  # path relative to the corpus folder, with forward slashes
    sha256: str
    sections: list[Section] = field(default_factory=list)
    title: str = ""  # the role or document name that leads every section path
    metadata: dict[str, str] = field(default_factory=dict)  # front matter and file properties
    locator: str = "line"  # what unit line numbers count: "line" or "page"
    text: str = ""  # the document as plain text (what the naive baseline splits)
    warnings: list[str] = field(default_factory=list)


@dataclass
class LoadResult:
    """Files that loaded and files that did not, with a message naming each."""

    documents: list[SourceDocument]
    errors: dict[str, str]  # source -> message
    warnings: list[str] = field(default_factory=list)


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The corpus files in a stable order (hidden files and unknown types are skipped)."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"Corpus folder {corpus_dir} does not exist.")
    files = [
        p for p in corpus_dir.rglob("*")
        if p.is_file() and p.suffix.lower() in SUFFIXES
        and not any(part.startswith((".", "~$")) for part in p.relative_to(corpus_dir).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(corpus_dir).as_posix())


def read_bytes(path: Path) -> tuple[bytes, str]:
    """A corpus file's bytes and their sha256 (CorpusError naming the file if unreadable)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    return data, hashlib.sha256(data).hexdigest()


def read_text(path: Path) -> tuple[str, str]:
    """Read a text corpus file as UTF-8 (a BOM is allowed); returns (text, sha256 of the bytes)."""
    data, digest = read_bytes(path)
    return decode_text(data, str(path)), digest


def title_from_filename(source: str) -> str:
    """"backend-engineer_v2.md" -> "Backend Engineer V2": the title of last resort."""
    words = re.sub(r"[-_]+", " ", Path(source).stem).split()
    return " ".join(w if w.isupper() else w[:1].upper() + w[1:] for w in words) or source


def load_document(data: bytes, source: str, sha256: str = "") -> SourceDocument:
    """Read one file's bytes with the reader for its suffix (CorpusError naming the file)."""
    suffix = Path(source).suffix.lower()
    try:
        reader = reader_for(suffix)
    except KeyError:
        raise CorpusError(f"{source}: files of type {suffix or '(none)'} are not read; use one "
                          f"of {', '.join(SUFFIXES)}.") from None
    try:
        parsed: Parsed = reader(data, source)
    except CorpusError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken file of any kind: name it, go on
        kind = suffix.lstrip(".").upper()
        raise CorpusError(f"{source}: cannot be read as {kind} ({type(exc).__name__}: "
                          f"{str(exc)[:200] or 'no detail'}).") from exc
    document = SourceDocument(
        source=source, sha256=sha256 or hashlib.sha256(data).hexdigest(),
        sections=parsed.sections, title=parsed.title or title_from_filename(source),
        metadata=flat_metadata(parsed.metadata), locator=parsed.locator,
        warnings=list(parsed.warnings),
    )
    if not any(u.kind != "heading" for s in document.sections for u in s.units):
        document.warnings.append(f"{source}: no text found (a scanned PDF or an empty file?); "
                                 "nothing from it can be answered.")
    document.text = plain_text(document)
    return document


def flat_metadata(metadata: dict[str, Any]) -> dict[str, str]:
    """Front matter as strings (lists joined, dates in ISO form), fit for index metadata."""
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set)):
            text = ", ".join(str(v) for v in value if v is not None)
        elif isinstance(value, (datetime.date, datetime.datetime)):
            text = value.isoformat()
        elif isinstance(value, dict):
            text = ", ".join(f"{k}: {v}" for k, v in value.items())
        else:
            text = str(value)
        text = " ".join(text.split())
        if text:
            out[str(key)] = text[:500]
    return out


def plain_text(document: SourceDocument) -> str:
    """The document as the lines a reader sees (headings, prose, items), for the baseline."""
    from assistant.chunking import render_unit

    lines = [document.title]
    for section in document.sections:
        for unit in section.units:
            if unit.kind == "item":
                continue  # an overview's list of sub-sections repeats their headings
            lines.append(unit.text if unit.kind == "heading" else render_unit(unit))
    return "\n".join(lines)


def load_corpus(corpus_dir: Path, only: Iterable[str] | None = None) -> LoadResult:
    """Load every corpus file; a file that fails is reported and the others still load."""
    documents: list[SourceDocument] = []
    errors: dict[str, str] = {}
    warnings: list[str] = []
    wanted = set(only) if only is not None else None
    for path in corpus_files(corpus_dir):
        source = path.relative_to(corpus_dir).as_posix()
        if wanted is not None and source not in wanted:
            continue
        try:
            data, digest = read_bytes(path)
            document = load_document(data, source, digest)
        except CorpusError as exc:
            log.warning("%s", exc.message)
            errors[source] = exc.message
            continue
        for warning in document.warnings:
            log.warning("%s", warning)
        warnings.extend(document.warnings)
        documents.append(document)
    return LoadResult(documents, errors, warnings)


def parse(text: str, source: str, suffix: str = ".txt") -> list[Section]:
    """Sections of a text document (Markdown or plain), for callers that hold its text."""
    return reader_for(suffix)(text.encode("utf-8"), source).sections
