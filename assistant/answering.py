"""Answerers: turn retrieved passages into a cited reply. Named by string, built lazily.

The default `extractive` answerer writes no words of its own about the role: it quotes the
bullets and sentences of the retrieved passages that answer the question, grouped by section,
each marked [n]. Numbers can only come from the documents because nothing else is said.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.documents import Document

from assistant.chunking import render_unit
from assistant.settings import Settings
from assistant.text import match_key, stems
from assistant.types import Citation, Unit


@dataclass
class AnswerInput:
    """Everything an answerer may use."""

    question: str
    query: str
    documents: list[Document]
    unit_scores: Any  # cosine of every unit (corpus order) to the query
    unit_texts: list[str]
    unit_meta: list[dict[str, Any]]
    focus: list[str] = field(default_factory=list)
    avoid: list[str] = field(default_factory=list)


@dataclass
class Draft:
    """An answer and the citations its [n] markers refer to."""

    answer: str
    citations: list[Citation]


@dataclass
class _Group:
    document: Document
    units: list[int]


class ExtractiveAnswerer:
    """Quote the passages' own bullets and sentences that answer the question."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def __call__(self, data: AnswerInput) -> Draft:
        if not data.documents:
            return Draft("", [])
        retrieved = {d.metadata["chunk_id"] for d in data.documents}
        by_chunk: dict[str, list[int]] = {}
        for i, meta in enumerate(data.unit_meta):
            if meta["chunk_id"] in retrieved and meta.get("kind") != "title":
                by_chunk.setdefault(meta["chunk_id"], []).append(i)
        # a small bonus for the question's own words, on the retrieved passages' units only
        query_stems = set(stems(data.query))
        scores = np.asarray(data.unit_scores, dtype=np.float32).copy()
        for units in by_chunk.values():
            for i in units:
                overlap = query_stems & set(stems(data.unit_texts[i]))
                scores[i] += 0.05 * min(len(overlap), 3)

        groups = self._select(data, by_chunk, scores)
        return self._render(groups, data)

    # ------------------------------------------------------------------------------------
    def _select(self, data: AnswerInput, by_chunk: dict[str, list[int]], scores: Any) -> list[_Group]:
        limit = self.settings.max_answer_units
        documents = data.documents
        if data.focus:  # a follow-up that names what it is about: quote exactly that
            focus = {match_key(f) for f in data.focus}
            for document in documents:
                units = [i for i in by_chunk.get(document.metadata["chunk_id"], [])
                         if match_key(data.unit_texts[i]) in focus
                         or match_key(data.unit_meta[i].get("label", "")) in focus]
                if units and document.metadata["chunk_id"] not in data.avoid:
                    return [_Group(document, self._with_labels(units, data, by_chunk, document))]

        def passages(document: Document) -> list[list[int]]:
            """The chunk's units grouped by their own section (a packed chunk has several)."""
            groups: dict[str, list[int]] = {}
            for i in by_chunk.get(document.metadata["chunk_id"], []):
                if data.unit_meta[i]["kind"] != "heading":
                    groups.setdefault(data.unit_meta[i]["section"], []).append(i)
            return list(groups.values())

        def best(units: list[int]) -> float:
            return max(float(scores[i]) for i in units)

        primary_doc = documents[0]
        candidates = passages(primary_doc)
        if not candidates:
            return []
        primary = max(candidates, key=best)
        top = best(primary)
        if primary_doc.metadata.get("kind") == "overview" or len(primary) <= 5:
            chosen = primary[:limit]
        else:
            chosen = self._focused(primary, scores, top, limit, data)
        groups = [_Group(primary_doc, chosen)]
        used = len(chosen)
        seen = {match_key(data.unit_texts[i]) for i in chosen}
        for document in documents[:3]:
            for passage in passages(document):
                if used >= limit or passage is primary:
                    continue
                extra = [i for i in passage if data.unit_meta[i]["kind"] in ("bullet", "sentence")
                         and float(scores[i]) >= top - self.settings.secondary_margin
                         and match_key(data.unit_texts[i]) not in seen]
                extra = sorted(extra, key=lambda i: -float(scores[i]))[:2]
                if extra:
                    extra = self._with_labels(sorted(extra), data, by_chunk, document)
                    groups.append(_Group(document, extra))
                    used += len(extra)
                    seen |= {match_key(data.unit_texts[i]) for i in extra}
        return groups

    def _focused(self, body: list[int], scores: Any, best: float, limit: int,
                 data: AnswerInput) -> list[int]:
        """From a long passage, the best group: a label with its bullets, or close bullets."""
        groups: dict[str, list[int]] = {}
        for i in body:
            meta = data.unit_meta[i]
            key = data.unit_texts[i] if meta["kind"] == "label" else meta.get("label") or f"#{i}"
            groups.setdefault(key, []).append(i)
        scored = sorted(groups.values(), key=lambda g: -max(float(scores[i]) for i in g))
        top = max(float(scores[i]) for i in scored[0])
        out: list[int] = []
        for group in scored:
            score = max(float(scores[i]) for i in group)
            labelled = len(group) > 1 or data.unit_meta[group[0]]["kind"] == "label"
            if score < top - (0.03 if labelled else 0.08) or len(out) >= limit:
                break
            out.extend(group)
        return sorted(out)[: limit + 4]

    def _with_labels(self, units: list[int], data: AnswerInput, by_chunk: dict[str, list[int]],
                     document: Document) -> list[int]:
        out = set(units)
        for i in units:
            label = data.unit_meta[i].get("label")
            if label:
                out |= {j for j in by_chunk.get(document.metadata["chunk_id"], [])
                        if data.unit_meta[j]["kind"] == "label" and data.unit_texts[j] == label}
        return sorted(out)

    def _render(self, groups: list[_Group], data: AnswerInput) -> Draft:
        parts: list[str] = []
        citations: list[Citation] = []
        for group in groups:
            meta = group.document.metadata
            section = data.unit_meta[group.units[0]]["section"] if group.units else meta["section"]
            n = len(citations) + 1
            lines = [f"{_render_unit(i, data)} [{n}]" for i in group.units]
            parts.append(f"**{section}**\n" + "\n".join(lines))
            passage = [i for i, m in enumerate(data.unit_meta)
                       if m["chunk_id"] == meta["chunk_id"] and m["section"] == section
                       and m["kind"] != "title"]
            text = _passage_text(passage, data) or group.document.page_content
            lines_of = [int(data.unit_meta[i].get("line", 0)) for i in passage] or [0]
            citations.append(Citation(n, meta["source"], section, text,
                                      min(lines_of), max(lines_of)))
        return Draft("\n\n".join(parts), citations)


def _render_unit(i: int, data: AnswerInput) -> str:
    meta = data.unit_meta[i]
    return render_unit(Unit(data.unit_texts[i], int(meta.get("line", 0)), meta["kind"],
                            meta.get("label", "")))


def _passage_text(units: list[int], data: AnswerInput) -> str:
    """A section's passage as the documents show it (bullets keep their nesting)."""
    return "\n".join(_render_unit(i, data) for i in units)


ANSWERERS: dict[str, Callable[[Settings], Callable[[AnswerInput], Draft]]] = {
    "extractive": ExtractiveAnswerer,
}


def make_answerer(settings: Settings) -> Callable[[AnswerInput], Draft]:
    """Build the configured answerer."""
    try:
        return ANSWERERS[settings.answerer](settings)
    except KeyError:
        raise ValueError(
            f"Unknown answerer {settings.answerer!r}; choose one of {sorted(ANSWERERS)}"
        ) from None
