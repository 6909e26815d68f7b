"""Retrieval: dense (Chroma) + bullet-level dense + BM25 keywords, fused by reciprocal rank.

`HybridRetriever` is a LangChain `BaseRetriever`, so it composes into runnable chains and
reports to callbacks. LangChain's EnsembleRetriever also fuses by reciprocal rank, but it drops
the scores and cannot share one query embedding between retrievers; abstention needs the
scores, and latency needs the single embedding, hence this small fusion of our own.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

from assistant.index import IndexSnapshot
from assistant.settings import Settings
from assistant.text import stems

log = logging.getLogger(__name__)


@dataclass
class Signals:
    """Per-chunk scores for one query, each a numpy array in the retriever's chunk order."""

    chunk: np.ndarray  # the chunk's own cosine similarity (Chroma)
    best_unit: np.ndarray  # best whole bullet/sentence
    best_part: np.ndarray  # best bullet or clause (what ranking uses)
    title: np.ndarray  # the section title
    keywords: np.ndarray  # BM25
    relevance: np.ndarray  # what abstention reads: max(chunk, best whole unit)
    fetch: int  # candidates each ranking contributes


class HybridRetriever(BaseRetriever):
    """Ranks the chunks of one index snapshot for a query string."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    snapshot: IndexSnapshot
    embeddings: Embeddings
    settings: Settings
    k: int = 5
    _bm25: Any = PrivateAttr(default=None)
    _vectorstore: Any = PrivateAttr(default=None)
    _chunk_ids: list[str] = PrivateAttr(default_factory=list)
    _unit_chunk: Any = PrivateAttr(default=None)
    _is_body: Any = PrivateAttr(default=None)
    _phrase_chunk: Any = PrivateAttr(default=None)
    _vectors: dict[str, list[float]] = PrivateAttr(default_factory=dict)
    _cache_lock: Any = PrivateAttr(default_factory=threading.Lock)
    _children: dict[int, Any] = PrivateAttr(default_factory=dict)

    def model_post_init(self, __context: Any) -> None:
        from langchain_chroma import Chroma
        from rank_bm25 import BM25Okapi

        snap = self.snapshot
        self._chunk_ids = list(snap.chunk_order)
        corpus = [stems(f"{snap.chunks[c]['section']} {snap.chunks[c]['text']}")
                  for c in self._chunk_ids]
        self._bm25 = BM25Okapi(corpus) if corpus else None
        self._vectorstore = Chroma(
            client=snap.client, collection_name=snap.chunk_collection,
            embedding_function=self.embeddings, create_collection_if_not_exists=False,
        )
        index = {c: i for i, c in enumerate(self._chunk_ids)}
        self._unit_chunk = np.array([index[m["chunk_id"]] for m in snap.unit_meta], dtype=np.int64)
        self._is_body = np.array([m["kind"] != "title" for m in snap.unit_meta], dtype=bool)
        self._phrase_chunk = np.array([index[c] for c in snap.phrase_chunks], dtype=np.int64)
        self._children = {}
        for i, c in enumerate(self._chunk_ids):
            if snap.chunks[c]["kind"] == "overview":
                top = (snap.chunks[c]["source"], snap.chunks[c]["top_section"])
                self._children[i] = np.array(
                    [j for j, d in enumerate(self._chunk_ids) if snap.chunks[d]["kind"] != "overview"
                     and (snap.chunks[d]["source"], snap.chunks[d]["top_section"]) == top],
                    dtype=np.int64)

    # ------------------------------------------------------------------------------------
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self.search(query, self.embed(query), self.k)

    def clear_cache(self) -> None:
        """Drop cached query embeddings."""
        with self._cache_lock:
            self._vectors.clear()

    def embed_many(self, texts: list[str]) -> list[list[float]]:
        """Embed several short texts in one model call, reusing cached vectors."""
        with self._cache_lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            for text, vector in zip(missing, self.embeddings.embed_documents(missing), strict=True):
                known[text] = vector
                self._remember(text, vector)
        return [known[t] for t in texts]

    def _remember(self, text: str, vector: list[float]) -> None:
        """Cache a vector (thread-safe; the server answers several questions at once)."""
        with self._cache_lock:
            if len(self._vectors) >= 1024:
                self._vectors.pop(next(iter(self._vectors)), None)
            self._vectors[text] = vector

    def embed(self, query: str) -> list[float]:
        """Embed a query once; the chain's later steps reuse the vector from a small cache."""
        with self._cache_lock:
            vector = self._vectors.get(query)
        if vector is None:
            vector = self.embeddings.embed_query(query)
            self._remember(query, vector)
        return vector

    def search(self, query: str, vector: list[float], k: int) -> list[Document]:
        """Top-k chunks for a query whose embedding is already known.

        Dense side: Chroma's chunk similarity, plus the best bullet (or clause of a long
        bullet) in the chunk and the section title (both from the index snapshot), summed on
        one cosine scale. Keyword side: BM25 over stems of section path and text. The two
        rankings meet in weighted reciprocal rank fusion.
        """
        cfg = self.settings
        if not self._chunk_ids:
            return []
        if cfg.retrieval == "dense":  # the naive baseline: Chroma's order, nothing else
            dense = self._vectorstore.similarity_search_by_vector_with_relevance_scores(vector, k=k)
            # despite its name this returns Chroma's cosine *distance*; similarity = 1 - d
            return [self._document(d.metadata["chunk_id"], 1.0 - float(s), 1.0 - float(s))
                    for d, s in dense]
        signals = self.signals(query, vector, max(cfg.fetch_k, k))
        fused = self.fuse_signals(signals, cfg, k)
        return [self._document(self._chunk_ids[i], float(fused[i]), float(signals.relevance[i]))
                for i in np.argsort(-fused, kind="stable")[:k] if fused[i] > 0]

    def signals(self, query: str, vector: list[float], fetch: int) -> Signals:
        """Every per-chunk score the ranking is made of (chunks in corpus order)."""
        cfg = self.settings
        n = len(self._chunk_ids)
        dense = self._vectorstore.similarity_search_by_vector_with_relevance_scores(
            vector, k=min(fetch, n))
        chunk_sim = {d.metadata["chunk_id"]: 1.0 - float(s) for d, s in dense}
        floor = min(chunk_sim.values()) if chunk_sim else 0.0
        chunk = np.array([chunk_sim.get(c, floor) for c in self._chunk_ids], dtype=np.float32)
        unit_scores = self.unit_scores(vector)
        best_unit = np.full(n, -1.0, dtype=np.float32)
        np.maximum.at(best_unit, self._unit_chunk[self._is_body], unit_scores[self._is_body])
        title = np.full(n, -1.0, dtype=np.float32)
        np.maximum.at(title, self._unit_chunk[~self._is_body], unit_scores[~self._is_body])
        # a bullet's best clause may stand in for the bullet when ranking, less a discount: a
        # few words match loosely. Relevance (which decides abstention) stays on whole bullets.
        best_part = best_unit.copy()
        if cfg.phrases and self._phrase_chunk.size:
            phrase_scores = self.snapshot.phrase_vectors @ self._unit(vector) - cfg.phrase_discount
            np.maximum.at(best_part, self._phrase_chunk, phrase_scores)
        terms = stems(query)
        keywords = (self._bm25.get_scores(terms) if self._bm25 is not None and terms
                    else np.zeros(n))
        return Signals(chunk, best_unit, best_part, title, np.asarray(keywords, dtype=np.float64),
                       np.maximum(chunk, best_unit), min(fetch, n))

    def fuse_signals(self, signals: Signals, cfg: Settings, k: int) -> np.ndarray:
        """Weighted reciprocal-rank fusion of the dense composite and the BM25 ranking."""
        composite = (cfg.weight_dense * signals.chunk + cfg.weight_units * signals.best_part
                     + cfg.weight_title * signals.title)
        composite = self._prefer_specific(composite, cfg.overview_penalty)
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

    def _prefer_specific(self, composite: np.ndarray, margin: float) -> np.ndarray:
        """A section overview yields to its own sub-sections when one scores within `margin`.

        Only to its own: against other sections the overview keeps its full score, so a broad
        question ("what are the challenges?") still gets the overview that lists them all.
        """
        out = composite.copy()
        for o, children in self._children.items():
            if children.size:
                best = float(composite[children].max())
                if best >= composite[o] - margin:
                    out[o] = min(composite[o], best - 1e-4)
        return out

    def _document(self, chunk_id: str, score: float, relevance: float) -> Document:
        meta = self.snapshot.chunks[chunk_id]
        return Document(
            page_content=meta["text"],
            metadata={k: v for k, v in meta.items() if k != "text"}
            | {"score": round(score, 6), "relevance": round(relevance, 4)},
        )

    def unit_scores(self, vector: list[float]) -> np.ndarray:
        """Cosine similarity of every unit (corpus order) to a query embedding."""
        return self.snapshot.unit_vectors @ self._unit(vector)

    @staticmethod
    def _unit(vector: list[float]) -> np.ndarray:
        q = np.asarray(vector, dtype=np.float32)
        return q / max(float(np.linalg.norm(q)), 1e-9)


def fuse(rankings: list[list[Document]], rrf_k: int, k: int) -> list[Document]:
    """Reciprocal-rank fusion of several ranked lists of the same chunks (best relevance kept)."""
    scores: dict[str, float] = {}
    best: dict[str, Document] = {}
    for ranking in rankings:
        for rank, document in enumerate(ranking):
            chunk_id = document.metadata["chunk_id"]
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (rrf_k + rank + 1)
            kept = best.get(chunk_id)
            if kept is None or document.metadata["relevance"] > kept.metadata["relevance"]:
                best[chunk_id] = document
    order = sorted(scores, key=lambda c: (-scores[c], -best[c].metadata["relevance"]))[:k]
    return [Document(page_content=best[c].page_content,
                     metadata=best[c].metadata | {"score": round(scores[c], 6)}) for c in order]
