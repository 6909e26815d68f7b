"""Generated answers: an LLM writes from numbered passages, the guard checks what it wrote.

The answerer packs the retrieved passages, numbered and fenced, into the model's context with
budgets measured by tiktoken, asks for [n] after each sentence, and hands the text to the
grounding guard (`assistant.guard`). It is a LangChain Runnable (`invoke` gives the guarded
draft) and also exposes its steps (`prepare`, `tokens`, `finish`) so the assistant can stream
the model's text as it comes and apply the guard before the answer is marked final.

Whether to answer at all is decided before this runs, from retrieval evidence
(`assistant.grounding.decide`), so no model can talk itself into answering what the documents
do not cover.
"""

from __future__ import annotations

import re
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig

from assistant.answering import AnswerInput, Draft, render_stored
from assistant.chunking import count_tokens
from assistant.guard import Checked, EmbedTexts, Guard, Kept, Source, split_sentences
from assistant.settings import Settings
from assistant.types import Citation, Passage

# what surrounds the prompt in a chat template (role tags, separators), kept free
_TEMPLATE_TOKENS = 48
_FENCE = re.compile(r"</?\s*passage\b[^>]*>", re.IGNORECASE)
# where a generated sentence is finished: after its full stop and any [n] markers, once the
# next sentence has begun; or at the end of a line, once the next line has begun
_FINISHED = re.compile(r"[.!?][\"')\]]*(?:\s*\[\d+\])*\s+(?=[^\s\[])|\n\s*(?=[^\s\[])")


def instructions(prompts: dict[str, dict[str, str]]) -> list[str]:
    """What of the prompts a reply must not repeat: every system prompt, and the fixed
    wording of the answer's user template, each piece between placeholders on its own (a
    small model echoes "with [n] after each sentence" as if it were an answer)."""
    found = [p["system"] for p in prompts.values() if "system" in p]
    return found + [piece for piece in re.split(r"\{\w+\}", prompts["answer"]["user"])
                    if piece.strip()]


def load_prompts(path: Path | None = None) -> dict[str, dict[str, str]]:
    """The shipped prompts, with any keys of `path` (HR's own file) replacing them."""
    data = tomllib.loads(resources.files("assistant").joinpath("data/prompts.toml")
                        .read_text("utf-8"))
    if path is not None:
        for section, values in tomllib.loads(Path(path).read_text("utf-8")).items():
            data.setdefault(section, {}).update(values)
    return data


@dataclass
class Prepared:
    """One generation's input: the messages and the numbered passages they carry."""

    messages: list[BaseMessage]
    sources: list[Source]
    passages: list[Passage]  # sources[i] is passages[i]


@dataclass
class GuardedDraft(Draft):
    """A generated draft after the guard, with what it removed."""

    removed: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    kept_share: float = 0.0
    raw: str = ""  # the model's text as generated


class GenerativeAnswerer(Runnable[AnswerInput, GuardedDraft]):
    """An LLM answerer behind the grounding guard (see the module docstring)."""

    def __init__(self, settings: Settings, model: BaseChatModel, backend: str,
                 embed: EmbedTexts | None = None):
        self.settings = settings
        self.model = model
        self.backend = backend
        self.prompts = load_prompts(settings.prompts_file)
        self.guard = Guard(settings, embed, instructions(self.prompts))
        self.lock = threading.Lock()  # one generation at a time per model

    # --- the Runnable interface ---------------------------------------------------------
    def invoke(self, input: AnswerInput, config: RunnableConfig | None = None,
               **kwargs: Any) -> GuardedDraft:
        prepared = self.prepare(input)
        return self.finish(prepared, "".join(self.tokens(prepared, config)))

    # --- the steps ----------------------------------------------------------------------
    def prepare(self, data: AnswerInput) -> Prepared:
        """Number and fence the passages that fit the context budget, best first."""
        cfg = self.settings
        prompt = self.prompts["answer"]
        question = _unfence(data.question)
        fixed = count_tokens(prompt["system"], cfg.encoding) + count_tokens(
            prompt["user"].format(passages="", question=question), cfg.encoding)
        budget = cfg.llm_context_tokens - cfg.llm_max_tokens - fixed - _TEMPLATE_TOKENS
        blocks: list[str] = []
        sources: list[Source] = []
        passages: list[Passage] = []
        for passage in data.passages:
            n = len(sources) + 1
            header = f"<passage {n}>\n{_unfence(passage.document.metadata.get('section', ''))}\n"
            lines: list[str] = []
            used = count_tokens(header + "</passage>\n", cfg.encoding)
            for unit in passage.units:
                if unit.meta.get("kind") == "title":
                    continue
                line = _unfence(render_stored(unit.text, unit.meta))
                cost = count_tokens(line + "\n", cfg.encoding)
                if used + cost > budget:
                    break
                lines.append(line)
                used += cost
            if not lines:
                break  # not even one line of this passage fits: the context is full
            blocks.append(header + "\n".join(lines) + "\n</passage>")
            sources.append(Source(n, "\n".join([passage.document.metadata.get("section", "")]
                                               + lines),
                                  [u.text for u in passage.units if u.meta.get("kind") != "title"]))
            passages.append(passage)
            budget -= used
            if len(lines) < sum(1 for u in passage.units if u.meta.get("kind") != "title"):
                break
        messages = [SystemMessage(prompt["system"]),
                    HumanMessage(prompt["user"].format(passages="\n\n".join(blocks),
                                                       question=question))]
        return Prepared(messages, sources, passages)

    def tokens(self, prepared: Prepared, config: RunnableConfig | None = None) -> Iterator[str]:
        """The model's text, piece by piece as it is generated."""
        if not prepared.sources:
            return
        for chunk in self.model.stream(prepared.messages, config=config):
            if isinstance(chunk.content, str) and chunk.content:
                yield chunk.content

    def checked_stream(self, prepared: Prepared) -> CheckedStream:
        """What of the model's text may be shown while it writes: each sentence once complete
        and passed by the guard (see `CheckedStream`)."""
        return CheckedStream(self.guard, prepared.sources, self.settings.guard)

    def text(self, messages: list[BaseMessage]) -> Iterator[str]:
        """Any prompt's reply, piece by piece (the condense step uses it)."""
        for chunk in self.model.stream(messages):
            if isinstance(chunk.content, str) and chunk.content:
                yield chunk.content

    def condense_messages(self, question: str, history: list[tuple[str, str]],
                          ) -> list[BaseMessage]:
        """The messages asking the model to make a follow-up standalone."""
        return condense_messages(self.prompts, question, history)

    def finish(self, prepared: Prepared, text: str) -> GuardedDraft:
        """The guarded draft: sentences the cited passages support, citations renumbered."""
        if self.settings.guard:
            checked = self.guard.check(text, prepared.sources)
        else:  # measuring what the guard prevents: keep every sentence as written
            checked = _unguarded(text)
        return self._draft(checked, prepared, text)

    def _draft(self, checked: Checked, prepared: Prepared, raw: str) -> GuardedDraft:
        renumber: dict[int, int] = {}
        for kept in checked.sentences:
            for n in kept.cited:
                renumber.setdefault(n, len(renumber) + 1)
        parts: list[str] = []
        for kept in checked.sentences:
            marks = "".join(f"[{renumber[n]}]" for n in kept.cited)
            sentence = _with_marks(kept.text, marks)
            if kept.bullet:
                parts.append("\n- " + sentence)
            else:
                parts.append((" " if parts and not parts[-1].startswith("\n- ") else
                              "\n\n" if parts else "") + sentence)
        answer = "".join(parts).strip()
        by_n = {s.n: (s, p) for s, p in zip(prepared.sources, prepared.passages, strict=True)}
        citations = []
        for old, new in sorted(renumber.items(), key=lambda item: item[1]):
            if old not in by_n:
                continue
            source, passage = by_n[old]
            meta = passage.document.metadata
            lines = [int(u.meta.get("line", 0)) for u in passage.units] or [0]
            citations.append(Citation(
                new, meta["source"], meta.get("section", ""), source.text.partition("\n")[2],
                min(lines), max(lines), title=meta.get("title", ""),
                locator=meta.get("locator", "line")))
        return GuardedDraft(answer, citations, removed=checked.removed, reasons=checked.reasons,
                            kept_share=checked.kept_share, raw=raw)


class CheckedStream:
    """A generated answer shown while it is written, sentence by sentence: a sentence appears
    once the model has finished it and the guard has passed it, so a candidate never sees
    what the guard removes (an invented figure, an instruction obeyed, a link or an echoed
    prompt). The final, guarded reply still replaces this text; it is only a preview."""

    def __init__(self, guard: Guard, sources: list[Source], enabled: bool = True):
        self.guard = guard
        self.sources = sources
        self.enabled = enabled
        self._text = ""
        self._done = 0  # sentences already checked
        self._shown = 0  # sentences already shown
        self._vectors: dict[str, Any] = {}  # passage lines embedded once per answer

    def feed(self, piece: str) -> str:
        """The text that may be shown now that `piece` has arrived ('' if none)."""
        start = max(0, len(self._text) - 40)  # room for '." [1] [2] ' before a new sentence
        self._text += piece
        if not _FINISHED.search(self._text, start):
            return ""  # no sentence finished: skip splitting the text again (~1 ms a time)
        # Every sentence but the last of the text so far is finished, [n] markers included.
        # (Cutting the text at the last full stop instead took "1. " of a numbered list, or
        # "Sr. " of a title, for a sentence; the real one then took its place and was skipped.)
        return self._emit(split_sentences(self._text)[:-1])

    def flush(self) -> str:
        """The rest, once the model has finished."""
        return self._emit(split_sentences(self._text))

    def _emit(self, complete: list[tuple[str, str, list[int]]]) -> str:
        out = []
        for raw, _, _ in complete[self._done:]:
            checked = self.guard.check(raw, self.sources, self._vectors) if self.enabled \
                else _unguarded(raw)
            for kept in checked.sentences:
                sentence = _with_marks(kept.text, "".join(f"[{n}]" for n in kept.cited))
                lead = "- " if kept.bullet else ""
                gap = "" if not self._shown else "\n" if kept.bullet else " "
                out.append(gap + lead + sentence)
                self._shown += 1
        self._done = max(self._done, len(complete))
        return "".join(out)


def _with_marks(text: str, marks: str) -> str:
    """'It is remote.' + '[2]' -> 'It is remote [2].'"""
    if not marks:
        return text
    if text[-1:] in ".!?":
        return f"{text[:-1].rstrip()} {marks}{text[-1]}"
    return f"{text} {marks}"


def _unguarded(text: str) -> Checked:
    """Every sentence kept as the model wrote it, its markers taken at face value."""
    pieces = split_sentences(text)
    return Checked([Kept(body, cited) for _, body, cited in pieces], [], [], len(pieces))


def _unfence(text: str) -> str:
    """Document or question text cannot open or close a passage fence."""
    return _FENCE.sub("", text)


def condense_messages(prompts: dict[str, dict[str, str]], question: str,
                      history: list[tuple[str, str]]) -> list[BaseMessage]:
    """The messages asking a model to make a follow-up standalone."""
    lines = "\n".join(f"{'Candidate' if role == 'user' else 'Assistant'}: {_unfence(text)}"
                      for role, text in history)
    prompt = prompts["condense"]
    return [SystemMessage(prompt["system"]),
            HumanMessage(prompt["user"].format(history=lines, question=_unfence(question)))]
