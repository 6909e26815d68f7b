"""Word documents (.docx) through python-docx: styles give headings, list items and the title.

"Heading N" styles are headings of level N, "Title" (or the document's title property) names
the document, "List ..." styles and numbered paragraphs are list items at their indent level,
a paragraph whose runs are all bold is a pseudo-heading, and tables are read row by row with
their header row. A unit's "line" is the paragraph's position in the body (1-based), which is
what Word's navigation shows too.
"""

from __future__ import annotations

import io
import re
from typing import Any

from assistant.formats.outline import Outline, looks_like_heading
from assistant.formats.types import Parsed

_HEADING = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)
_LIST_STYLE = re.compile(r"^list\b.*?(\d)?$", re.IGNORECASE)


def read_docx(data: bytes, source: str) -> Parsed:
    """Parse one .docx file."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))
    props = document.core_properties
    title = " ".join((props.title or "").split()) or None
    metadata: dict[str, Any] = {k: v for k, v in {
        "title": props.title, "author": props.author, "subject": props.subject,
        "keywords": props.keywords, "category": props.category,
    }.items() if v}
    outline = Outline(source)
    title_style: str | None = None
    position = 0
    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            position += 1
            paragraph = Paragraph(child, document)
            text = " ".join(paragraph.text.split())
            if not text:
                continue
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            heading = _HEADING.match(style)
            if style.lower() == "title":
                title_style = title_style or text
                outline.heading(1, text, position)
            elif heading:
                outline.heading(int(heading.group(1)), text, position)
            elif _is_list(paragraph, style):
                outline.item(text, position, _list_level(paragraph, style))
            elif _all_bold(paragraph) and looks_like_heading(text):
                outline.heading(outline.pseudo_level, text, position, marked=False)
            else:
                outline.paragraph(text, position)
        elif tag == "tbl":
            position += 1
            _table(Table(child, document), outline, position)
    sections, found = outline.finish(title or title_style)
    return Parsed(sections=sections, title=found, metadata=metadata)


def _is_list(paragraph: Any, style: str) -> bool:
    if _LIST_STYLE.match(style) and "paragraph" not in style.lower():
        return True
    ppr = paragraph._p.pPr
    return ppr is not None and ppr.numPr is not None


def _list_level(paragraph: Any, style: str) -> int:
    ppr = paragraph._p.pPr
    if ppr is not None and ppr.numPr is not None and ppr.numPr.ilvl is not None:
        return int(ppr.numPr.ilvl.val)
    match = _LIST_STYLE.match(style)
    return max(int(match.group(1)) - 1, 0) if match and match.group(1) else 0


def _all_bold(paragraph: Any) -> bool:
    runs = [r for r in paragraph.runs if r.text.strip()]
    return bool(runs) and all(r.bold for r in runs)


def _table(table: Any, outline: Outline, position: int) -> None:
    rows = [[" ".join(cell.text.split()) for cell in row.cells] for row in table.rows]
    if not rows:
        return
    headers, body = (rows[0], rows[1:]) if len(rows) > 1 else ([], rows)
    for row in body:
        outline.row(_dedupe_merged(row), headers, position)


def _dedupe_merged(cells: list[str]) -> list[str]:
    """python-docx repeats a horizontally merged cell once per grid column: keep one."""
    out: list[str] = []
    for i, cell in enumerate(cells):
        out.append("" if i and cell == cells[i - 1] else cell)
    return out
