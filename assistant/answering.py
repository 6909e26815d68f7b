"""Answerers: turn retrieved passages into a cited reply. Named by string, built lazily.

The default `extractive` answerer writes no words of its own about the role: it quotes the
bullets and sentences of the retrieved passages that answer the question, grouped by section,
each marked [n]. Numbers can only come from the documents because nothing else is said.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnableConfig

from assistant.chunking import render_unit
from assistant.settings import Settings
from assistant.text import fact_label, match_key, stems
from assistant.types import Citation, Passage, Unit, passage_chunks

if TYPE_CHECKING:  # generation imports this module
    from assistant.generation import GenerativeAnswerer


@dataclass
class AnswerInput:
    """Everything an answerer may use: the question, the query retrieval used, and the
    retrieved passages, each with its own units and their scores (computed once, during
    retrieval). No answerer reads the index or corpus-wide arrays."""

    question: str
    query: str
    passages: list[Passage]
    focus: list[str] = field(default_factory=list)
    avoid: list[str] = field(default_factory=list)
    # one test per specific the question names (a place, level, year...): does a text mention it
    specifics: list[Callable[[str], bool]] = field(default_factory=list)
    # how much each of the query's word stems weighs, relative to the query's typical word
    # (rare in the documents in scope: more); a stem not listed weighs 1
    word_weights: dict[str, float] = field(default_factory=dict)
    # one test per kind of value the question asks for (an amount for "what's the pay?", a
    # date for "when does it close?"): does a line give one. An answer without such a line is
    # refused by the checks, so a passage's line that gives one is quoted.
    asked: list[Callable[[str], bool]] = field(default_factory=list)
    # lines the previous answer quoted ("more" asks for what it did not show)
    seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # flat views over the passages' own units; index i is local to this input
        flat = [u for p in self.passages for u in p.units]
        self.documents: list[Document] = [p.document for p in self.passages]
        self.units: list[int] = list(range(len(flat)))
        self.unit_scores: list[float] = [u.score for u in flat]
        self.unit_texts: list[str] = [u.text for u in flat]
        self.unit_meta: list[dict[str, Any]] = [u.meta for u in flat]


@dataclass
class Draft:
    """An answer and the citations its [n] markers refer to."""

    answer: str
    citations: list[Citation]


@dataclass
class _Group:
    document: Document
    units: list[int]


def _without_bare_labels(group: _Group, data: AnswerInput) -> _Group:
    """A label quoted with none of its items ("Salary Range" over the pay lines, when only
    the location line answers) says nothing: it is left out, unless it says something
    itself ("There are seven levels. These categories are:" holds a sentence)."""
    labels = {data.unit_meta[i].get("label") for i in group.units}
    units = [i for i in group.units
             if data.unit_meta[i]["kind"] != "label" or data.unit_texts[i] in labels
             or re.search(r"[.!?]\s", data.unit_texts[i])]
    return _Group(group.document, units)


class ExtractiveAnswerer(Runnable[AnswerInput, Draft]):
    """Quote the passages' own bullets and sentences that answer the question."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def invoke(self, input: AnswerInput, config: RunnableConfig | None = None,
               **kwargs: Any) -> Draft:
        return self(input)

    def __call__(self, data: AnswerInput) -> Draft:
        if data.seen:
            data = _unseen(data)
        if not data.documents:
            return Draft("", [])
        owner = {c: _key(d) for d in data.documents for c in passage_chunks(d)}
        by_chunk: dict[str, list[int]] = {}  # passage -> its units
        repeated: set[tuple[Any, ...]] = set()
        scores: dict[int, float] = {}
        titles: dict[str, float] = {}  # section path -> its title's similarity
        # a small bonus for the question's own words, on the retrieved passages' units only
        query_stems = set(stems(data.query))
        cfg = self.settings
        top = max(data.word_weights.values(), default=0.0)
        rarest = {w for w, weight in data.word_weights.items() if weight >= top - 1e-9}
        for i, score in zip(data.units, data.unit_scores, strict=True):
            meta = data.unit_meta[i]
            if meta["chunk_id"] not in owner:
                continue
            if meta.get("kind") == "title":
                section = meta.get("section", "")
                titles[section] = max(titles.get(section, -1.0), float(score))
                continue
            seen_key = (owner[meta["chunk_id"]], meta.get("section"), meta.get("line"),
                        data.unit_texts[i])
            if seen_key in repeated:  # a label repeated into each piece of a split section
                continue
            repeated.add(seen_key)
            by_chunk.setdefault(owner[meta["chunk_id"]], []).append(i)
            # a word of the line's own section path says which section the line is in, which
            # its passage already says: it tells none of the section's lines apart ("do
            # engineers get paid more to be supervisors?" in "Engineering > ... > Supervisors")
            overlap = (query_stems & set(stems(data.unit_texts[i]))) - _path_stems(
                meta.get("section", ""))
            shared = sum(data.word_weights.get(w, 1.0) for w in overlap)
            scores[i] = float(score) + cfg.keyword_bonus * min(shared, cfg.keyword_bonus_cap)
            # a record's line whose label is what the question asks for ("what's the grade?":
            # "Series & Grade: 0301-15"): a label and a number embed poorly, and a sentence
            # that merely uses the word ("... the Step 1 of the grade ...") outscored it. Only
            # a record's line (not a labelled bullet, one aspect of a list: "Staff designer:
            # ..."), only by the question's rarest word, what it is about ("job" of "Job
            # announcement number" names nothing), and never a line without the kind of value
            # asked for ("deadline to apply?" wants a date, not "Who may apply: ...")
            label = fact_label(data.unit_texts[i]) if meta.get("kind") == "sentence" else ""
            if label and rarest & set(stems(label)) \
                    and all(gives(data.unit_texts[i]) for gives in data.asked):
                scores[i] += cfg.field_label_bonus
        for units in by_chunk.values():
            units.sort()

        groups = self._select(data, by_chunk, scores, titles)
        # a group left with nothing but a bare label shows nothing: it must not count as
        # showing a specific ("ic3 vs ic4" added IC4's "Teamwork:" label alone, then lost it)
        groups = [g for g in (_without_bare_labels(g, data) for g in groups) if g.units]
        groups = self._show_specifics(groups, data, by_chunk, scores)
        kept = [_without_bare_labels(g, data) for g in groups]
        return self._render([g for g in kept if g.units], data)

    # ------------------------------------------------------------------------------------
    def _select(self, data: AnswerInput, by_chunk: dict[str, list[int]], scores: Any,
                titles: dict[str, float]) -> list[_Group]:
        limit = self.settings.max_answer_units
        documents = data.documents
        if data.focus:  # a follow-up that names what it is about: quote exactly that
            focus = {match_key(f) for f in data.focus}
            for document in documents:
                units = [i for i in by_chunk.get(_key(document), [])
                         if match_key(data.unit_texts[i]) in focus
                         or match_key(data.unit_meta[i].get("label", "")) in focus]
                if units and not set(passage_chunks(document)) & set(data.avoid):
                    return [_Group(document, self._with_labels(units, data, by_chunk, document))]

        def passages(document: Document) -> list[list[int]]:
            """The chunk's units grouped by their own section (a packed chunk has several)."""
            groups: dict[str, list[int]] = {}
            for i in by_chunk.get(_key(document), []):
                if data.unit_meta[i]["kind"] != "heading":
                    groups.setdefault(data.unit_meta[i]["section"], []).append(i)
            return list(groups.values())

        def best(units: list[int]) -> float:
            return max(float(scores[i]) for i in units)

        primary_doc = self._pointed(data, documents, by_chunk, scores, titles)
        if primary_doc is not documents[0]:
            documents = [primary_doc, *[d for d in documents if d is not primary_doc]]
        candidates = passages(primary_doc)
        if not candidates:
            return []
        primary = max(candidates, key=best)
        top = best(primary)
        cfg = self.settings
        section = data.unit_meta[primary[0]]["section"]
        title = titles.get(section, -1.0)
        best_label = max((float(scores[i]) for i in primary
                          if data.unit_meta[i]["kind"] == "label"), default=-1.0)
        # about the section as a whole when its title matches about as well as its best line
        # and better than any group in it ("entry level" names a group of a career ladder)
        about_section = title >= top - cfg.section_margin and title >= best_label
        if len(primary) <= min(cfg.whole_passage_units, limit):
            chosen = primary
        elif about_section:  # the question asks about the section as a whole ("what does an
            chosen = self._whole(primary, limit, data)  # IC5 do?"): its lists first
        else:  # the groups that answer, not the first lines (an intro must not crowd them out)
            chosen = self._focused(primary, scores, top, limit, data)
        chosen = self._with_announced(chosen, primary, limit, data)
        chosen = self._with_best(chosen, primary, scores, data, by_chunk, primary_doc)
        chosen = self._with_asked(chosen, primary, scores, data, by_chunk, primary_doc)
        groups = [_Group(primary_doc, chosen)]
        used = len(chosen)
        seen = {match_key(data.unit_texts[i]) for i in chosen}
        # the sub-sections the quoted overview names and nothing else of it says much of:
        # "how is my application evaluated?" quotes "We will use a method called Category
        # Rating ..." and the name "Here's how it will work"; that sub-section's lines answer
        pointed = [i for i in chosen if data.unit_meta[i]["kind"] == "item"]
        named = {f"{section} > {data.unit_texts[i]}" for i in pointed} \
            if 0 < len(pointed) <= cfg.subsections_quoted else set()
        for document in documents[:cfg.secondary_passages]:
            for passage in passages(document):
                if used >= limit or passage is primary:
                    continue
                if data.unit_meta[passage[0]]["section"] in named:
                    extra = self._focused(passage, scores, best(passage), limit - used, data)
                    extra = self._with_labels(extra, data, by_chunk, document)
                    groups.append(_Group(document, extra))
                    used += len(extra)
                    seen |= {match_key(data.unit_texts[i]) for i in extra}
                    continue
                extra = [i for i in passage
                         if data.unit_meta[i]["kind"] in ("bullet", "sentence", "row", "label")
                         and float(scores[i]) >= top - cfg.secondary_margin
                         and match_key(data.unit_texts[i]) not in seen]
                extra = sorted(extra, key=lambda i: -float(scores[i]))[:cfg.secondary_units]
                if extra:
                    extra = self._with_labels(sorted(extra), data, by_chunk, document)
                    groups.append(_Group(document, extra))
                    used += len(extra)
                    seen |= {match_key(data.unit_texts[i]) for i in extra}
        return groups

    def _pointed(self, data: AnswerInput, documents: list[Document],
                 by_chunk: dict[str, list[int]], scores: Any, titles: dict[str, float]
                 ) -> Document:
        """The passage that answers: the first, unless it is an overview whose best line is
        the name of one of its sub-sections, found among the next passages, and the name
        stands out from the others listed (by `single_margin`) and from the overview's own
        title. "how do sourcegraph engineers get promoted?" matches the overview's list entry
        "When do I get promoted?" best; that section answers, not the overview."""
        first = documents[0]
        units = by_chunk.get(_key(first), [])
        if first.metadata.get("kind") != "overview" or not units:
            return first
        best = max(units, key=lambda i: float(scores[i]))
        if data.unit_meta[best]["kind"] != "item":
            return first
        top = float(scores[best])
        others = [float(scores[i]) for i in units
                  if data.unit_meta[i]["kind"] == "item" and i != best]
        section = data.unit_meta[best]["section"]
        if any(top - o < self.settings.single_margin for o in others) \
                or titles.get(section, -1.0) >= top:
            return first
        wanted = f"{section} > {data.unit_texts[best]}"
        return next((d for d in documents[1:self.settings.secondary_passages + 1]
                     if d.metadata.get("section") == wanted), first)

    def _with_announced(self, chosen: list[int], body: list[int], limit: int,
                        data: AnswerInput) -> list[int]:
        """`chosen` with the list a chosen sentence announces ("Review the following list to
        determine what you need to submit.", "... as follows:"): the sentence alone answers
        nothing. The list's units follow it in the passage, up to the cap."""
        out = list(chosen)
        for i in chosen:
            if data.unit_meta[i]["kind"] != "sentence" or not _ANNOUNCES.search(
                    data.unit_texts[i]):
                continue
            after = [j for j in body if j > i]
            listed: list[int] = []
            for j in after:  # the run of list units right after it
                if data.unit_meta[j]["kind"] not in ("label", "bullet", "row", "item"):
                    break
                listed.append(j)
            room = max(limit - len(out), 0)
            out += [j for j in listed[:room + self.settings.group_overflow] if j not in out]
        return sorted(set(out))

    def _with_best(self, chosen: list[int], body: list[int], scores: Any, data: AnswerInput,
                   by_chunk: dict[str, list[int]], document: Document) -> list[int]:
        """`chosen` with the passage's best-scoring line in it: a section quoted as a whole,
        or by its best groups, must not cut the one line that answers best ("who does an M6
        report to?" is answered by the M6 line about reporting, though the level's first
        eight lines are about other things). It joins them over the cap."""
        quotable = [i for i in body if data.unit_meta[i]["kind"] in ("bullet", "sentence", "row")]
        if not quotable or not chosen:
            return chosen
        best = max(quotable, key=lambda i: float(scores[i]))
        if best in chosen:
            return chosen
        return sorted(set(chosen) | set(self._with_labels([best], data, by_chunk, document)))

    def _with_asked(self, chosen: list[int], body: list[int], scores: Any, data: AnswerInput,
                    by_chunk: dict[str, list[int]], document: Document) -> list[int]:
        """`chosen` with, for each kind of value the question asks for, the passage's best
        line that gives one when no chosen line does: "what's the pay?" chose two lines about
        locality pay (they share the word "pay") over "Salary Range: ... $103,672 to
        $134,776", and the figure check then refused an answer the passage held. Only lines of
        the passage already chosen: whether it is the right passage is retrieval's call."""
        out = chosen
        for gives in data.asked:
            if any(gives(_render_unit(i, data)) for i in out):
                continue
            giving = [i for i in body if data.unit_meta[i]["kind"] in _QUOTABLE
                      and gives(_render_unit(i, data))]
            if giving:
                best = max(giving, key=lambda i: float(scores[i]))
                out = sorted(set(out) | set(self._with_labels([best], data, by_chunk, document)))
        return out

    def _show_specifics(self, groups: list[_Group], data: AnswerInput,
                        by_chunk: dict[str, list[int]], scores: Any) -> list[_Group]:
        """Each specific the question names is shown, not only cited: "is ic6 a thing for
        designers?" quotes the line that names IC6 even when the lines of another level
        scored higher. The line comes from the passages already quoted, else from the next
        ones, and only if it is about as relevant to the question as what is quoted (within
        `specific_line_margin`): "the Chicago office" does not answer "the pay band in
        Chicago?". A specific no such line names is left to the coverage check."""
        if not data.specifics or not groups:
            return groups
        top = max((float(scores[i]) for g in groups for i in g.units if i in scores),
                  default=0.0)
        for mentions in data.specifics:
            shown = [data.unit_meta[g.units[0]]["section"] for g in groups if g.units]
            shown += [data.unit_texts[i] for g in groups for i in g.units]
            if any(mentions(text) for text in shown):
                continue
            for document in data.documents[:self.settings.secondary_passages]:
                units = [i for i in by_chunk.get(_key(document), [])
                         if data.unit_meta[i]["kind"] in _QUOTABLE and mentions(data.unit_texts[i])]
                if not units:
                    headed = self._headed_by(document, mentions, data, by_chunk, scores, top)
                    if headed:  # "ic3 vs ic4": the IC4 section's lines never say "IC4"
                        groups.append(_Group(document, headed))
                        break
                    continue
                best = max(units, key=lambda i: float(scores[i]))
                if float(scores[best]) < top - self.settings.specific_line_margin:
                    break  # a line naming it that is about something else ("the Chicago
                    # office" does not answer "the pay band in Chicago?")
                section = data.unit_meta[best]["section"]
                added = self._with_labels([best], data, by_chunk, document)
                group = next((g for g in groups if g.document is document and g.units
                              and data.unit_meta[g.units[0]]["section"] == section), None)
                if group is None:
                    groups.append(_Group(document, added))
                else:
                    group.units = sorted(set(group.units) | set(added))
                break
        return groups

    def _headed_by(self, document: Document, mentions: Callable[[str], bool],
                   data: AnswerInput, by_chunk: dict[str, list[int]], scores: Any,
                   top: float) -> list[int]:
        """The lines that answer best from a section whose heading names a specific (its
        lines need not: "IC4 > Impact: ..."), as a passage of its own would be quoted; none
        when they are not about as relevant as what is quoted (`specific_line_margin`)."""
        body = [i for i in by_chunk.get(_key(document), [])
                if data.unit_meta[i]["kind"] in _QUOTABLE
                and mentions(data.unit_meta[i].get("section", ""))]
        if not body:
            return []
        best = max(float(scores[i]) for i in body)
        if best < top - self.settings.specific_line_margin:
            return []
        chosen = self._focused(body, scores, best, self.settings.max_answer_units, data)
        return self._with_labels(chosen, data, by_chunk, document)

    def _whole(self, body: list[int], limit: int, data: AnswerInput) -> list[int]:
        """A section quoted as a whole, up to the cap: its list items, labels and rows first
        (they are what a section lists), then its prose while there is room."""
        listed = [i for i in body if data.unit_meta[i]["kind"] != "sentence"]
        prose = [i for i in body if data.unit_meta[i]["kind"] == "sentence"]
        chosen = listed[:limit]
        if chosen and chosen[-1] in listed and data.unit_meta[chosen[-1]]["kind"] == "label":
            chosen = chosen[:-1]  # a label cut off from all of its items says nothing
        chosen += prose[:max(limit - len(chosen), 0)]
        return sorted(chosen)

    def _focused(self, body: list[int], scores: Any, best: float, limit: int,
                 data: AnswerInput) -> list[int]:
        """From a long passage, the groups that answer: a label with its items, or single
        bullets and sentences, that score close to the best. An overview's list of its
        sub-sections is what it says, so it is always kept and prose joins it only when it
        scores as well (an intro must never crowd out the list)."""
        cfg = self.settings
        groups: dict[str, list[int]] = {}
        for i in body:
            meta = data.unit_meta[i]
            if meta["kind"] == "label":
                key = data.unit_texts[i]
            elif meta["kind"] == "item":
                key = "\x00items"
            else:
                key = meta.get("label") or f"#{i}"
            groups.setdefault(key, []).append(i)
        items = groups.pop("\x00items", [])
        out: list[int] = []
        if len(items) >= cfg.overview_list_share * len(body):
            out = items[:limit]
        elif items:  # a passage of its own lines that also lists a sub-section or two
            groups["\x00items"] = items
        if not groups:
            return sorted(out)
        scored = sorted(groups.values(), key=lambda g: -max(float(scores[i]) for i in g))
        top = max(float(scores[i]) for i in scored[0])
        for group in scored:
            score = max(float(scores[i]) for i in group)
            labelled = len(group) > 1 or data.unit_meta[group[0]]["kind"] == "label"
            margin = cfg.group_margin if labelled else cfg.single_margin
            if score < top - margin or len(out) >= limit:
                break
            if out and not labelled and len(out) + len(group) > limit:
                break
            out.extend(group)
        return sorted(out)[: limit + cfg.group_overflow]

    def _with_labels(self, units: list[int], data: AnswerInput, by_chunk: dict[str, list[int]],
                     document: Document) -> list[int]:
        out = set(units)
        for i in units:
            label = data.unit_meta[i].get("label")
            if label:
                out |= {j for j in by_chunk.get(_key(document), [])
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
            parts.append(f"**{section}**\n\n" + "\n".join(lines))  # a heading of its own
            pieces = set(passage_chunks(group.document))
            passage = [i for i in data.units
                       if data.unit_meta[i]["chunk_id"] in pieces
                       and data.unit_meta[i]["section"] == section
                       and data.unit_meta[i]["kind"] != "title"]
            text = _passage_text(passage, data) or group.document.page_content
            lines_of = [int(data.unit_meta[i].get("line", 0)) for i in passage] or [0]
            citations.append(Citation(n, meta["source"], section, text,
                                      min(lines_of), max(lines_of), title=meta.get("title", ""),
                                      locator=meta.get("locator", "line")))
        return Draft("\n\n".join(parts), citations)


_MARKER = re.compile(r"\[(\d+)\]")
# the units an answer quotes on their own (not titles or headings)
_QUOTABLE = ("bullet", "sentence", "row", "label", "item")


# a sentence that announces the list after it
_ANNOUNCES = re.compile(r"\b(?:the following|as follows|listed below|below)\b|:\s*$",
                        re.IGNORECASE)


def _unseen(data: AnswerInput) -> AnswerInput:
    """"More": the passages without the lines the last answer quoted, those with none left
    dropped, so a capped section goes on where it stopped and a section shown whole gives
    way to the next. When nothing new is left, the passages as they were."""
    seen = {match_key(text) for text in data.seen}
    fresh = []
    for passage in data.passages:
        units = [u for u in passage.units if match_key(u.text) not in seen
                 or u.meta.get("kind") not in _QUOTABLE]
        if any(u.meta.get("kind") in _QUOTABLE and u.meta.get("kind") != "label"
               for u in units):
            fresh.append(Passage(passage.document, units))
    return replace(data, passages=fresh, seen=[]) if fresh else replace(data, seen=[])


@functools.lru_cache(maxsize=4096)
def _path_stems(section: str) -> frozenset[str]:
    return frozenset(stems(section.replace(" > ", " ")))


def _key(document: Document) -> str:
    return str(document.metadata.get("passage_id") or document.metadata["chunk_id"])


def merge_drafts(drafts: list[Draft]) -> Draft:
    """Several drafts (one per role) as one answer, citations renumbered in order."""
    if len(drafts) == 1:
        return drafts[0]
    parts: list[str] = []
    citations: list[Citation] = []
    for draft in drafts:
        offset = len(citations)

        def shift(match: re.Match[str], at: int = offset) -> str:
            return f"[{int(match.group(1)) + at}]"

        parts.append(_MARKER.sub(shift, draft.answer))
        citations.extend(replace(c, n=c.n + offset) for c in draft.citations)
    return Draft("\n\n".join(p for p in parts if p.strip()), citations)


def render_stored(text: str, meta: dict[str, Any]) -> str:
    """A unit as the index stores it (text and metadata), shown as in its passage."""
    return render_unit(Unit(text, int(meta.get("line", 0)), meta.get("kind", "bullet"),
                            meta.get("label", ""), depth=int(meta.get("depth", 0) or 0)))


def _render_unit(i: int, data: AnswerInput) -> str:
    return render_stored(data.unit_texts[i], data.unit_meta[i])


def _passage_text(units: list[int], data: AnswerInput) -> str:
    """A section's passage as the documents show it (bullets keep their nesting)."""
    return "\n".join(_render_unit(i, data) for i in units)


ANSWERERS: dict[str, Callable[[Settings], Callable[[AnswerInput], Draft]]] = {
    "extractive": ExtractiveAnswerer,
}


def make_answerer(settings: Settings, embed: Callable[[list[str]], list[list[float]]] | None = None,
                  ) -> Callable[[AnswerInput], Draft] | GenerativeAnswerer:
    """Build the configured answerer: `extractive`, or an LLM backend (`assistant.llm`) behind
    the grounding guard, which uses `embed` for its similarity check."""
    if settings.answerer in ANSWERERS:
        return ANSWERERS[settings.answerer](settings)
    from assistant.llm import CHAT_MODELS, make_chat_model

    if settings.answerer not in CHAT_MODELS:
        raise ValueError(f"Unknown answerer {settings.answerer!r}; choose one of "
                         f"{sorted(ANSWERERS) + sorted(CHAT_MODELS)}")
    from assistant.generation import GenerativeAnswerer

    return GenerativeAnswerer(settings, make_chat_model(settings), settings.answerer, embed)
