"""Retrieval: dense (Chroma) + bullet-level dense + BM25 keywords, fused by reciprocal rank.

`HybridRetriever` is a LangChain `BaseRetriever`, so it composes into runnable chains and
reports to callbacks. LangChain's EnsembleRetriever also fuses by reciprocal rank, but it drops
the scores and cannot share one query embedding between retrievers; abstention needs the
scores, and latency needs the single embedding, hence this small fusion of our own.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from assistant.chunking import count_tokens, within
from assistant.index import COPY_OF, IndexSnapshot
from assistant.settings import Settings
from assistant.text import fact_label, normalize, phrase_pattern, stems
from assistant.types import Passage, PassageUnit, passage_chunks

log = logging.getLogger(__name__)


Scope = frozenset[str] | None  # the documents (sources) retrieval may use; None: all
Vector = np.ndarray | list[float]  # a query embedding: cached (float32), or as a model gives it
_VALUE_CANDIDATES = 3  # times fetch_k: the chunks read for the values a question asks for
SCOPES_KEPT = 256  # scopes whose keyword weights are kept (a memory bound, not a tuned value)


@dataclass
class Signals:
    """Per-chunk scores for one query over the chunks in scope (`chunks`, corpus order)."""

    chunks: np.ndarray  # indices (into the retriever's chunk list) these arrays describe
    chunk: np.ndarray  # the chunk's own cosine similarity (Chroma)
    best_unit: np.ndarray  # best whole bullet/sentence
    best_part: np.ndarray  # best bullet or clause (what ranking uses)
    title: np.ndarray  # the section title
    keywords: np.ndarray  # BM25
    relevance: np.ndarray  # max(chunk, best whole unit): how relevant passages compare
    fetch: int  # candidates each ranking contributes
    own: np.ndarray | None = None  # best unit that is not a listed sub-section name
    named: np.ndarray | None = None  # 1 where the section path names a specific of the query
    holds_value: np.ndarray | None = None  # 1 where the text holds a value of a kind asked for
    yielded: frozenset[int] = frozenset()  # overviews that yielded to a sub-section (fusion)
    # what abstention reads: relevance, or a clause's similarity less clause_relevance_discount
    evidence: np.ndarray | None = None


class HybridRetriever(BaseRetriever):
    """Ranks the chunks of one index snapshot for a query string, within a document scope.

    The scope (a set of source files) is applied inside every signal, never by filtering a
    ranking afterwards: Chroma's query gets a `where` filter, BM25 scores only the chunks in
    scope, and only the units and clauses of those documents are compared with the query.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    snapshot: IndexSnapshot
    embeddings: Embeddings
    settings: Settings
    k: int = 5
    scope: frozenset[str] | None = None  # what `invoke` searches (see `scoped`)
    vocabulary: Any = None  # assistant.vocabulary.Vocabulary: finds a query's specifics
    # the candidate's own words, when the query is not them (a follow-up searched by the line
    # it refers to): the kind of value asked for is read from these (see `_holds_value`)
    asked: str | None = None
    _bm25: Any = PrivateAttr(default=None)
    _idf: dict[str, float] = PrivateAttr(default_factory=dict)
    _postings: dict[str, Any] = PrivateAttr(default_factory=dict)  # stem -> chunk indices
    _scoped_idf: dict[Any, dict[str, float]] = PrivateAttr(default_factory=dict)
    _collection: Any = PrivateAttr(default=None)
    _chunk_ids: list[str] = PrivateAttr(default_factory=list)
    _unit_chunk: Any = PrivateAttr(default=None)
    _is_body: Any = PrivateAttr(default=None)
    _is_item: Any = PrivateAttr(default=None)
    _phrase_chunk: Any = PrivateAttr(default=None)
    _chunks_of: dict[str, Any] = PrivateAttr(default_factory=dict)
    _copies: dict[str, Any] = PrivateAttr(default_factory=dict)  # chunk row id -> chunk indices
    _sources: list[str] = PrivateAttr(default_factory=list)  # each chunk's document
    _units_of: dict[str, Any] = PrivateAttr(default_factory=dict)
    _phrases_of: dict[str, Any] = PrivateAttr(default_factory=dict)
    _vectors: dict[str, np.ndarray] = PrivateAttr(default_factory=dict)
    _cache_lock: Any = PrivateAttr(default_factory=threading.Lock)
    _children: dict[int, Any] = PrivateAttr(default_factory=dict)
    _child_pairs: Any = PrivateAttr(default=None)  # (overview, descendant) rows, int64
    _parent_of: list[int] = PrivateAttr(default_factory=list)
    _parents: list[list[int]] = PrivateAttr(default_factory=list)
    _parent_tokens: list[int] = PrivateAttr(default_factory=list)
    _index: dict[str, int] = PrivateAttr(default_factory=dict)
    _paths: list[str] = PrivateAttr(default_factory=list)  # path within the document, lower

    def model_post_init(self, __context: Any) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG

        snap = self.snapshot
        self._chunk_ids = list(snap.chunk_order)
        self._paths = [normalize(within(snap.chunks[c]["section"], snap.chunks[c].get("title", "")))
                       .lower() for c in self._chunk_ids]
        corpus = [stems(f"{path} {snap.chunks[c]['text']}")
                  for path, c in zip(self._paths, self._chunk_ids, strict=True)]
        # bm25s keeps the postings in a sparse matrix: a query costs the postings of its own
        # words, not a Python loop over every chunk (rank_bm25 scored each chunk in Python).
        # "robertson" is the Okapi BM25 that rank_bm25 computed, which fusion was tuned with.
        self._bm25 = None
        if corpus:
            self._bm25 = bm25s.BM25(method="robertson")
            self._bm25.index([words or [""] for words in corpus], show_progress=False)
        frequency: dict[str, int] = {}
        postings: dict[str, list[int]] = {}
        for i, words in enumerate(corpus):
            for word in set(words):
                frequency[word] = frequency.get(word, 0) + 1
                postings.setdefault(word, []).append(i)
        self._postings = {w: np.array(p, dtype=np.int64) for w, p in postings.items()}
        self._idf = _okapi_idf(frequency, len(corpus))
        # queried directly rather than through langchain_chroma's vector store: a chunk row
        # holds no document (see index._write_parts) and a search needs only ids and distances
        self._collection = snap.client.get_collection(snap.chunk_collection)
        self._index = index = {c: i for i, c in enumerate(self._chunk_ids)}
        # Chroma holds one row per distinct chunk vector (index._layout): a row found stands
        # for every chunk with that vector, in corpus order
        self._copies = _positions([snap.chunks[c].get(COPY_OF, c) for c in self._chunk_ids])
        self._unit_chunk = np.array([index[m["chunk_id"]] for m in snap.unit_meta], dtype=np.int64)
        self._is_body = np.array([m["kind"] != "title" for m in snap.unit_meta], dtype=bool)
        self._is_item = np.array([m["kind"] in ("item", "heading") for m in snap.unit_meta],
                                 dtype=bool)
        self._phrase_chunk = np.array([index[c] for c in snap.phrase_chunks], dtype=np.int64)
        self._fact_list = np.array([_lists_facts(snap.chunks[c]["text"],
                                                 self.settings.fact_list_share)
                                    for c in self._chunk_ids], dtype=bool)
        self._sources = sources = [snap.chunks[c]["source"] for c in self._chunk_ids]
        self._chunks_of = _positions(sources)
        self._units_of = _positions([sources[i] for i in self._unit_chunk])
        self._phrases_of = _positions([sources[i] for i in self._phrase_chunk])
        # a section split into pieces is one passage again once a piece is found (LangChain's
        # ParentDocumentRetriever idea: small pieces to search, the whole section to answer)
        keys: dict[tuple[str, str, str], int] = {}
        for i, chunk_id in enumerate(self._chunk_ids):
            meta = snap.chunks[chunk_id]
            key = (meta["source"], meta["section"], meta["kind"])
            if key not in keys:
                keys[key] = len(self._parents)
                self._parents.append([])
                self._parent_tokens.append(0)
            parent = keys[key]
            self._parent_of.append(parent)
            self._parents[parent].append(i)
            self._parent_tokens[parent] += count_tokens(meta["text"], self.settings.encoding)
        # each overview's descendants: the chunks of its document under its section path
        self._children = {}
        for members in self._chunks_of.values():
            for o in members:
                meta = snap.chunks[self._chunk_ids[o]]
                if meta["kind"] != "overview":
                    continue
                prefix = meta["section"] + " > "
                self._children[int(o)] = np.array(
                    [j for j in members if snap.chunks[self._chunk_ids[j]]["section"]
                     .startswith(prefix)], dtype=np.int64)
        self._child_pairs = np.array(
            [(o, c) for o, children in self._children.items() for c in children.tolist()],
            dtype=np.int64).reshape(-1, 2)

    # ------------------------------------------------------------------------------------
    def scoped(self, scope: Scope) -> HybridRetriever:
        """This retriever limited to `scope` (shares the index, caches and model)."""
        if scope == self.scope:
            return self
        return self.model_copy(update={"scope": scope})

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self.search(query, self.embed(query), self.k, self.scope)

    def clear_cache(self) -> None:
        """Drop cached query embeddings."""
        with self._cache_lock:
            self._vectors.clear()

    def embed_many(self, texts: list[str]) -> list[np.ndarray]:
        """Embed several short texts in one model call, reusing cached vectors."""
        with self._cache_lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            for text, vector in zip(missing, self.embeddings.embed_documents(missing), strict=True):
                known[text] = self._remember(text, vector)
        return [known[t] for t in texts]

    def _remember(self, text: str, vector: Any) -> np.ndarray:
        """Cache a vector (thread-safe; the server answers several questions at once), as
        float32: the model's list of Python floats took 12 kB a vector, 1.6 kB as an array
        (a full cache: 12 MB, which a server's memory grew by during a soak)."""
        array = np.asarray(vector, dtype=np.float32)
        with self._cache_lock:
            if len(self._vectors) >= 1024:
                self._vectors.pop(next(iter(self._vectors)), None)
            self._vectors[text] = array
        return array

    def embed(self, query: str) -> np.ndarray:
        """Embed a query once; the chain's later steps reuse the vector from a small cache."""
        with self._cache_lock:
            vector = self._vectors.get(query)
        if vector is None:
            vector = self._remember(query, self.embeddings.embed_query(query))
        return vector

    # ------------------------------------------------------------------------------------
    def in_scope(self, scope: Scope) -> np.ndarray:
        """Indices of the chunks of the documents in `scope` (all chunks for None)."""
        return _in_scope(scope, self._chunks_of, len(self._chunk_ids))

    def search(self, query: str, vector: Vector, k: int, scope: Scope = None) -> list[Document]:
        """Top-k chunks in `scope` for a query whose embedding is already known.

        Dense side: Chroma's chunk similarity, plus the best bullet (or clause of a long
        bullet) in the chunk and the section title (both from the index snapshot), summed on
        one cosine scale. Keyword side: BM25 over stems of section path and text. The two
        rankings meet in weighted reciprocal rank fusion.
        """
        cfg = self.settings
        chunks = self.in_scope(scope)
        if not chunks.size:
            return []
        if cfg.retrieval == "dense":  # the naive baseline: Chroma's order, nothing else
            return [self._document(self._chunk_ids[i], similarity, similarity) for i, similarity
                    in self._nearest(vector, min(k, int(chunks.size)), scope)[:k]]
        signals = self.signals(query, vector, max(cfg.fetch_k, k), scope)
        fused = self.fuse_signals(signals, cfg, k)
        position = {int(c): i for i, c in enumerate(signals.chunks)}
        out: list[Document] = []
        found: list[int] = []  # the chunk that brought each passage in
        taken: set[Any] = set()
        evidence = signals.evidence if signals.evidence is not None else signals.relevance
        for i in np.argsort(-fused, kind="stable"):
            if fused[i] <= 0 or len(out) >= k:
                break
            chunk = int(signals.chunks[i])
            parent = self._parent_of[chunk]
            whole = self._parent_tokens[parent] <= cfg.parent_max_tokens
            key: Any = parent if whole else ("piece", chunk)
            if key in taken:
                continue
            taken.add(key)
            members = self._parents[parent] if whole else [chunk]
            relevance = max(float(signals.relevance[position[m]]) for m in members
                            if m in position)
            document = self._passage(members, chunk, float(fused[i]), relevance)
            document.metadata["evidence"] = round(max(
                float(evidence[position[m]]) for m in members if m in position), 4)
            out.append(document)
            found.append(chunk)
        return self._reorder(out, found, signals.yielded, cfg.weight_relevance)

    def _reorder(self, passages: list[Document], found: list[int], yielded: frozenset[int],
                 weight: float) -> list[Document]:
        """Reciprocal-rank fusion keeps only each list's order; how close the best match of a
        passage was (its relevance, or a clause's: `evidence`, on the cosine scale) then orders
        what fusion found. Only
        within the k found: drawing more candidates in lost more answers than it gained.

        An overview that yielded to one of its own sub-sections in fusion stays behind it: its
        relevance is often its list of sub-section names, which names every topic beneath it.
        """
        keys = [d.metadata["score"] + weight * d.metadata.get("evidence", d.metadata["relevance"])
                for d in passages]
        members = [set(self._parents[self._parent_of[c]]) for c in found]
        for j, chunk in enumerate(found):
            if chunk not in yielded:
                continue
            below = set(self._children[chunk].tolist())  # yielded: an overview with children
            mine = [keys[i] for i in range(len(found)) if i != j and members[i] & below]
            if mine:
                keys[j] = min(keys[j], max(mine) - 1e-9)
        order = sorted(range(len(passages)), key=lambda i: -keys[i])
        return [passages[i] for i in order]

    def _nearest(self, vector: Vector, k: int, scope: Scope) -> list[tuple[int, float]]:
        """The chunks in `scope` of Chroma's k nearest distinct chunk vectors there, as (chunk
        position, cosine similarity), nearest first: k vectors may stand for more chunks."""
        found = self._collection.query(query_embeddings=[vector], n_results=k,
                                       where=_where(scope), include=["distances"])
        wanted = None if scope is None else set(scope)
        sources = self._sources
        return [(int(i), 1.0 - float(distance))  # Chroma gives cosine distance
                for id_, distance in zip(found["ids"][0], found["distances"][0], strict=True)
                for i in self._copies.get(id_, ()) if wanted is None or sources[i] in wanted]

    def signals(self, query: str, vector: Vector, fetch: int, scope: Scope = None) -> Signals:
        """Every per-chunk score the ranking is made of, for the chunks in `scope`."""
        cfg = self.settings
        chunks = self.in_scope(scope)
        n = int(chunks.size)
        position = np.full(len(self._chunk_ids), -1, dtype=np.int64)
        position[chunks] = np.arange(n)
        chunk_sim = dict(self._nearest(vector, min(fetch, n), scope))
        floor = min(chunk_sim.values()) if chunk_sim else 0.0
        chunk = np.full(n, floor, dtype=np.float32)
        for i, similarity in chunk_sim.items():
            chunk[position[i]] = similarity
        q = self._unit(vector)
        units = _in_scope(scope, self._units_of, len(self._unit_chunk))
        distinct = self.snapshot.vectors @ q if scope is None else None
        unit_scores = self._scored(q, distinct, self.snapshot.unit_rows, units)
        owner = position[self._unit_chunk[units]]
        body = self._is_body[units]
        best_unit = np.full(n, -1.0, dtype=np.float32)
        np.maximum.at(best_unit, owner[body], unit_scores[body])
        title = np.full(n, -1.0, dtype=np.float32)
        np.maximum.at(title, owner[~body], unit_scores[~body])
        # a document's opening text, before its first heading, has no title of its own: it
        # stands in for one (-1 would sink the opening, where postings put what they are)
        untitled = title <= -1.0
        title[untitled] = chunk[untitled]
        own = np.full(n, -1.0, dtype=np.float32)
        mine = body & ~self._is_item[units]
        np.maximum.at(own, owner[mine], unit_scores[mine])
        named = self._named_sections(query, chunks)
        # a bullet's best clause may stand in for the bullet when ranking, less a discount: a
        # few words match loosely. Relevance (which decides abstention) stays on whole bullets.
        best_part = best_unit.copy()
        if cfg.phrases and self._phrase_chunk.size:
            phrases = _in_scope(scope, self._phrases_of, len(self._phrase_chunk))
            if phrases.size:
                phrase_scores = (self._scored(q, distinct, self.snapshot.phrase_rows, phrases)
                                 - cfg.phrase_discount)
                np.maximum.at(best_part, position[self._phrase_chunk[phrases]], phrase_scores)
        terms = [t for t in stems(query) if t in self._idf]
        keywords = (np.asarray(self._bm25.get_scores(terms))[chunks]
                    if self._bm25 is not None and terms and n else np.zeros(n))
        holds = self._holds_value(query if self.asked is None else self.asked, chunks,
                                  chunk + best_part, fetch)
        relevance = np.maximum(chunk, best_unit)
        return Signals(chunks, chunk, best_unit, best_part, title,
                       np.asarray(keywords, dtype=np.float64), relevance,
                       min(fetch, n), own, named, holds,
                       evidence=np.maximum(relevance, best_part - cfg.clause_relevance_discount))

    def fuse_signals(self, signals: Signals, cfg: Settings, k: int) -> np.ndarray:
        """Weighted reciprocal-rank fusion of the dense composite and the BM25 ranking."""
        # a section that lists unrelated facts ("Security clearance: ...", "Appointment type:
        # ...") has a chunk vector that is like none of them: its best line, or the best part
        # of one (a label: "Job Title: ..." for "official title?"), stands in for it
        chunk = signals.chunk
        if cfg.line_stands_for_chunk > 0:
            lists = self._fact_list[signals.chunks]
            chunk = np.where(lists, np.maximum(chunk, cfg.line_stands_for_chunk
                                               * signals.best_part), chunk)
        composite = (cfg.weight_dense * chunk + cfg.weight_units * signals.best_part
                     + cfg.weight_title * signals.title)
        if signals.named is not None:
            composite = composite + cfg.weight_named * signals.named
        if signals.holds_value is not None:
            composite = composite + cfg.weight_answer_kind * signals.holds_value
        top = float(signals.keywords.max()) if signals.keywords.size else 0.0
        if cfg.weight_keyword_score > 0 and top > 0:
            # rank fusion keeps only BM25's order; its scores, relative to the best in scope,
            # also say how far ahead a keyword match is (relative score fusion)
            composite = composite + cfg.weight_keyword_score * signals.keywords / top
        composite = self._prefer_specific(composite, signals, cfg.overview_penalty)
        fetch = min(max(signals.fetch, k), len(composite))
        fused = np.zeros(len(composite), dtype=np.float64)
        for rank, i in enumerate(np.argsort(-composite, kind="stable")[:fetch]):
            fused[i] += 1.0 / (cfg.rrf_k + rank + 1)
        if cfg.weight_bm25 > 0:
            scores = signals.keywords
            ranked = [i for i in np.argsort(-scores, kind="stable")[:fetch] if scores[i] > 0]
            for rank, i in enumerate(ranked):
                fused[i] += cfg.weight_bm25 / (cfg.rrf_k + rank + 1)
        return fused

    def _named_sections(self, query: str, chunks: np.ndarray) -> np.ndarray:
        """1 for each chunk whose section path (within its document) names one of the query's
        specifics: "GRR at IC4?" points at the "IC4" section, "pay in Chicago" at a section
        headed by Chicago. Headings are the documents' own index of what they cover."""
        out = np.zeros(len(chunks), dtype=np.float32)
        if self.vocabulary is None:
            return out
        keys = [s.key for s in self.vocabulary.specifics(query)]
        if not keys:
            return out
        # one pattern, read once per distinct path (postings share most section names), and
        # the paths list fetched once: `self._paths` in the loop went through pydantic's
        # attribute lookup per chunk, and this loop was 0.26 s of a 0.34 s question at 1,000
        # documents (benchmarks/bench_growth.py)
        pattern = re.compile("|".join(f"(?:{phrase_pattern(k)})" for k in keys))
        paths = self._paths
        named: dict[str, bool] = {}
        for i, c in enumerate(chunks.tolist()):
            path = paths[c]
            hit = named.get(path)
            if hit is None:
                hit = named[path] = pattern.search(path) is not None
            if hit:
                out[i] = 1.0
        return out

    def _holds_value(self, query: str, chunks: np.ndarray, dense: np.ndarray, fetch: int
                     ) -> np.ndarray | None:
        """1 for each leading candidate whose text holds a value of a kind the query asks for
        (a date for "deadline?", an amount for "how much does it pay?"). Only the chunks that
        lead on the dense side are read (a few times `fetch`), not every chunk in scope."""
        kinds = self.vocabulary.values_asked(query) if self.vocabulary is not None else []
        if not kinds or not chunks.size:
            return None
        out = np.zeros(len(chunks), dtype=np.float32)
        for i in np.argsort(-dense, kind="stable")[:_VALUE_CANDIDATES * fetch]:
            text = self.snapshot.chunks[self._chunk_ids[int(chunks[i])]]["text"]
            if any(kind.search(text) for kind in kinds):
                out[i] = 1.0
        return out

    def _prefer_specific(self, composite: np.ndarray, signals: Signals,
                         margin: float) -> np.ndarray:
        """A section overview yields to its own sub-sections when one scores within `margin`,
        unless the overview's own text (not its list of sub-section names) matches better
        than anything in them: then the overview itself holds the answer.

        Only to its own: against other sections the overview keeps its full score, so a broad
        question ("what are the challenges?") still gets the overview that lists them all.
        """
        # array operations over (overview, descendant) pairs in scope: a loop over every
        # overview of the corpus took 9 ms of a 45 ms question at 1,000 documents
        out = composite.copy()
        position = np.full(len(self._chunk_ids), -1, dtype=np.int64)
        position[signals.chunks] = np.arange(len(signals.chunks))
        over, under = position[self._child_pairs[:, 0]], position[self._child_pairs[:, 1]]
        both = (over >= 0) & (under >= 0)
        over, under = over[both], under[both]
        best = np.full(len(composite), -np.inf)
        np.maximum.at(best, over, composite[under].astype(np.float64))
        here = np.unique(over)
        yields = best[here] >= composite[here] - margin
        if signals.own is not None:  # the overview's own text matches better: it stays
            best_unit = np.full(len(composite), -np.inf)
            np.maximum.at(best_unit, over, signals.best_unit[under].astype(np.float64))
            yields &= ~(signals.own[here] > best_unit[here])
        here = here[yields]
        out[here] = np.minimum(composite[here], best[here] - 1e-4)
        signals.yielded = frozenset(int(c) for c in signals.chunks[here])
        return out

    def _document(self, chunk_id: str, score: float, relevance: float) -> Document:
        meta = self.snapshot.chunks[chunk_id]
        return Document(
            page_content=meta["text"],
            metadata={k: v for k, v in meta.items() if k != "text"}
            | {"score": round(score, 6), "relevance": round(relevance, 4),
               "chunk_ids": [chunk_id], "passage_id": chunk_id},
        )

    def _passage(self, members: list[int], best: int, score: float, relevance: float
                 ) -> Document:
        """The pieces of one section as one passage (`chunk_id` is the piece that matched)."""
        if len(members) == 1:
            return self._document(self._chunk_ids[members[0]], score, relevance)
        metas = [self.snapshot.chunks[self._chunk_ids[m]] for m in members]
        first = metas[0]
        ids = [self._chunk_ids[m] for m in members]
        return Document(
            page_content="\n".join(m["text"] for m in metas),
            metadata={k: v for k, v in self.snapshot.chunks[self._chunk_ids[best]].items()
                      if k != "text"}
            | {"line_start": min(int(m["line_start"]) for m in metas),
               "line_end": max(int(m["line_end"]) for m in metas),
               "score": round(score, 6), "relevance": round(relevance, 4),
               "chunk_ids": ids, "passage_id": f"{first['source']}::{first['section']}"},
        )

    def idf(self, scope: Scope = None) -> dict[str, float]:
        """BM25's idf over the chunks of `scope` (all for None), kept for the last scopes.

        A scoped question is about those documents: how rare a word is among other roles'
        documents must not change how much it weighs (at 1,000 documents, corpus-wide weights
        made questions answered on the role's own documents abstain)."""
        if scope is None:
            return self._idf
        with self._cache_lock:
            known = self._scoped_idf.get(scope)
        if known is not None:
            return known
        inside = np.zeros(len(self._chunk_ids), dtype=bool)
        inside[self.in_scope(scope)] = True
        frequency = {w: int(inside[p].sum()) for w, p in self._postings.items()}
        idf = _okapi_idf({w: f for w, f in frequency.items() if f}, int(inside.sum()))
        with self._cache_lock:
            if len(self._scoped_idf) >= SCOPES_KEPT:
                self._scoped_idf.pop(next(iter(self._scoped_idf)))
            self._scoped_idf[scope] = idf
        return idf

    def keyword_cover(self, query: str, documents: list[Document], scope: Scope = None) -> float:
        """The largest share of the query's words (weighted by BM25 idf over the documents of
        `scope`) that one passage holds in its text or section path; 0 for a query without
        content words."""
        terms = set(stems(query))
        if self._bm25 is None or not terms:
            return 0.0
        idf = self.idf(scope)
        rarest = max((float(v) for v in idf.values()), default=1.0)
        # a word no passage has is as rare as can be: it weighs the most
        weights = {t: max(float(idf[t]), 0.0) if t in idf else rarest for t in terms}
        total = sum(weights.values())
        if total <= 0:
            return 0.0
        best = 0.0
        for document in documents:
            meta = document.metadata
            have = set(stems(f"{within(meta.get('section', ''), meta.get('title', ''))} "
                             f"{document.page_content}"))
            best = max(best, sum(w for t, w in weights.items() if t in have) / total)
        return best

    def unit_scores(self, vector: Vector, units: Any = None) -> np.ndarray:
        """Cosine similarity of units (all, or the given indices) to a query embedding."""
        rows = self.snapshot.unit_rows
        if units is None:
            return (self.snapshot.vectors @ self._unit(vector))[rows]
        return self.snapshot.vectors[rows[np.asarray(units, dtype=np.int64)]] @ self._unit(vector)

    def _scored(self, q: np.ndarray, distinct: np.ndarray | None, rows: np.ndarray,
                indices: np.ndarray) -> np.ndarray:
        """Similarities of the units (or clauses) at `indices`, whose vectors are `rows` of the
        distinct vectors. Unscoped (`indices` all of them), `distinct` holds every distinct
        vector's score, computed once for units and clauses alike (a 1,000-document corpus:
        12,622 products, not 78,306), spread here to the rows; scoped, the rows of the scope's
        units are scored."""
        if distinct is not None:
            return distinct[rows]
        return self.snapshot.vectors[rows[indices]] @ q

    def units_of_chunks(self, chunk_ids: set[str], titles: bool = False) -> np.ndarray:
        """Indices of the units that belong to these chunks (and their section titles)."""
        wanted = np.array(sorted(self._index[c] for c in chunk_ids if c in self._index),
                          dtype=np.int64)
        mask = np.isin(self._unit_chunk, wanted)
        return np.flatnonzero(mask if titles else mask & self._is_body)

    def passages(self, documents: list[Document], query: str) -> list[Passage]:
        """The retrieved passages with their own units (section titles included) and each
        unit's similarity to the query, scored once here for whichever answerer runs next.
        A unit shared by two passages belongs to the first (higher-ranked) one."""
        ids = [set(passage_chunks(d)) for d in documents]
        units = self.units_of_chunks(set().union(*ids) if ids else set(), titles=True)
        scores: Any = self.unit_scores(self.embed(query), units) if len(units) else []
        out = [Passage(d) for d in documents]
        meta = self.snapshot.unit_meta
        texts = self.snapshot.unit_texts
        for i, score in zip(units, scores, strict=True):
            chunk = meta[int(i)]["chunk_id"]
            owner = next((p for p, chunks in zip(out, ids, strict=True) if chunk in chunks), None)
            if owner is not None:
                owner.units.append(PassageUnit(texts[int(i)], meta[int(i)], float(score)))
        return out

    @staticmethod
    def _unit(vector: Vector) -> np.ndarray:
        q = np.asarray(vector, dtype=np.float32)
        return q / max(float(np.linalg.norm(q)), 1e-9)


def _lists_facts(text: str, share: float) -> bool:
    """Whether at least `share` of a chunk's lines (three or more) are labelled facts."""
    lines = [line for line in text.splitlines() if line.strip()]
    facts = [line for line in lines if fact_label(line)]
    return len(lines) >= 3 and len(facts) >= share * len(lines)


def _in_scope(scope: Scope, table: dict[str, np.ndarray], total: int) -> np.ndarray:
    """Indices (of chunks, units or clauses) of the documents in `scope`; all for None."""
    if scope is None:
        return np.arange(total, dtype=np.int64)
    parts = [table[s] for s in sorted(scope) if s in table]
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def _okapi_idf(frequency: dict[str, int], total: int) -> dict[str, float]:
    """Okapi idf as rank_bm25 gave it (negative values floored at a quarter of the mean):
    keyword_cover weighs the question's words with it."""
    idf = {w: float(np.log(total - f + 0.5) - np.log(f + 0.5)) for w, f in frequency.items()}
    floor = 0.25 * (sum(idf.values()) / len(idf)) if idf else 0.0
    return {w: v if v >= 0 else floor for w, v in idf.items()}


def _positions(keys: list[str]) -> dict[str, np.ndarray]:
    """key -> indices where it occurs, in order."""
    out: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        out.setdefault(key, []).append(i)
    return {k: np.array(v, dtype=np.int64) for k, v in out.items()}


def _where(scope: Scope) -> dict[str, Any] | None:
    """Chroma's metadata filter for a document scope: a chunk row's `source` lists the
    documents of the chunks that share its vector (index._layout)."""
    if scope is None:
        return None
    each = [{"source": {"$contains": source}} for source in sorted(scope)]
    return each[0] if len(each) == 1 else {"$or": each}


def fuse(rankings: list[list[Document]], rrf_k: int, k: int) -> list[Document]:
    """Reciprocal-rank fusion of several ranked lists of the same chunks (best relevance kept)."""
    scores: dict[str, float] = {}
    best: dict[str, Document] = {}
    for ranking in rankings:
        for rank, document in enumerate(ranking):
            key = document.metadata.get("passage_id", document.metadata["chunk_id"])
            scores[key] = scores.get(key, 0.0) + 1.0 / (rrf_k + rank + 1)
            kept = best.get(key)
            if kept is None or document.metadata["relevance"] > kept.metadata["relevance"]:
                best[key] = document
    order = sorted(scores, key=lambda c: (-scores[c], -best[c].metadata["relevance"]))[:k]
    return [Document(page_content=best[c].page_content,
                     metadata=best[c].metadata | {"score": round(scores[c], 6)}) for c in order]
