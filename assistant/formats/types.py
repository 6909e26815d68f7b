"""What every format reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.types import Section


@dataclass
class Parsed:
    """One document's sections, its own title (if it states one) and metadata."""

    sections: list[Section]
    title: str | None = None  # front matter title, Word/PDF/HTML title, or a lone top heading
    metadata: dict[str, Any] = field(default_factory=dict)  # front matter fields and the like
    warnings: list[str] = field(default_factory=list)  # problems that did not stop the read
    locator: str = "line"  # what Unit.line counts: "line" in text files, "page" in PDFs


def decode_text(data: bytes, source: str) -> str:
    """A text file's bytes as UTF-8 (a BOM is allowed), or CorpusError naming the file."""
    from assistant.types import CorpusError

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{source}: is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8."
        ) from exc
    if "\x00" in text:
        raise CorpusError(f"{source}: looks like a binary file, not text.")
    return text
