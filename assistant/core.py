"""The public API: `Assistant.from_settings(...)`, `.ask(question, history)`, `.retrieve(query)`.

The pipeline is one LangChain runnable chain:
    prepare (clean input, resolve follow-ups) -> retrieve (HybridRetriever) -> assess
    (abstain or not, from the evidence) -> answer (the configured answerer) -> Reply
so other answerers plug into the same chain and LangChain callbacks see every step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from assistant.answering import AnswerInput, make_answerer
from assistant.conversation import UnitLookup, parse_history, resolve
from assistant.grounding import (
    CoverageChecker,
    Decision,
    decide,
    figure_missing,
    proper_names,
)
from assistant.index import IndexSnapshot, Store, build_index, open_index, outdated
from assistant.retrieval import HybridRetriever, fuse
from assistant.settings import Settings
from assistant.text import correct_spelling, normalize, stopwords, words
from assistant.texts import load_texts
from assistant.types import Context, IndexBusy, InvalidQuestion, Reply

log = logging.getLogger(__name__)


class Assistant:
    """Answers questions about the role from the indexed documents."""

    def __init__(self, settings: Settings, embeddings: Any = None, answerer: Any = None):
        self.settings = settings
        self.texts = load_texts(settings.texts_file)
        self._embeddings = embeddings
        self._answerer = answerer or make_answerer(settings)
        self._lock = threading.RLock()
        self._store = Store(settings)
        self._version = ""
        self._state: _State | None = None
        self.chain: Runnable = self._build_chain()

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, build_if_missing: bool = True,
        embeddings: Any = None, answerer: Any = None, **overrides: Any,
    ) -> Assistant:
        """Open the index (building it first if there is none) and return a ready assistant."""
        settings = settings.model_copy(update=overrides) if settings else Settings(**overrides)
        return cls(settings, embeddings=embeddings, answerer=answerer).open(build_if_missing)

    def open(self, build_if_missing: bool = True) -> Assistant:
        """Load the index in service, building it first when there is none.

        A build made by an older version of the code (or other chunking settings) is rebuilt
        too, so an upgrade never quietly serves the old index; texts that did not change keep
        their stored vectors, so this costs only the new embeddings.
        """
        if self._store.current() is None and build_if_missing:
            build_index(self.settings, embeddings_factory=lambda: self.embeddings)
        state = self._ensure_state()
        if build_if_missing and outdated(state.snapshot.manifest, self.settings):
            log.info("index build %s was made by other code or settings; rebuilding",
                     state.snapshot.build)
            try:
                build_index(self.settings, embeddings_factory=lambda: self.embeddings)
            except IndexBusy:  # another process is building right now: serve what is there
                log.warning("index is being rebuilt elsewhere; serving build %s meanwhile",
                            state.snapshot.build)
            self._ensure_state()
        return self

    # ------------------------------------------------------------------------------------
    @property
    def embeddings(self) -> Any:
        if self._embeddings is None:
            from assistant.embeddings import make_embeddings

            self._embeddings = make_embeddings(self.settings)
        return self._embeddings

    def _ensure_state(self) -> _State:
        """The loaded index; reloaded when a new build has been switched in."""
        version = self._store.version()
        with self._lock:
            if self._state is None or version != self._version:
                snapshot = open_index(self.settings)
                self._state = _State(snapshot, self.embeddings, self.settings)
                self._version = version
                log.info("serving index build %s", snapshot.build)
            return self._state

    @property
    def topics(self) -> list[str]:
        """Top-level sections of the documents: what the assistant can help with."""
        return self._ensure_state().topics

    def clear_caches(self) -> None:
        """Forget cached query embeddings (benchmarks measure uncached questions)."""
        self._ensure_state().retriever.clear_cache()

    def reload(self) -> None:
        """Re-read the index in service (after `assistant index`)."""
        with self._lock:
            self._version = ""
        self._ensure_state()

    # ------------------------------------------------------------------------------------
    def ask(self, question: str, history: Sequence[Any] | None = None,
            config: RunnableConfig | None = None) -> Reply:
        """Answer one question, using the conversation so far for follow-ups."""
        started = time.perf_counter()
        reply: Reply = self.chain.invoke({"question": question, "history": history}, config=config)
        reply.latency_ms = (time.perf_counter() - started) * 1000
        return reply

    def retrieve(self, query: str, k: int = 5) -> list[Context]:
        """The passages retrieval ranks highest for `query`, best first."""
        clean = self.clean_question(query)
        state = self._ensure_state()
        documents = state.retriever.search(clean, state.retriever.embed(clean), k)
        return [_context(d) for d in documents]

    def clean_question(self, question: Any) -> str:
        """Normalise a question or raise InvalidQuestion with a message fit for the user."""
        if not isinstance(question, str):
            raise InvalidQuestion(self.texts["errors"]["empty"])
        clean = normalize(question)
        if not any(ch.isalnum() for ch in clean):
            raise InvalidQuestion(self.texts["errors"]["empty"])
        from assistant.chunking import count_tokens

        tokens = count_tokens(clean, self.settings.encoding)
        if tokens > self.settings.max_question_tokens:
            raise InvalidQuestion(self.texts["errors"]["too_long"].format(
                tokens=tokens, limit=self.settings.max_question_tokens))
        return clean

    # ------------------------------------------------------------------------------------
    def _build_chain(self) -> Runnable:
        prepare = RunnableLambda(self._prepare, name="prepare")
        retrieve = RunnableLambda(self._retrieve, name="retrieve")
        assess = RunnableLambda(self._assess, name="assess")
        answer = RunnableLambda(self._answer, name="answer")
        return (prepare | retrieve | assess | answer).with_config(run_name="role_assistant")

    def _prepare(self, inputs: dict[str, Any]) -> dict[str, Any]:
        question = self.clean_question(inputs.get("question"))
        try:
            history = parse_history(inputs.get("history"), self.settings.max_history_turns,
                                    self.settings.max_history_chars)
        except InvalidQuestion as exc:
            raise InvalidQuestion(self.texts["errors"]["history"].format(detail=exc.message)) from exc
        state = self._ensure_state()
        corrected = correct_spelling(question, state.vocabulary)
        resolved = resolve(corrected, history, state.lookup)
        return {"question": question, "resolved": resolved, "state": state}

    def _retrieve(self, data: dict[str, Any], config: RunnableConfig | None = None) -> dict[str, Any]:
        state: _State = data["state"]
        resolved = data["resolved"]
        retriever = state.retriever.with_config(run_name="hybrid_retriever")
        documents = retriever.invoke(resolved.query, config=config)
        if resolved.queries:  # follow-ups: fuse the rankings of every reading of the question
            rankings = [documents] + [retriever.invoke(q, config=config) for q in resolved.queries]
            documents = fuse(rankings, self.settings.rrf_k, self.settings.top_k)
        if resolved.avoid:  # "say more": passages already shown go after new ones
            documents = sorted(documents, key=lambda d: d.metadata["chunk_id"] in resolved.avoid)
        return data | {"documents": documents}

    def _assess(self, data: dict[str, Any]) -> dict[str, Any]:
        state: _State = data["state"]
        resolved = data["resolved"]
        documents = data["documents"]
        relevance = max((float(d.metadata.get("relevance", 0.0)) for d in documents), default=0.0)
        text = resolved.coverage_text
        cfg = self.settings
        uncovered = state.coverage.uncovered(text)
        retriever = state.retriever
        terms = state.coverage.measure(
            text, uncovered, embed_words=retriever.embed_many,
            embed_texts=retriever.embeddings.embed_documents, text_vector=retriever.embed(text),
            names=proper_names(text), min_similarity=cfg.min_term_similarity,
            need_salience=cfg.min_relevance <= relevance < cfg.confident_relevance)
        decision = decide(data["question"], relevance, terms, cfg.min_relevance,
                          cfg.min_term_similarity, cfg.key_term_salience, cfg.confident_relevance)
        return data | {"decision": decision}

    def _answer(self, data: dict[str, Any]) -> Reply:
        state: _State = data["state"]
        resolved = data["resolved"]
        decision = data["decision"]
        documents = data["documents"]
        contexts = [_context(d) for d in documents]
        if decision.abstain:
            return Reply(data["question"], self._abstain_text(decision, state, contexts), True, [],
                         contexts,
                         reason=decision.reason, query=resolved.query)
        unit_scores = state.retriever.unit_scores(state.retriever.embed(resolved.query))
        draft = self._answerer(AnswerInput(
            question=data["question"], query=resolved.query, documents=documents,
            unit_scores=unit_scores, unit_texts=state.snapshot.unit_texts,
            unit_meta=state.snapshot.unit_meta, focus=resolved.focus, avoid=resolved.avoid,
        ))
        if not draft.answer.strip():
            return Reply(data["question"], self._abstain_text(decision, state, contexts), True, [],
                         contexts,
                         reason="not_covered", query=resolved.query)
        if figure_missing(resolved.coverage_text, draft.answer):
            decision = Decision(True, "no_figure", decision.relevance, decision.missing)
            return Reply(data["question"], self._abstain_text(decision, state, contexts), True, [],
                         contexts,
                         reason="no_figure", query=resolved.query)
        return Reply(data["question"], draft.answer, False, draft.citations, contexts,
                     query=resolved.query)

    def _abstain_text(self, decision: Any, state: _State, contexts: list[Context]) -> str:
        texts = self.texts["abstain"]
        template = texts.get(decision.reason) or texts["not_covered"]
        missing = ", ".join(f'"{w}"' for w in decision.missing[:3]) or "this"
        *rest, last = state.topics or ["the role"]
        topics = f"{', '.join(rest)} and {last}" if rest else last
        text = template.format(topics=topics, contact=self.settings.contact, missing=missing)
        # A near miss, refused only because the best passage matched a little too weakly (no
        # uncovered key term, no attack), points at that passage's section by name only: the
        # candidate may find what they meant there, and nothing is claimed from it.
        floor = self.settings.min_relevance - 0.1
        near = [c.section for c in contexts[:1] if c.relevance >= floor]
        weak_match = floor <= decision.relevance < self.settings.min_relevance
        if near and weak_match and decision.reason == "not_covered" and texts.get("closest"):
            first, _, others = text.partition("\n\n")
            text = "\n\n".join(p for p in (first, texts["closest"].format(section=near[0]), others)
                                 if p)
        return text


class _State:
    """Everything derived from one index build."""

    def __init__(self, snapshot: IndexSnapshot, embeddings: Any, settings: Settings):
        self.snapshot = snapshot
        self.retriever = HybridRetriever(snapshot=snapshot, embeddings=embeddings,
                                         settings=settings, k=settings.top_k)
        corpus_words = {w for meta in snapshot.chunks.values()
                        for w in words(f"{meta['section']} {meta['text']}")}
        self.vocabulary = frozenset(corpus_words | stopwords())
        self.coverage = CoverageChecker(snapshot.terms, snapshot.term_vectors, corpus_words)
        self.lookup = UnitLookup(snapshot.unit_texts, snapshot.unit_meta)
        seen: list[str] = []
        for chunk_id in snapshot.chunk_order:
            top = snapshot.chunks[chunk_id]["top_section"]
            if top not in seen:
                seen.append(top)
        self.topics = seen


def _context(document: Any) -> Context:
    meta = document.metadata
    return Context(
        text=document.page_content, source=meta["source"], section=meta["section"],
        score=float(meta.get("score", 0.0)), relevance=float(meta.get("relevance", 0.0)),
        line_start=int(meta.get("line_start", 0)), line_end=int(meta.get("line_end", 0)),
        chunk_id=meta.get("chunk_id", ""),
    )


__all__ = ["Assistant"]
