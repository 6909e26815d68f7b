"""Plain text whose structure is implicit: headings, sub-headings, bullets, glued summaries.

A role document pasted as plain text has no heading marks. Its layout still tells: a short line
without closing punctuation is a heading; a heading that opens with a prose introduction after a
section's closing summary starts a new top-level section; "Label:" bullets group the bullets
under them; and a section's closing summary is sometimes glued onto its last bullet ("...
stakeholders The role of a Senior ..."). A text file that uses Markdown `#` headings is read as
Markdown.
"""

from __future__ import annotations

import re

from assistant.formats.types import Parsed, decode_text
from assistant.text import sentences
from assistant.types import Section, Unit

_BULLET = re.compile(r"^\s*(?:[-*\u2022\u2013]|\d{1,2}[.)])\s+")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FUNCTION_WORDS = frozenset(
    "a an and as at by for from in into of on or the to with like such than via".split()
)
# A summary paragraph glued onto a bullet starts with a capitalised word ("The", "In",
# "Mastering") right after a lowercase word or a full stop; acronyms ("AI") never start one.
_GLUE = re.compile(r"(?<=[a-z0-9.)%])\s+(?=[A-Z][a-z]+\b)")


def read_plain(data: bytes, source: str) -> Parsed:
    """Read a plain-text role document (Markdown headings, if it has them, make it Markdown)."""
    text = decode_text(data, source)
    if any(_MD_HEADING.match(line) for line in text.splitlines()):
        from assistant.formats.markdown import read_markdown

        return read_markdown(text, source)
    return Parsed(sections=parse_plain(text, source))


def parse_plain(text: str, source: str) -> list[Section]:
    """Sections of a plain-text document, recovered from its layout."""
    lines = [(i + 1, line.rstrip()) for i, line in enumerate(text.splitlines())]
    return _parse_plain(lines, source)




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
        path = (title,) if title else ()  # prose before any heading: the document's intro
        heading = [Unit(title, line, "heading")] if title else []
        overview = Section(source, path, heading, kind="overview")
        summary = Section(source, path, [], kind="summary")
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
        if current is None:  # prose before any heading: the document's own introduction
            open_top("", line)
        assert current is not None and summary is not None
        if kind == "prose":
            # prose right under a heading introduces it; prose after bullets closes the section
            target = current if current.kind == "overview" or not current.units else summary
            target.units.extend(Unit(s, line, "sentence") for s in sentences(text.strip()))
            continue
        body = _strip_bullet(text)
        tail = ""
        if i in summaries:
            body, tail = summaries[i]
        if body.endswith(":") and next_kind(i) == "bullet":
            label = body
            current.units.append(Unit(body, line, "label"))
        else:
            current.units.append(Unit(body, line, "bullet", label, depth=1 if label else 0))
        if tail:
            summary.units.extend(Unit(s, line, "sentence") for s in sentences(tail))
    # A section's closing summary joins its overview (intro + list of sub-sections): one
    # passage that answers "what does this section say overall", instead of two thin ones.
    for i, section in enumerate(sections):
        if section.kind == "summary" and section.units and i > 0:
            overview = sections[i - 1]
            if overview.kind == "overview" and overview.path == section.path:
                overview.units.extend(section.units)
                section.units = []
    return [s for s in sections if s.units]
