"""Corpus files -> documents: a title, metadata and sections, whatever the file's format.

Each format has its reader in `assistant.formats` (plain text, Markdown, PDF, Word, HTML). A
document's title is its own (front matter `title`, the file's title property, a lone top-level
heading), else its file name. A file that cannot be read is reported by name and the others
still load; problems that do not stop a read (a PDF page without text) are warnings.

Only files inside the corpus folder are read: a link (to a file or a folder) whose real path
is outside it is skipped with a warning naming it, and a link inside it is followed once (a
file reached by several paths is read once, under its own path). A file over the size limit
(Settings.max_file_bytes) is refused by name, before a byte of it is read.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.formats import SUFFIXES, reader_for
from assistant.formats.types import Parsed, decode_text
from assistant.types import CorpusError, Section

log = logging.getLogger(__name__)

__all__ = ["SUFFIXES", "CorpusScan", "LoadResult", "SourceDocument", "corpus_files",
           "load_corpus", "load_document", "parse", "read_bytes", "read_text", "scan_corpus",
           "title_from_filename"]


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


@dataclass
class CorpusScan:
    """The files to read, and those refused (outside the corpus, too large), each named."""

    files: list[tuple[str, Path]]  # (source, path), sorted by source
    skipped: dict[str, str] = field(default_factory=dict)  # source -> message naming it


def scan_corpus(corpus_dir: Path, max_file_bytes: int | None = None) -> CorpusScan:
    """The corpus files in a stable order: hidden files and unknown types are left out; links
    leading outside the corpus folder, broken links and files over `max_file_bytes` are
    refused with a warning naming them."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"Corpus folder {corpus_dir} does not exist.")
    root = corpus_dir.resolve()
    found: dict[Path, tuple[bool, str, Path]] = {}  # real path -> (through a link, source, path)
    skipped: dict[str, str] = {}

    def refuse(source: str, message: str) -> None:
        skipped[source] = message
        log.warning("not indexed: %s", message)

    def walk(folder: Path, prefix: str, linked: bool, ancestors: frozenset[Path]) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            refuse(prefix.rstrip("/") or ".", f"{prefix.rstrip('/') or corpus_dir}: a folder "
                   f"that cannot be listed ({exc.strerror or exc})")
            return
        for entry in entries:
            if entry.name.startswith((".", "~$")):
                continue
            source, path = prefix + entry.name, folder / entry.name
            link = entry.is_symlink()
            try:
                is_dir = entry.is_dir()
                is_file = not is_dir and entry.is_file()
            except OSError:
                is_dir = is_file = False
            if not is_dir and Path(entry.name).suffix.lower() not in SUFFIXES:
                continue
            if link and not (is_dir or is_file):
                refuse(source, f"{source}: a link to nothing ({os.readlink(path)})")
                continue
            real = path.resolve()
            if not real.is_relative_to(root):
                kind = "folder" if is_dir else "file"
                refuse(source, f"{source}: a link to the {kind} {real}, outside the corpus "
                       f"folder {corpus_dir}")
                continue
            if is_dir:
                if real not in ancestors:  # a link back up the tree would never end
                    walk(path, source + "/", linked or link, ancestors | {real})
                continue
            if not is_file:
                continue  # a pipe or a device named like a document: nothing to read
            previous = found.get(real)
            if previous is None or (previous[0], previous[1]) > (linked or link, source):
                found[real] = (linked or link, source, path)

    walk(corpus_dir, "", False, frozenset({root}))
    files: list[tuple[str, Path]] = []
    for _, source, path in sorted(found.values(), key=lambda f: f[1]):
        try:
            size = path.stat().st_size
        except OSError:  # gone since it was listed: reading it names the problem
            size = 0
        if max_file_bytes is not None and size > max_file_bytes:
            refuse(source, f"{source}: {_size(size)}, over the limit of {_size(max_file_bytes)} "
                   "(max_file_bytes)")
            continue
        files.append((source, path))
    return CorpusScan(files, dict(sorted(skipped.items())))


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The corpus files in a stable order (see `scan_corpus`; no size limit)."""
    return [path for _, path in scan_corpus(corpus_dir).files]


def read_bytes(path: Path, limit: int | None = None) -> tuple[bytes, str]:
    """A corpus file's bytes and their sha256 (CorpusError naming the file if unreadable, or
    if it holds more than `limit` bytes: it may have grown since it was listed)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read() if limit is None else handle.read(limit + 1)
    except OSError as exc:
        raise CorpusError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    if limit is not None and len(data) > limit:
        raise CorpusError(f"{path}: over the limit of {_size(limit)} (max_file_bytes); "
                          "not read.")
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


def load_corpus(corpus_dir: Path, only: Iterable[str] | None = None,
                max_file_bytes: int | None = None) -> LoadResult:
    """Load every corpus file; a file that fails is reported and the others still load."""
    documents: list[SourceDocument] = []
    errors: dict[str, str] = {}
    scan = scan_corpus(corpus_dir, max_file_bytes)
    warnings = [f"not indexed: {message}" for message in scan.skipped.values()]
    wanted = set(only) if only is not None else None
    for source, path in scan.files:
        if wanted is not None and source not in wanted:
            continue
        try:
            data, digest = read_bytes(path, max_file_bytes)
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
