"""Helpers the benchmarks share."""

from __future__ import annotations

import time
from typing import Any


class Counting:
    """The real embeddings, counting (and keeping) every text the model reads: whole texts and
    the chunk texts read once for late chunking (`embed_spans`) alike."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.texts: list[str] = []
        self.seconds = 0.0  # spent in the model's document encodes

    def _read(self, method: Any, texts: list[str], *args: Any) -> Any:
        """`method(texts, *args)` of the model, the texts counted and its time added up."""
        self.texts.extend(texts)
        started = time.perf_counter()
        try:
            return method(texts, *args)
        finally:
            self.seconds += time.perf_counter() - started

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._read(self.inner.embed_documents, texts)  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)

    def embed_spans(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> Any:
        return self._read(self.inner.embed_spans, texts, spans)


def pct(values: list[float], p: float) -> float:
    """The p-th percentile, linearly interpolated."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)
