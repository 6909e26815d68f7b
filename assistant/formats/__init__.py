"""Readers for the formats HR keeps role documents in, named by file suffix, imported lazily.

Each reader turns a file's bytes into `Parsed` sections (see `formats.types`); Markdown, Word,
HTML and PDF readers share the section builder in `formats.outline`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from assistant.formats.types import Parsed

# suffix -> "module:function"; a reader takes (data: bytes, source: str) and returns Parsed
READERS: dict[str, str] = {
    ".txt": "assistant.formats.plaintext:read_plain",
    ".text": "assistant.formats.plaintext:read_plain",
    ".md": "assistant.formats.markdown:read_markdown_bytes",
    ".markdown": "assistant.formats.markdown:read_markdown_bytes",
    ".pdf": "assistant.formats.pdf:read_pdf",
    ".docx": "assistant.formats.docx:read_docx",
    ".html": "assistant.formats.html:read_html",
    ".htm": "assistant.formats.html:read_html",
}

SUFFIXES = tuple(READERS)


def reader_for(suffix: str) -> Callable[[bytes, str], Parsed]:
    """The reader for a file suffix (KeyError for a format we do not read)."""
    module, _, name = READERS[suffix.lower()].partition(":")
    reader: Callable[[bytes, str], Parsed] = getattr(importlib.import_module(module), name)
    return reader


__all__ = ["Parsed", "READERS", "SUFFIXES", "reader_for"]
