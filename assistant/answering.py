"""Answerers: turn retrieved passages into a cited reply. Named by string, built lazily.

The default `extractive` answerer writes no words of its own about the role: it quotes the
bullets and sentences of the retrieved passages that answer the question, grouped by section,
each marked [n]. Numbers can only come from the documents because nothing else is said.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from langchain_core.documents import Document

from assistant.settings import Settings
from assistant.text import stems
from assistant.types import Citation


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
        by_chunk: dict[str, list[int]] = {}
        for i, meta in enumerate(data.unit_meta):
            if meta.get("kind") != "title":
                by_chunk.setdefault(meta["chunk_id"], []).append(i)
        query_stems = set(stems(data.query))
        scores = np.asarray(data.unit_scores, dtype=np.float32).copy()
        for i in {i for units in by_chunk.values() for i in units}:
            overlap = query_stems & set(stems(data.unit_texts[i]))
            scores[i] += 0.05 * min(len(overlap), 3)

        groups = self._select(data, by_chunk, scores)
        return self._render(groups, data)

    # ------------------------------------------------------------------------------------
    def _select(self, data: AnswerInput, by_chunk: dict[str, list[int]], scores: Any) -> list[_Group]:
        limit = self.settings.max_answer_units
        documents = data.documents
        if data.focus:  # a follow-up that names what it is about: quote exactly that
            focus = {_key(f) for f in data.focus}
            for document in documents:
                units = [i for i in by_chunk.get(document.metadata["chunk_id"], [])
                         if _key(data.unit_texts[i]) in focus
                         or _key(data.unit_meta[i].get("label", "")) in focus]
                if units and document.metadata["chunk_id"] not in data.avoid:
                    return [_Group(document, self._with_labels(units, data, by_chunk, document))]
        primary = documents[0]
        units = by_chunk.get(primary.metadata["chunk_id"], [])
        if not units:
            return []
        best = max(float(scores[i]) for i in units)
        body = [i for i in units if data.unit_meta[i]["kind"] not in ("heading",)]
        if primary.metadata.get("kind") == "overview" or len(body) <= 5:
            chosen = body[:limit]
        else:
            chosen = self._focused(body, scores, best, limit, data)
        groups = [_Group(primary, chosen)]
        used = len(chosen)
        seen = {_key(data.unit_texts[i]) for i in chosen}
        for document in documents[1:3]:
            if used >= limit:
                break
            candidates = [i for i in by_chunk.get(document.metadata["chunk_id"], [])
                          if data.unit_meta[i]["kind"] in ("bullet", "sentence")
                          and float(scores[i]) >= best - 0.03
                          and _key(data.unit_texts[i]) not in seen]
            candidates = sorted(candidates, key=lambda i: -float(scores[i]))[:2]
            if candidates:
                extra = self._with_labels(sorted(candidates), data, by_chunk, document)
                groups.append(_Group(document, extra))
                used += len(extra)
                seen |= {_key(data.unit_texts[i]) for i in extra}
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
        for n, group in enumerate(groups, start=1):
            meta = group.document.metadata
            lines = []
            for i in group.units:
                unit, kind = data.unit_texts[i], data.unit_meta[i]["kind"]
                indent = "  " if data.unit_meta[i].get("label") and kind == "bullet" else ""
                lines.append(f"{indent}- {unit} [{n}]")
            parts.append(f"**{meta['section']}**\n" + "\n".join(lines))
            citations.append(Citation(n, meta["source"], meta["section"], group.document.page_content,
                                      int(meta.get("line_start", 0)), int(meta.get("line_end", 0))))
        return Draft("\n\n".join(parts), citations)


def _key(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


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
