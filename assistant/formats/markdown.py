"""Markdown through a CommonMark parser (markdown-it-py), read the way a browser shows it.

Handbook Markdown mixes Markdown with raw HTML (tables, lists, anchors), so the document is
rendered to HTML by markdown-it (raw HTML passes through, as on the published page) and the
HTML is read by the same walker as web pages (`formats.html`). That walker keeps headings at
every level, list nesting, link targets and table headers. Here:
- YAML front matter becomes the document's metadata (never text); its `title` names it;
- template tags of site generators (`{% page "/x" %}`, `{{ site.baseurl }}`, Hugo's
  `{{< ... >}}`) are not prose: a tag reads as its last quoted argument, or as nothing;
- every block is marked with its source line, so units keep the line they came from.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from assistant.formats.html import walk_html
from assistant.formats.outline import Outline
from assistant.formats.types import Parsed, decode_text

# Liquid/Jinja tags and Hugo shortcodes. markdown-it has no plugin that removes them, so
# this one pattern is ours; newlines inside a tag are kept so line numbers stay right.
_TEMPLATE = re.compile(r"\{\{[<%].*?[%>]\}\}|\{%.*?%\}|\{\{.*?\}\}", re.DOTALL)
_QUOTED = re.compile(r"\"([^\"]*)\"|'([^']*)'")


def _template_text(match: re.Match[str]) -> str:
    tag = match.group(0)
    quoted = [a or b for a, b in _QUOTED.findall(tag)]
    keep = quoted[-1] if quoted and tag.startswith("{%") else ""
    return keep.strip() + "\n" * tag.count("\n")


@functools.cache  # one parser for every file: building one cost as much as parsing a posting
def _parser() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.front_matter import front_matter_plugin

    return MarkdownIt("commonmark", {"html": True}).enable("table").use(front_matter_plugin)


def read_markdown(text: str, source: str) -> Parsed:
    """Parse one Markdown document."""
    from bs4 import BeautifulSoup

    md = _parser()
    tokens = md.parse(_TEMPLATE.sub(_template_text, text))
    metadata: dict[str, Any] = {}
    warnings: list[str] = []
    for token in tokens:
        if token.type == "front_matter":
            metadata, problem = _front_matter(token.content)
            if problem:
                warnings.append(f"{source}: front matter ignored ({problem})")
        elif token.map and token.type == "html_block":
            token.content = f"<!--line {token.map[0] + 1}-->{token.content}"
        elif token.map and token.nesting == 1:
            token.attrSet("data-line", str(token.map[0] + 1))
    html = md.renderer.render([t for t in tokens if t.type != "front_matter"], md.options, {})
    outline = Outline(source)
    walk_html(BeautifulSoup(html, "html.parser"), outline)
    title = metadata.get("title")
    title = " ".join(str(title).split()) if isinstance(title, (str, int, float)) and \
        str(title).strip() else None
    sections, title = outline.finish(title)
    return Parsed(sections=sections, title=title, metadata=metadata, warnings=warnings)


def read_markdown_bytes(data: bytes, source: str) -> Parsed:
    """Read a Markdown file's bytes (UTF-8)."""
    return read_markdown(decode_text(data, source), source)


def _front_matter(content: str) -> tuple[dict[str, Any], str]:
    import yaml

    try:
        data = yaml.load(content, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        return {}, str(exc).splitlines()[0]
    if data is None:
        return {}, ""
    if not isinstance(data, dict):
        return {}, "it is not a mapping of fields"
    return {str(k): v for k, v in data.items()}, ""
