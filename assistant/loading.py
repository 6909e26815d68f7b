"""Corpus files -> sections: recover headings, sub-headings, bullets and glued summaries.

The role document is plain text whose structure is implicit. Markdown files state it with `#`.
Both become `Section`s that know their source file, section path and line numbers.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.types import CorpusError, Section, Unit

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md", ".markdown")
_BULLET = re.compile(r"^\s*(?:[-*\u2022\u2013]|\d{1,2}[.)])\s+")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FUNCTION_WORDS = frozenset(
    "a an and as at by for from in into of on or the to with like such than via".split()
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
# A summary paragraph glued onto a bullet starts with a capitalised word ("The", "In",
# "Mastering") right after a lowercase word or a full stop; acronyms ("AI") never start one.
_GLUE = re.compile(r"(?<=[a-z0-9.)%])\s+(?=[A-Z][a-z]+\b)")


@dataclass
class SourceDocument:
    """One loaded corpus file."""

    source: str  # path relative to the corpus folder, with forward slashes
    sha256: str
    sections: list[Section] = field(default_factory=list)


@dataclass
class LoadResult:
    """Files that loaded and files that did not, with a message naming each."""

    documents: list[SourceDocument]
    errors: dict[str, str]  # source -> message


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The corpus files in a stable order (hidden files and unknown types are skipped)."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"Corpus folder {corpus_dir} does not exist.")
    files = [
        p for p in corpus_dir.rglob("*")
        if p.is_file() and p.suffix.lower() in SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(corpus_dir).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(corpus_dir).as_posix())


def read_text(path: Path) -> tuple[str, str]:
    """Read a corpus file as UTF-8 (a BOM is allowed); returns (text, sha256 of the bytes)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot be read ({exc.strerror or exc}).") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path}: is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8."
        ) from exc
    if "\x00" in text:
        raise CorpusError(f"{path}: looks like a binary file, not text.")
    return text, hashlib.sha256(data).hexdigest()


def load_corpus(corpus_dir: Path, only: Iterable[str] | None = None) -> LoadResult:
    """Load every corpus file; a file that fails is reported and the others still load."""
    documents: list[SourceDocument] = []
    errors: dict[str, str] = {}
    wanted = set(only) if only is not None else None
    for path in corpus_files(corpus_dir):
        source = path.relative_to(corpus_dir).as_posix()
        if wanted is not None and source not in wanted:
            continue
        try:
            text, digest = read_text(path)
        except CorpusError as exc:
            log.warning("%s", exc.message)
            errors[source] = exc.message
            continue
        documents.append(SourceDocument(source, digest, parse(text, source, path.suffix.lower())))
    return LoadResult(documents, errors)


def parse(text: str, source: str, suffix: str = ".txt") -> list[Section]:
    """Split a document into sections; markdown by its `#` headings, plain text by layout."""
    lines = [(i + 1, line.rstrip()) for i, line in enumerate(text.splitlines())]
    if suffix in (".md", ".markdown") or any(_MD_HEADING.match(t) for _, t in lines):
        return _parse_markdown(lines, source)
    return _parse_plain(lines, source)


# ---------------------------------------------------------------------------------------------
# plain text


def _is_bullet(text: str) -> bool:
    return bool(_BULLET.match(text))


def _strip_bullet(text: str) -> str:
    return _BULLET.sub("", text, count=1).strip()


def _is_heading(text: str) -> bool:
    """A short line without closing punctuation that is not a bullet."""
    stripped = text.strip()
    if not stripped or _is_bullet(stripped) or len(stripped) > 90:
        return False
    return len(stripped.split()) <= 10 and not stripped.endswith((".", ":", ",", ";", "?", "!"))


def split_glued_summary(bullet: str) -> tuple[str, str]:
    """Split "... stakeholders The role of a Senior ..." into the bullet and the summary prose.

    The earliest split counts that leaves a real bullet (three words or more, not ending on a
    function word such as "and") and a remainder that reads as prose (twelve words or more,
    ending a sentence).
    """
    for match in _GLUE.finditer(bullet):
        head, tail = bullet[: match.start()].strip(), bullet[match.end():].strip()
        words = head.split()
        if len(words) < 3 or words[-1].lower() in _FUNCTION_WORDS:
            continue
        if len(tail.split()) >= 12 and tail.endswith((".", "!", "?")):
            return head, tail
    return bullet, ""


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _parse_plain(lines: list[tuple[int, str]], source: str) -> list[Section]:
    content = [(n, t) for n, t in lines if t.strip()]
    kinds: list[str] = []
    for _, text in content:
        kinds.append("bullet" if _is_bullet(text) else "heading" if _is_heading(text) else "prose")

    def next_kind(i: int) -> str:
        return kinds[i + 1] if i + 1 < len(kinds) else ""

    # A heading that opens with a prose introduction and follows a section's closing summary
    # (glued onto the previous bullet) starts a new top-level section.
    top_level: set[int] = set()
    summaries: dict[int, tuple[str, str]] = {}
    for i, kind in enumerate(kinds):
        if kind != "heading":
            continue
        if i == 0 or not any(k == "heading" for k in kinds[:i]):
            top_level.add(i)
            continue
        if next_kind(i) != "prose":
            continue
        prev = i - 1
        if kinds[prev] == "prose":
            top_level.add(i)
        elif kinds[prev] == "bullet":
            head, tail = split_glued_summary(_strip_bullet(content[prev][1]))
            if tail:
                summaries[prev] = (head, tail)
                top_level.add(i)
    if len(top_level) <= 1:  # no closing summaries anywhere: fall back on intro paragraphs alone
        top_level |= {i for i, k in enumerate(kinds) if k == "heading" and next_kind(i) == "prose"}
    last_bullet = max((i for i, k in enumerate(kinds) if k == "bullet"), default=-1)
    if last_bullet >= 0 and last_bullet not in summaries:
        head, tail = split_glued_summary(_strip_bullet(content[last_bullet][1]))
        if tail:
            summaries[last_bullet] = (head, tail)

    sections: list[Section] = []
    top: str = ""
    overview: Section | None = None
    summary: Section | None = None
    current: Section | None = None
    label = ""

    def open_top(title: str, line: int) -> None:
        nonlocal top, overview, summary, current, label
        top, label = title, ""
        overview = Section(source, (title,), [Unit(title, line, "heading")], kind="overview")
        summary = Section(source, (title,), [], kind="summary")
        sections.extend([overview, summary])
        current = overview

    for i, ((line, text), kind) in enumerate(zip(content, kinds, strict=True)):
        if kind == "heading":
            if i in top_level or not top:
                open_top(text.strip(), line)
            else:
                current = Section(source, (top, text.strip()))
                sections.append(current)
                label = ""
                assert overview is not None
                overview.units.append(Unit(text.strip(), line, "item"))
            continue
        if current is None:  # prose before any heading: a section named after the file
            open_top(Path(source).stem.replace("-", " ").replace("_", " ").title(), line)
        assert current is not None and summary is not None
        if kind == "prose":
            # prose right under a heading introduces it; prose after bullets closes the section
            target = current if current.kind == "overview" or not current.units else summary
            target.units.extend(Unit(s, line, "sentence") for s in _sentences(text.strip()))
            continue
        body = _strip_bullet(text)
        tail = ""
        if i in summaries:
            body, tail = summaries[i]
        if body.endswith(":") and next_kind(i) == "bullet":
            label = body
            current.units.append(Unit(body, line, "label"))
        else:
            current.units.append(Unit(body, line, "bullet", label))
        if tail:
            summary.units.extend(Unit(s, line, "sentence") for s in _sentences(tail))
    # A section's closing summary joins its overview (intro + list of sub-sections): one
    # passage that answers "what does this section say overall", instead of two thin ones.
    for i, section in enumerate(sections):
        if section.kind == "summary" and section.units and i > 0:
            overview = sections[i - 1]
            if overview.kind == "overview" and overview.path == section.path:
                overview.units.extend(section.units)
                section.units = []
    return [s for s in sections if s.units]


# ---------------------------------------------------------------------------------------------
# markdown


def _parse_markdown(lines: list[tuple[int, str]], source: str) -> list[Section]:
    levels = [len(m.group(1)) for _, t in lines if (m := _MD_HEADING.match(t))]
    top_level = min(levels) if levels else 1
    sections: list[Section] = []
    top = ""
    current: Section | None = None
    overview: Section | None = None
    label = ""
    paragraph: list[tuple[int, str]] = []

    def flush() -> None:
        nonlocal paragraph
        if paragraph and current is not None:
            text = " ".join(t.strip() for _, t in paragraph)
            current.units.extend(Unit(s, paragraph[0][0], "sentence") for s in _sentences(text))
        paragraph = []

    for line, text in lines:
        heading = _MD_HEADING.match(text)
        if heading:
            flush()
            title = heading.group(2).strip()
            if len(heading.group(1)) <= top_level or not top:
                top = title
                overview = Section(source, (title,), [Unit(title, line, "heading")], "overview")
                current = overview
                sections.append(overview)
            else:
                current = Section(source, (top, title))
                sections.append(current)
                assert overview is not None
                overview.units.append(Unit(title, line, "item"))
            label = ""
            continue
        if not text.strip():
            flush()
            continue
        if current is None:
            top = Path(source).stem.replace("-", " ").replace("_", " ").title()
            overview = current = Section(source, (top,), [Unit(top, line, "heading")], "overview")
            sections.append(current)
        if _is_bullet(text):
            flush()
            body = _strip_bullet(text).replace("**", "")
            indented = len(text) - len(text.lstrip()) >= 2
            if body.endswith(":") and not indented:
                label = body
                current.units.append(Unit(body, line, "label"))
            else:
                if not indented:  # markdown nests by indentation: a flush bullet ends a group
                    label = ""
                current.units.append(Unit(body, line, "bullet", label if indented else ""))
        else:
            paragraph.append((line, text))
    flush()
    return [s for s in sections if s.units]
