"""Turn a stream of headings, paragraphs, list items and table rows into `Section`s.

Every reader with explicit structure (Markdown, Word, HTML, PDF) walks its own format and feeds
this builder, so all of them agree on what a section path, an overview, a label and a table row
are. Headings nest at every depth: a heading's path is the chain of headings above it.
"""

from __future__ import annotations

from dataclasses import replace

from assistant.text import clean, sentences
from assistant.types import Section, Unit


class Outline:
    """Collects a document's sections as its reader walks it, in document order."""

    def __init__(self, source: str):
        self.source = source
        self.sections: list[Section] = []
        self._stack: list[tuple[int, Section, bool]] = []  # (level, section, marked heading)
        self._root: Section | None = None  # text before the first heading
        self._pending: tuple[str, int, tuple[str, ...]] | None = None  # "...:" before a list
        self._lead = ""  # the "...:" paragraph that labels the list being read
        self._colon: tuple[int, str] | None = None  # an "...:" item labelling its siblings
        self.real_level = 0  # level of the innermost heading the author marked as one
        self.levels: list[tuple[int, str]] = []  # every heading's (level, text), in order

    # ------------------------------------------------------------------------------------
    @property
    def current(self) -> Section:
        if self._stack:
            return self._stack[-1][1]
        if self._root is None:
            self._root = Section(self.source, ())
            self.sections.append(self._root)
        return self._root

    @property
    def pseudo_level(self) -> int:
        """Where a bold line on its own nests: under the last real heading, or (before any)
        below every real heading, so the author's own headings are never nested under it."""
        return self.real_level + 1 if self.real_level else 7

    def heading(self, level: int, text: str, line: int, marked: bool = True) -> None:
        """Open a section under the nearest heading of a lower level.

        `marked` is False for a pseudo-heading (a bold line on its own): it sits one level
        under the last real heading, so a run of them are siblings.
        """
        text = clean(text).rstrip(":").strip()
        if not text:
            return
        self._flush()
        self._lead = ""
        self._colon = None
        if marked:
            self.real_level = level
        self.levels.append((level, text))
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        if marked:  # a real heading also closes the pseudo-headings above its level
            while self._stack and not self._stack[-1][2]:
                self._stack.pop()
        parent = self._stack[-1][1] if self._stack else None
        path = (parent.path if parent else ()) + (text,)
        if parent is not None:  # the parent lists its sub-sections: it is an overview now
            parent.kind = "overview"
            parent.units.append(Unit(text, line, "item"))
        section = Section(self.source, path, [Unit(text, line, "heading")])
        self.sections.append(section)
        self._stack.append((level, section, marked))

    def paragraph(self, text: str, line: int, links: tuple[str, ...] = (),
                  breaks: tuple[int, ...] = ()) -> None:
        """Prose: one unit per sentence. A paragraph ending in ':' labels the list after it.

        `breaks` are offsets in `text` where the source had a line break, so each sentence
        keeps the line it starts on.
        """
        cleaned = clean(text)
        if cleaned != text.strip():  # offsets of line breaks no longer hold: keep them roughly
            breaks = tuple(min(b, len(cleaned)) for b in breaks)
        text = cleaned
        if not text:
            return
        self._flush()
        self._lead = ""
        self._colon = None
        if text.endswith(":"):
            self._pending = (text, line, links)
            return
        offset = 0
        for sentence in sentences(text):
            start = text.find(sentence, offset)
            offset = max(start, 0) + len(sentence)
            at = line + sum(1 for b in breaks if b <= max(start, 0))
            self.current.units.append(Unit(sentence, at, "sentence", links=links))

    def item(self, text: str, line: int, depth: int = 0, label: str = "",
             is_label: bool = False, links: tuple[str, ...] = ()) -> None:
        """A list item; `label` is the item (or "...:" paragraph) a nested item belongs to."""
        text, label = clean(text), clean(label)
        if not text:
            return
        if self._pending is not None:
            lead, lead_line, lead_links = self._pending
            self._pending = None
            if depth == 0:  # the "...:" paragraph announces this list: it labels the items
                self.current.units.append(Unit(lead, lead_line, "label", links=lead_links))
                self._lead = lead
            else:
                self.current.units.append(Unit(lead, lead_line, "sentence", links=lead_links))
        if self._lead:  # items of an announced list sit one level under its label
            label = label or self._lead
            depth += 1
        elif depth == 0 and label:
            depth = 1
        if self._colon is not None and not is_label:
            at, lead = self._colon
            if depth < at or (depth == at and text.endswith(":")):
                self._colon = None
            elif depth == at:  # "Typical duties include:" followed by its duties as siblings
                label, depth = lead, depth + 1
        if text.endswith(":") and not is_label and self._colon is None:
            self._colon = (depth, text)
            is_label = True
        units = self.current.units
        if depth > 0 and not label and units and units[-1].kind == "bullet" \
                and units[-1].depth == depth - 1:
            # formats without nesting in their markup (Word, PDF) show it by indent alone:
            # the item just above an indented one is the label of the group
            units[-1] = replace(units[-1], kind="label")
            label = units[-1].text
        kind = "label" if is_label else "bullet"
        self.current.units.append(Unit(text, line, kind, label=label, depth=depth, links=links))

    def row(self, cells: list[str], headers: list[str], line: int, label: str = "") -> None:
        """One table row, read with its column headers: "Level: Senior; Grade: 7"."""
        if self._pending is not None:  # "...:" announcing a table labels its rows
            lead, lead_line, lead_links = self._pending
            self._pending = None
            self.current.units.append(Unit(lead, lead_line, "label", links=lead_links))
            self._lead = lead
        elif self.current.units and self.current.units[-1].kind != "row":
            self._lead = ""  # a table after a list is not part of it
        label = label or self._lead
        parts = []
        for i, cell in enumerate(cells):
            cell = clean(cell)
            if not cell:
                continue
            header = clean(headers[i]) if i < len(headers) else ""
            parts.append(f"{header}: {cell}" if header and header != cell else cell)
        if parts:
            self.current.units.append(Unit("; ".join(parts), line, "row", label=label,
                                           depth=1 if label else 0))

    def close_pseudo(self) -> None:
        """End the sections opened by pseudo-headings: what follows is their peer.

        "**Salary Range:**" alone on a line, its value below, then "**Location:** DC": the
        bold-led paragraph is the next field, not part of the salary range.
        """
        self._flush()
        while self._stack and not self._stack[-1][2]:
            self._stack.pop()

    def depth(self) -> int:
        """How many headings are open (see `close_to`)."""
        return len(self._stack)

    def close_to(self, depth: int) -> None:
        """Close the headings opened after `depth()` returned `depth`."""
        self._flush()
        del self._stack[depth:]

    def end_list(self) -> None:
        """The list (and the "...:" paragraph labelling it) is over."""
        self._lead = ""
        self._colon = None

    # ------------------------------------------------------------------------------------
    def _flush(self) -> None:
        """A "...:" paragraph that no list followed is just a sentence."""
        if self._pending is not None:
            text, line, links = self._pending
            self._pending = None
            self.current.units.append(Unit(text, line, "sentence", links=links))

    def finish(self, title: str | None = None) -> tuple[list[Section], str | None]:
        """The sections that say something, and the document's title.

        `title` is an explicit title (front matter, document properties); without one, a lone
        level-1 heading that comes first names the document. A bare heading with nothing
        under it is dropped.
        """
        self._flush()
        ones = [text for level, text in self.levels if level == 1]
        lone = ones[0] if len(ones) == 1 and self.levels[0] == (1, ones[0]) else None
        sections = [s for s in self.sections if any(u.kind != "heading" for u in s.units)]
        return strip_title_heading(sections, title, lone)


def looks_like_heading(text: str) -> bool:
    """Could a line set apart in bold be a heading: short, and not a sentence?"""
    return 0 < len(text.split()) <= 12 and not text.rstrip().endswith((".", "!", "?", ","))


def strip_title_heading(sections: list[Section], title: str | None,
                        lone_top: str | None) -> tuple[list[Section], str | None]:
    """Drop a heading that only names the document from every path; return the title.

    A title heading either repeats the known title (front matter `title`), or is the lone
    level-1 heading the whole document sits under (`# Backend Engineer`, Word's Title style).
    It names the document, so it leads every path once, as the title, instead of twice.
    """
    from assistant.text import match_key

    tops = list(dict.fromkeys(s.path[0] for s in sections if s.path))
    wanted = title if title is not None else lone_top
    found = next((t for t in tops if wanted and match_key(t) == match_key(wanted)), None)
    if found is None:
        return sections, title or lone_top
    out: list[Section] = []
    root: Section | None = next((s for s in sections if not s.path), None)
    for section in sections:
        if not section.path or section.path[0] != found:
            out.append(section)
            continue
        units = [u for u in section.units if not (u.kind == "heading" and len(section.path) == 1)]
        if len(section.path) == 1:  # the title heading's own text joins the document's intro
            if root is None:
                root = Section(section.source, (), [], section.kind)
                out.insert(0, root)
            root.units.extend(units)
            if section.kind == "overview":
                root.kind = "overview"
            continue
        out.append(replace(section, path=section.path[1:], units=units))
    return [s for s in out if any(u.kind != "heading" for u in s.units)], title or found
