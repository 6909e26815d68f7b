"""PDF role documents through pypdf: text with its font sizes, turned back into structure.

A PDF keeps no headings or lists, only positioned text. pypdf's text visitor gives every run
of text with its font and size; from those, lines set larger than the body text (or all in
bold, short and unpunctuated) are headings, ranked by size; lines starting with a bullet
mark are list items (indented ones nested); the other lines are joined into paragraphs until a
wider gap. Units are located by page. A page without a text layer (a scan) is named in a
warning; an encrypted PDF that opens without a password is read, any other is refused by name.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from assistant.formats.outline import Outline
from assistant.formats.types import Parsed
from assistant.types import CorpusError

_BULLET = re.compile(r"^\s*(?:[\u2022\u25cf\u25aa\u25e6\u2023\u2043\u2219\u00b7*\-\u2013]|\d{1,2}[.)])\s+")
_BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)
HEADING_SCALE = 1.15  # a line this much larger than the body text is a heading


@dataclass
class _Line:
    text: str = ""
    size: float = 0.0
    bold: bool = True
    x: float | None = None
    y: float | None = None
    chars: Counter[float] = field(default_factory=Counter)


def read_pdf(data: bytes, source: str) -> Parsed:
    """Parse one PDF."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            opened = reader.decrypt("")
        except Exception as exc:  # noqa: BLE001 - unsupported encryption: same answer
            raise CorpusError(f"{source}: is an encrypted PDF that cannot be opened "
                              f"({exc}); save it without a password.") from exc
        if not opened:
            raise CorpusError(f"{source}: is an encrypted PDF that needs a password; save "
                              "it without one.")
    pages = [_lines(page) for page in reader.pages]
    warnings = [f"{source}: page {n} has no text layer (a scanned image?); it is skipped."
                for n, lines in enumerate(pages, start=1) if not lines]
    if len(warnings) == len(pages):
        warnings = []  # the loader says once that the whole file has no text
    sizes: Counter[float] = Counter()
    for lines in pages:
        for line in lines:
            sizes.update(line.chars)
    body = sizes.most_common(1)[0][0] if sizes else 0.0
    levels = sorted({round(line.size, 1) for lines in pages for line in lines
                     if line.size >= body * HEADING_SCALE}, reverse=True)
    outline = Outline(source)
    for number, lines in enumerate(pages, start=1):
        _feed(outline, lines, number, body, levels)
    info: Any = reader.metadata or {}
    metadata: dict[str, Any] = {k.lstrip("/").lower(): str(v) for k, v in info.items()
                                if k in ("/Title", "/Author", "/Subject", "/Keywords") and v}
    title = " ".join(str(metadata.get("title", "")).split()) or None
    sections, title = outline.finish(title)
    return Parsed(sections=sections, title=title, metadata=metadata, warnings=warnings,
                  locator="page")


def _lines(page: Any) -> list[_Line]:
    """The page's text lines with their font size, boldness and position."""
    lines: list[_Line] = [_Line()]

    def visit(text: str, cm: Any, tm: Any, font: Any, size: float) -> None:
        scale = abs(float(tm[3]) or 1.0) * abs(float(cm[3]) or 1.0)
        effective = round(float(size or 0) * scale, 1)
        name = str((font or {}).get("/BaseFont", ""))
        for i, piece in enumerate(text.split("\n")):
            if i:
                lines.append(_Line())
            if not piece:
                continue
            line = lines[-1]
            if not piece.strip():
                line.text += piece
                continue
            if line.x is None:
                line.x, line.y = float(tm[4]), float(tm[5])
            line.text += piece
            line.size = max(line.size, effective)
            line.bold = line.bold and bool(_BOLD.search(name))
            line.chars[effective] += len(piece.strip())

    page.extract_text(visitor_text=visit)
    out = []
    for line in lines:
        line.text = " ".join(line.text.split())
        if line.text:
            out.append(line)
    return out


def _feed(outline: Outline, lines: list[_Line], page: int, body: float,
          levels: list[float]) -> None:
    gaps = [abs(a.y - b.y) for a, b in zip(lines, lines[1:], strict=False)
            if a.y is not None and b.y is not None and a.y != b.y]
    spacing = sorted(gaps)[len(gaps) // 2] if gaps else 0.0
    bullet_x = min((ln.x for ln in lines if _BULLET.match(ln.text) and ln.x is not None),
                   default=0.0)
    pending: list[str] = []
    kind = ""  # "paragraph" | "item"
    depth = 0

    def flush() -> None:
        nonlocal pending, kind
        text = " ".join(pending).strip()
        if text and kind == "item":
            outline.item(text, page, depth)
        elif text:
            outline.paragraph(text, page)
        pending, kind = [], ""

    previous: _Line | None = None
    for line in lines:
        size = round(line.size, 1)
        heading = size in levels or (line.bold and len(line.text) <= 80 and body and
                                     not line.text.endswith((".", ",", ";", ":")) and
                                     not _BULLET.match(line.text))
        if heading:
            flush()
            level = levels.index(size) + 1 if size in levels else len(levels) + 1
            outline.heading(level, line.text, page)
        elif _BULLET.match(line.text):
            flush()
            kind = "item"
            depth = 1 if line.x is not None and line.x > bullet_x + 8 else 0
            pending = [_BULLET.sub("", line.text, count=1)]
        else:
            gap = (previous is not None and previous.y is not None and line.y is not None
                   and spacing and abs(previous.y - line.y) > spacing * 1.6)
            if gap or not pending:
                flush()
                kind = "paragraph"
            pending.append(line.text)
        previous = line
    flush()
