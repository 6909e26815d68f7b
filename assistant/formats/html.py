"""Web pages (.html) through BeautifulSoup: the page's main content, with its structure.

Navigation, headers, footers, forms, scripts and styles are dropped; the rest is read in
document order: h1-h6 are headings, lists keep their nesting (an item with a nested list labels
it), tables are read row by row with their header cells (row and column spans resolved), a
definition list as "term: text". The page names itself by a lone <h1>, else its <title>.
trafilatura finds a page's main text well but flattens list nesting and table headers, which
answers need, so the walk is ours. Markdown is rendered to HTML and read by the same walk.
"""

from __future__ import annotations

import re
from typing import Any

from assistant.formats.outline import Outline, looks_like_heading
from assistant.formats.types import Parsed, decode_text

_DROP = frozenset(("script", "style", "noscript", "template", "nav", "header", "footer", "aside",
                   "form", "svg", "button", "iframe", "select", "input", "textarea", "pre", "code",
                   "head"))
_HEADING = re.compile(r"^h([1-6])$")
_BLOCKS = {"p", "ul", "ol", "table", "dl", "blockquote", "div", "section", "article", "main",
           "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "td", "th", "figure", "details",
           "summary", "body", "html", "hr"}
_LINE_MARK = re.compile(r"^line (\d+)$")
_ITEM_LINE = re.compile(r"^\s*(?:[-*+\u2022]|\d{1,2}[.)])\s+(.*\S)")
LONG_ROW_WORDS = 60  # a table row longer than this is read cell by cell, not as one unit


def read_html(data: bytes, source: str) -> Parsed:
    """Parse one HTML page."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data, source), "html.parser")
    metadata: dict[str, Any] = {}
    for meta in _tags(soup, ("meta",)):
        name = meta.get("name") or meta.get("property")
        if name and meta.get("content") and str(name).lower() in (
                "description", "keywords", "author", "og:title", "og:description"):
            metadata[str(name).lower()] = str(meta["content"])
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    root: Any = soup.find("main") or soup.find("article") or soup.find(role="main") \
        or soup.body or soup
    outline = Outline(source)
    walk_html(root, outline, source_lines=True)
    h1s = [h for h in _tags(root, ("h1",)) if h.get_text(strip=True)]
    explicit = None
    if len(h1s) != 1:
        explicit = metadata.get("og:title") or re.split(r"\s+[|\u2013\u2014-]\s+", page_title)[0]
        explicit = " ".join(str(explicit).split()) or None
    if page_title:
        metadata.setdefault("page_title", page_title)
    sections, title = outline.finish(explicit)
    return Parsed(sections=sections, title=title, metadata=metadata)


def walk_html(root: Any, outline: Outline, source_lines: bool = False) -> None:
    """Feed `outline` from an HTML tree (boilerplate elements are removed first).

    With `source_lines`, units are located by the HTML file's own lines; otherwise by the
    `data-line` attributes and `<!--line N-->` marks that the Markdown reader writes.
    """
    for tag in _tags(root, _DROP):
        tag.decompose()
    _close_open_items(root)
    if not source_lines:
        _number_lines(root)
    _Walker(outline, source_lines).block(root)


def _close_open_items(root: Any) -> None:
    """Close list items the way a browser does. Hand-written HTML often leaves an item open
    (`<li>a <li>b</li></ul>`), and html.parser, kept for its source lines, does not apply HTML's
    implied end tags: the items after it nest inside it, and were read as one long bullet. An
    item directly inside an item is moved out to follow it, with what comes after it, so the
    text keeps its order (and its lines)."""
    for outer in _tags(root, ("li",)):
        inner = next(iter(_tags(outer, ("li",), children=True)), None)
        if inner is None:
            continue
        anchor = outer
        for node in [inner, *inner.next_siblings]:
            anchor.insert_after(node.extract())
            anchor = node


def _number_lines(root: Any) -> None:
    """Give every element the source line it starts on (`data-line`), from the Markdown
    reader's marks and the newlines of raw HTML passed through between them."""
    from bs4 import NavigableString, Tag

    line = 0
    for node in root.descendants:
        if isinstance(node, Tag):
            if node.get("data-line"):
                line = _int(node["data-line"])
            else:
                node["data-line"] = str(line)
        elif isinstance(node, NavigableString):
            match = _LINE_MARK.match(str(node).strip()) if _is_comment(node) else None
            if match:
                line = int(match.group(1))
            elif not _is_comment(node):
                line += str(node).count("\n")


def _gather(node: Any, skip: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """An element's text as written (inline pieces joined, a space after each block, a newline
    for each <br>), leaving out `skip` children, and the link targets in it."""
    from bs4 import NavigableString, Tag

    parts: list[str] = []
    links: list[str] = []

    def walk(element: Any) -> None:
        for child in element.children:
            if isinstance(child, NavigableString):
                if not _is_comment(child):
                    parts.append(str(child))
            elif isinstance(child, Tag):
                if child.name in skip:
                    continue
                if child.name == "br":
                    parts.append("\n")
                    continue
                href = str(child.get("href") or "") if child.name == "a" else ""
                if href and not href.startswith("#"):
                    links.append(href)
                walk(child)
                if child.name in _BLOCKS:
                    parts.append(" ")

    if isinstance(node, NavigableString):
        return ("" if _is_comment(node) else str(node)), []
    walk(node)
    return "".join(parts), links


def element_text(node: Any) -> str:
    """An element's words: inline pieces joined as written ("<abbr>IC</abbr>1" is "IC1"),
    blocks and line breaks apart."""
    return " ".join(_gather(node)[0].split())


def _is_comment(node: Any) -> bool:
    return type(node).__name__ in ("Comment", "Doctype", "Declaration", "ProcessingInstruction",
                                   "CData")


class _Walker:
    def __init__(self, outline: Outline, source_lines: bool):
        self.outline = outline
        self.source_lines = source_lines
        self.at = 0  # the source line of what is being read

    # ------------------------------------------------------------------------------------
    def line(self, node: Any) -> int:
        if self.source_lines:
            self.at = int(getattr(node, "sourceline", 0) or self.at)
        elif node.get("data-line"):
            self.at = int(node["data-line"])
        return self.at

    def text(self, node: Any, skip: tuple[str, ...] = ()) -> tuple[str, tuple[str, ...], list[int]]:
        """Visible words of an element (without the `skip` children), its link targets, and
        the offsets where the source broke lines (for the line each sentence starts on)."""
        gathered, links = _gather(node, skip)
        raw = gathered.strip()
        breaks: list[int] = []
        out: list[str] = []
        for k, line in enumerate(raw.split("\n")):
            line = " ".join(line.split())
            if not line:
                continue
            if out and k:
                breaks.append(len(" ".join(out)) + 1)
            out.append(line)
        return " ".join(out), tuple(dict.fromkeys(links)), breaks

    # ------------------------------------------------------------------------------------
    def block(self, node: Any, depth: int = 0, label: str = "") -> None:
        from bs4 import NavigableString, Tag

        loose: list[str] = []  # text directly inside a <div>, outside any <p>

        def flush_loose() -> None:
            text = " ".join(" ".join(loose).split())
            loose.clear()
            if text:
                self.outline.paragraph(text, self.at)

        for child in list(node.children):
            if isinstance(child, NavigableString):
                if not _is_comment(child):
                    loose.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name not in _BLOCKS:
                loose.append(self.text(child)[0])
                continue
            flush_loose()
            heading = _HEADING.match(name)
            if heading:
                self.outline.heading(int(heading.group(1)), self.text(child)[0], self.line(child))
            elif name == "p":
                self.paragraph(child)
            elif name in ("ul", "ol"):
                self.list(child, depth, label)
                if depth == 0:
                    self.outline.end_list()
            elif name == "table":
                self.table(child)
            elif name == "dl":
                self.definitions(child, depth, label)
            elif name == "hr":
                continue
            else:  # div, section, article, blockquote, figure, details, a stray li or td...
                self.line(child)
                self.block(child, depth, label)
        flush_loose()

    def paragraph(self, node: Any) -> None:
        line = self.line(node)
        text, links, breaks = self.text(node)
        if _only_bold(node) and looks_like_heading(text):
            # a bold line on its own is a heading the author did not mark as one
            self.outline.heading(self.outline.pseudo_level, text, line, marked=False)
            return
        if _bold_led(node):  # "**Location:** DC" is a peer of a "**Salary Range:**" line
            self.outline.close_pseudo()
        raw_lines = [" ".join(part.split()) for part in _lines_of(node)]
        if sum(1 for part in raw_lines[1:] if _ITEM_LINE.match(part)) >= 1:
            self.mixed(raw_lines, line, links)
            return
        self.outline.paragraph(text, line, links, tuple(breaks))

    def mixed(self, lines: list[str], line: int, links: tuple[str, ...]) -> None:
        """A paragraph whose later lines are list items (an indented list CommonMark read
        as paragraph text): the lead-in stays prose, each "- item" line becomes an item."""
        lead: list[str] = []
        items: list[tuple[int, str]] = []
        for k, part in enumerate(lines):
            match = _ITEM_LINE.match(part)
            if match:
                items.append((line + k, match.group(1)))
            elif items:
                items[-1] = (items[-1][0], f"{items[-1][1]} {part}".strip())
            else:
                lead.append(part)
        if lead:
            self.outline.paragraph(" ".join(lead), line, links)
        for at, item in items:
            self.outline.item(item, at)
        self.outline.end_list()

    def list(self, node: Any, depth: int, label: str) -> None:
        for item in _tags(node, ("li",), children=True):
            line = self.line(item)
            text, links, _ = self.text(item, skip=("ul", "ol", "table"))
            nested = _tags(item, ("ul", "ol", "table"), children=True)
            if text:
                self.outline.item(text, line, depth, label,
                                  is_label=any(c.name in ("ul", "ol") for c in nested),
                                  links=links)
            for child in nested:
                if child.name == "table":
                    self.table(child)
                else:
                    self.list(child, depth + 1, text or label)

    def definitions(self, node: Any, depth: int, label: str) -> None:
        term = ""
        for item in _tags(node, ("dt", "dd")):
            text, links, _ = self.text(item)
            if item.name == "dt":
                term = text
            elif text:
                self.outline.item(f"{term}: {text}" if term else text, self.line(item), depth,
                                  label, links=links)

    # ------------------------------------------------------------------------------------
    def table(self, node: Any) -> None:
        """Rows with their column headers; a long row cell by cell under its row header."""
        grid = _grid(node)
        if not grid:
            return
        headers: list[str] = []
        first = 0
        # leading rows of one cell across every column are the table's caption, not headers
        while first < len(grid) - 1 and sum(c["origin"] for c in grid[first]["cells"]) == 1 \
                and len(grid[first]["cells"]) > 1:
            caption = grid[first]
            self.outline.row([caption["cells"][0]["text"]], [], self.line(caption["node"]))
            first += 1
        head_rows = [r for r in grid[first:] if r["head"]]
        if head_rows:
            headers = [c["text"] for c in head_rows[-1]["cells"]]
            first = grid.index(head_rows[-1]) + 1
        elif all(c["th"] for c in grid[first]["cells"]):
            headers = [c["text"] for c in grid[first]["cells"]]
            first += 1
        depth = self.outline.depth()
        opened = ""
        grid_opens = False  # a long row has opened a sub-section under its row header
        for row in grid[first:]:
            line = self.line(row["node"])
            cells = row["cells"]
            own = [c for c in cells if c["origin"]]
            if not own:
                continue
            words = sum(len(c["text"].split()) for c in own)
            lists = any(c["items"] for c in own)
            if words <= LONG_ROW_WORDS and not lists:
                head = next((c for c in cells if c["th"] and c["col"] == 0), None)
                alone = head is not None and own == [head] and head["span"] == 1
                if opened and (head is None or head["text"] != opened):
                    self.outline.close_to(depth)  # not a row of the last sub-section
                    opened = ""
                if head is not None and head["text"] != opened and (alone or grid_opens):
                    # a row header alone (its rows below), or one of a table whose row
                    # headers open sub-sections: it opens its own
                    self.outline.heading(self.outline.pseudo_level, head["text"], line,
                                         marked=False)
                    opened = head["text"]
                if alone:
                    continue
                texts = [c["text"] if c["origin"] or c["th"] else "" for c in cells]
                named = headers[:len(cells)]
                if named and cells[0]["th"]:  # a row header reads as itself ("Quota Target")
                    named = ["", *named[1:]]
                self.outline.row(texts, named, line)
                continue
            # a long row: the row header (a level, a category) opens a sub-section of its
            # own, and each cell is a unit of it, named by its column header
            head = next((c for c in cells if c["th"] and c["col"] == 0), None)
            if head is not None and head["text"] != opened:
                grid_opens = True
                self.outline.close_to(depth)
                self.outline.heading(self.outline.pseudo_level, head["text"], line, marked=False)
                opened = head["text"]
            for cell in own:
                if cell is head:
                    continue
                spans_all = cell["span"] > 1 and cell["span"] >= len(headers) - 1
                header = "" if spans_all or not headers or cell["col"] >= len(headers) \
                    else headers[cell["col"]]
                lead = cell["lead"]
                unit = f"{header}: {lead}" if header and lead else (lead or header)
                if unit and cell["items"]:  # a cell that lists: its lead labels the list
                    self.outline.item(unit, line, 0, is_label=True)
                elif unit:
                    self.outline.row([unit], [], line)
                for item in cell["items"]:
                    self.outline.item(item, line, 1, unit)
                self.outline.end_list()
        self.outline.close_to(depth)


def _lines_of(node: Any) -> list[str]:
    """The element's text split where the source (or a <br>) broke the line."""
    return [part for part in _gather(node)[0].split("\n") if part.strip()]


def _bold_led(node: Any) -> bool:
    """Whether an element's text starts with a bold run ("<b>Location:</b> DC")."""
    from bs4 import NavigableString, Tag

    for child in node.children:
        if isinstance(child, NavigableString):
            if _is_comment(child) or not str(child).strip():
                continue
            return False
        if isinstance(child, Tag):
            return child.name in ("strong", "b") and bool(child.get_text(strip=True))
    return False


def _only_bold(node: Any) -> bool:
    from bs4 import NavigableString, Tag

    bold = False
    for child in node.children:
        if isinstance(child, NavigableString):
            if not _is_comment(child) and str(child).strip() not in ("", ":"):
                return False
        elif isinstance(child, Tag) and child.name in ("strong", "b"):
            bold = True
        elif isinstance(child, Tag) and child.name == "br":
            continue
        else:
            return False
    return bold


def _grid(table: Any) -> list[dict[str, Any]]:
    """The table's rows with row and column spans resolved: each row lists, per column, the
    cell covering it (its text, whether it is a header, and whether it starts there)."""
    rows: list[dict[str, Any]] = []
    carry: dict[int, list[Any]] = {}  # column -> [cell, rows it still covers below]

    def spanned(col: int, cells: list[dict[str, Any]]) -> None:
        cell, left = carry[col]
        cells.append(cell | {"origin": False})
        if left <= 1:
            del carry[col]
        else:
            carry[col][1] = left - 1

    for tr in _tags(table, ("tr",)):
        if tr.find_parent("table") is not table:
            continue  # a row of a nested table
        cells: list[dict[str, Any]] = []
        col = 0
        for td in _tags(tr, ("td", "th"), children=True):
            while col in carry:
                spanned(col, cells)
                col += 1
            span = max(_int(td.get("colspan")), 1)
            down = max(_int(td.get("rowspan")), 1)
            lead = [element_text(child) for child in td.children
                    if getattr(child, "name", None) not in ("ul", "ol")]
            items = [element_text(li) for li in _tags(td, ("li",))]
            # a cell all in bold is a header written the way document editors export one
            cell = {"text": element_text(td), "th": td.name == "th" or _only_bold(td),
                    "col": col, "span": span, "origin": True,
                    "lead": " ".join(" ".join(lead).split()), "items": [i for i in items if i]}
            for k in range(span):
                cells.append(cell if k == 0 else cell | {"origin": False})
                if down > 1:
                    carry[col + k] = [cell, down - 1]
            col += span
        while col in carry:  # spans from above that cover the end of this row
            spanned(col, cells)
            col += 1
        rows.append({"node": tr, "head": tr.find_parent("thead") is not None, "cells": cells})
    return rows


def _tags(node: Any, names: Any, children: bool = False) -> list[Any]:
    """The elements named `names` among a node's descendants (or only its children), in
    document order: BeautifulSoup's `find_all` gives the same, but its matching machinery took
    a tenth of the time of reading a Markdown posting (ten times this loop's cost)."""
    from bs4 import Tag

    nodes = node.children if children else node.descendants
    return [n for n in nodes if isinstance(n, Tag) and n.name in names]


def _int(value: Any) -> int:
    try:
        return int(str(value or 1).strip())
    except ValueError:
        return 1
